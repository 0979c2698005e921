package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifests are the objects of deploy/kubernetes, each decoded strictly into its Kubernetes API type:
// a field the API does not have, or a value of the wrong type, fails.
type manifests struct {
	deployments []appsv1.Deployment
	jobs        []batchv1.Job
	cronJobs    []batchv1.CronJob
	budgets     []policyv1.PodDisruptionBudget
	policies    []networkingv1.NetworkPolicy
	others      int
}

func readManifests(t *testing.T) manifests {
	t.Helper()
	kustomization, err := os.ReadFile(filepath.Join("kubernetes", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(kustomization, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not among kustomization.yaml's resources", base)
		}
	}
	var m manifests
	for _, name := range k.Resources {
		content, err := os.ReadFile(filepath.Join("kubernetes", name))
		if err != nil {
			t.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(content)))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var target any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				m.deployments = append(m.deployments, appsv1.Deployment{})
				target = &m.deployments[len(m.deployments)-1]
			case "batch/v1 Job":
				m.jobs = append(m.jobs, batchv1.Job{})
				target = &m.jobs[len(m.jobs)-1]
			case "batch/v1 CronJob":
				m.cronJobs = append(m.cronJobs, batchv1.CronJob{})
				target = &m.cronJobs[len(m.cronJobs)-1]
			case "policy/v1 PodDisruptionBudget":
				m.budgets = append(m.budgets, policyv1.PodDisruptionBudget{})
				target = &m.budgets[len(m.budgets)-1]
			case "networking.k8s.io/v1 NetworkPolicy":
				m.policies = append(m.policies, networkingv1.NetworkPolicy{})
				target = &m.policies[len(m.policies)-1]
			case "v1 ConfigMap":
				target, m.others = &corev1.ConfigMap{}, m.others+1
			case "v1 Service":
				target, m.others = &corev1.Service{}, m.others+1
			default:
				t.Fatalf("%s: %s %s is not a kind this test knows: add it", name, meta.APIVersion, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, target); err != nil {
				t.Errorf("%s: %s: %v", name, meta.Kind, err)
			}
		}
	}
	return m
}

// TestKubernetesManifests decodes every manifest strictly, and checks what a deployment promises:
// every service and adapter probed on /healthz and /readyz, kept up by a disruption budget, with its
// secrets as files and none in its environment; the platform's orchestrators more than one; an
// adapter able to reach NATS and nothing of the platform.
func TestKubernetesManifests(t *testing.T) {
	m := readManifests(t)
	var names []string
	for _, d := range m.deployments {
		names = append(names, d.Name)
		spec := d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", d.Name, len(spec.Containers))
			continue
		}
		c := spec.Containers[0]
		if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s has no liveness probe on /healthz", d.Name)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			t.Errorf("%s has no readiness probe on /readyz", d.Name)
		}
		if !slices.ContainsFunc(m.budgets, func(b policyv1.PodDisruptionBudget) bool {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			return err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) && b.Spec.MinAvailable != nil
		}) {
			t.Errorf("%s has no disruption budget", d.Name)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("%s runs fewer than two replicas: a disruption budget of one would block every drain", d.Name)
		}
		checkSecretsAreFiles(t, d.Name, spec)
	}
	for _, j := range m.jobs {
		checkSecretsAreFiles(t, j.Name, j.Spec.Template.Spec)
	}
	for _, j := range m.cronJobs {
		spec := j.Spec.JobTemplate.Spec.Template.Spec
		checkSecretsAreFiles(t, j.Name, spec)
		if j.Name == "audit-verify" && !slices.Contains(spec.Containers[0].Args, "-push") {
			t.Error("the record's verification does not push its outcome for the alerts")
		}
	}
	for _, want := range []string{"portal", "office", "orchestrator", "catalogue", "notifier"} {
		if !slices.Contains(names, want) {
			t.Errorf("no Deployment %s", want)
		}
	}
	if len(m.jobs) == 0 || m.jobs[0].Spec.Template.Spec.Containers[0].Args[0] != "migrate" {
		t.Error("no Job runs kirjaamo migrate")
	}

	// Network: everything is denied unless allowed, and an adapter is allowed NATS and DNS only.
	adapter := labels.Set{"kirjaamo.dev/role": "adapter", "kirjaamo.dev/register": "clinic-event-invitations"}
	var denyAll bool
	for _, p := range m.policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
		if sel.Empty() && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 && len(p.Spec.PolicyTypes) == 2 {
			denyAll = true
			continue
		}
		if !sel.Matches(adapter) {
			continue
		}
		for _, rule := range p.Spec.Egress {
			if len(rule.To) == 0 {
				t.Errorf("policy %s lets an adapter reach anywhere", p.Name)
			}
			for _, peer := range rule.To {
				switch {
				case peer.IPBlock != nil && p.Name != "kirjaamo-adapters":
					// the register's own store, named by its owner
				case peer.PodSelector != nil && peer.NamespaceSelector == nil:
					if peer.PodSelector.MatchLabels["app.kubernetes.io/name"] != "nats" || len(peer.PodSelector.MatchExpressions) > 0 {
						t.Errorf("policy %s lets an adapter reach pods %v, not NATS", p.Name, peer.PodSelector)
					}
				case peer.NamespaceSelector != nil && peer.PodSelector != nil && peer.PodSelector.MatchLabels["k8s-app"] == "kube-dns":
					if !slices.ContainsFunc(rule.Ports, func(port networkingv1.NetworkPolicyPort) bool { return port.Port.IntValue() == 53 }) ||
						slices.ContainsFunc(rule.Ports, func(port networkingv1.NetworkPolicyPort) bool { return port.Port.IntValue() != 53 }) {
						t.Errorf("policy %s lets an adapter reach DNS on other ports than 53", p.Name)
					}
				default:
					t.Errorf("policy %s lets an adapter reach %+v", p.Name, peer)
				}
			}
		}
	}
	if !denyAll {
		t.Error("no policy denies what the others do not allow")
	}
}

// checkSecretsAreFiles: nothing secret is in a container's environment; Secrets are mounted as
// read-only files, and a _FILE variable names each.
func checkSecretsAreFiles(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	mounted := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			mounted[v.Name] = true
		}
	}
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				t.Errorf("%s: %s comes from a Secret into the environment, not as a file", name, e.Name)
			}
			for _, secret := range []string{"PASSWORD", "SECRET", "TOKEN", "KEYS", "DATABASE_URL"} {
				if strings.Contains(e.Name, secret) && !strings.HasSuffix(e.Name, "_FILE") {
					t.Errorf("%s: %s is a secret in the environment; name its file with %s_FILE", name, e.Name, e.Name)
				}
			}
		}
		for _, from := range c.EnvFrom {
			if from.SecretRef != nil {
				t.Errorf("%s: a Secret is poured into the environment", name)
			}
		}
		for _, vm := range c.VolumeMounts {
			if mounted[vm.Name] && !vm.ReadOnly {
				t.Errorf("%s: the secret %s is mounted writable", name, vm.Name)
			}
		}
	}
}
