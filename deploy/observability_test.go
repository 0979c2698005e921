package deploy

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// servedMetrics are the metric names the platform's and the adapter SDK's code declare: every
// "kirjaamo_..." string literal in their Go source, so that a renamed metric fails here rather than
// silently in a dashboard.
func servedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	literal := regexp.MustCompile(`"(kirjaamo_[a-z0-9_]+)"`)
	served := map[string]bool{}
	for _, root := range []string{"../services", "../adapters"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			for _, m := range literal.FindAllSubmatch(src, -1) {
				served[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return served
}

// checkMetrics parses a PromQL expression and checks each metric it reads is served: one of ours, a
// histogram's series of one of ours, the Temporal SDK's (temporal_...), or Prometheus' own up.
func checkMetrics(t *testing.T, where, expr string, served map[string]bool) {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !served[name] && !served[base] && !strings.HasPrefix(name, "temporal_") && name != "up" {
			t.Errorf("%s reads %s, which no service serves", where, name)
		}
		return nil
	})
}

// TestAlertRulesParse reads the alert rules with Prometheus' own rule parser, strictly (no unknown
// field), checks that every expression reads metrics the platform serves, and that each alert the
// operations issue asks for is there.
func TestAlertRulesParse(t *testing.T) {
	content, err := os.ReadFile(filepath.Join("prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.Default())
	for _, err := range errs {
		t.Errorf("alerts.yaml: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	served := servedMetrics(t)
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkMetrics(t, "alert "+r.Alert, r.Expr, served)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no severity or no summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"KirjaamoDeadlineAtRisk", "KirjaamoRegisterSilent", "KirjaamoOutboxStuck", "KirjaamoNeedsAttention",
		"KirjaamoRecordVerificationFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yaml has no alert %s", want)
		}
	}
}

// TestDashboardQueriesParse: every panel of the Grafana dashboard queries with PromQL that parses
// and reads metrics the platform serves.
func TestDashboardQueriesParse(t *testing.T) {
	content, err := os.ReadFile(filepath.Join("grafana", "kirjaamo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(content, &dashboard); err != nil {
		t.Fatalf("kirjaamo.json: %v", err)
	}
	if dashboard.UID == "" || len(dashboard.Panels) == 0 {
		t.Fatal("kirjaamo.json has no uid or no panels")
	}
	served := servedMetrics(t)
	// Grafana's variables stand in for a duration or a label value; the parser sees a plain one.
	variables := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$service", "portal", "$register", "clinic")
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, target := range p.Targets {
			checkMetrics(t, "panel "+p.Title, variables.Replace(target.Expr), served)
		}
	}
}
