// Package deploy checks the production deployment files with the parsers of the tools that read
// them, since no Docker engine or NATS cluster runs where the tests do.
package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/nats-io/nats-server/v2/server"
)

// required are the variables compose.yaml insists on; the check sets placeholders for them.
var required = []string{"POSTGRES_PASSWORD", "KIRJAAMO_PAYLOAD_KEYS", "PORTAL_URL", "CITIZEN_OIDC_ISSUER",
	"PORTAL_OIDC_CLIENT_SECRET", "OFFICE_URL", "STAFF_OIDC_ISSUER", "OFFICE_OIDC_CLIENT_SECRET", "SMTP_ADDR", "NATS_PLATFORM_PASSWORD"}

func TestComposeFileIsValid(t *testing.T) {
	for _, v := range required {
		t.Setenv(v, "placeholder")
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithOsEnv, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	names := project.ServiceNames()
	for _, want := range []string{"portal", "office", "orchestrator", "catalogue", "notifier", "postgres", "temporal", "nats-1", "nats-2", "nats-3"} {
		if !slices.Contains(names, want) {
			t.Errorf("compose.yaml has no service %s", want)
		}
	}
	for _, svc := range []string{"portal", "office", "orchestrator", "catalogue", "notifier"} {
		env := project.Services[svc].Environment
		if v := env["KIRJAAMO_NATS_REPLICAS"]; v == nil || *v != "3" {
			t.Errorf("%s does not run with JetStream replicas 3", svc)
		}
	}
}

func TestComposeRefusesMissingSecrets(t *testing.T) {
	for _, v := range required {
		os.Unsetenv(v)
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil {
		t.Fatal("compose.yaml loads without its secrets; they must be required")
	}
}

func TestNATSConfigIsValid(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	t.Setenv("NATS_PLATFORM_PASSWORD", "placeholder")
	opts, err := server.ProcessConfigFile(filepath.Join("nats", "nats.conf"))
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if !opts.JetStream {
		t.Error("nats.conf does not enable JetStream")
	}
	if len(opts.Routes) != 3 || opts.Cluster.Name != "kirjaamo" {
		t.Errorf("nats.conf is not a three-node cluster named kirjaamo: routes %v, name %q", opts.Routes, opts.Cluster.Name)
	}
}
