package js_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
)

// ainoCode is the identity code of Aino, a demo person (adapters/demo/people.go) whom the example
// register holds data on.
const ainoCode = "150385-9013"

// TestJavaScriptAdapterPassesTheConformanceKit runs the kit that register owners run against the
// example JavaScript adapter, started as `node index.mjs` on a NATS server of the test's own. The kit
// runs the adapter itself, so it can stop it (SIGTERM) in its graceful-stop check: every check runs,
// and every one must pass, large-result (a sealed package) and cancellation (in the effect record)
// among them.
func TestJavaScriptAdapterPassesTheConformanceKit(t *testing.T) {
	node := needNode(t)
	installModules(t)
	srv := natstest.New(t)
	report, err := conformance.Check(t.Context(), conformance.Config{
		NATSURL: srv.ClientURL(), RegisterID: "example-js-register",
		Known:   conformance.Subject{Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: ainoCode}}},
		Timeout: 10 * time.Second, AnnounceTimeout: 30 * time.Second,
		Logger:  slog.New(slog.DiscardHandler),
		Adapter: func(ctx context.Context) error { return runNode(ctx, t, node, srv.ClientURL()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		switch {
		case c.Outcome == conformance.Pass:
			t.Logf("PASS %s: %s", c.Name, c.Message)
		case c.Outcome == conformance.Skip && c.Name == conformance.CheckProcessingEvents:
			// The example keeps no log of processing: the kit has nothing of it to judge.
			t.Logf("SKIP %s: %s", c.Name, c.Message)
		default:
			t.Errorf("%s %s: %s", c.Outcome, c.Name, c.Message)
		}
	}
	want := []string{conformance.CheckDeclaration, conformance.CheckUnknownSubject, conformance.CheckKnownSubject,
		conformance.CheckPastDeadline, conformance.CheckInvalidTask, conformance.CheckLargeResult, conformance.CheckCancellation,
		conformance.CheckEffectOnce, conformance.CheckRefusal, conformance.CheckGracefulStop, conformance.CheckResultsValid, conformance.CheckAcknowledged,
		conformance.CheckProcessingEvents}
	for _, name := range want {
		if _, ok := report.Find(name); !ok {
			t.Errorf("the kit made no %s check", name)
		}
	}
	if len(report.Checks) != len(want) {
		t.Errorf("the kit made %d checks, want %d", len(report.Checks), len(want))
	}
}

// TestSealingMatchesTheWorkedExample runs sealed.test.mjs under `node --test`: the JavaScript sealing
// of packages must reproduce contracts/sealed/testdata/vector.json byte for byte from its fixed keys,
// open it again, and refuse a changed, cut-off, reordered or misnamed package.
func TestSealingMatchesTheWorkedExample(t *testing.T) {
	node := needNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "sealed.test.mjs").CombinedOutput()
	t.Logf("node --test sealed.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node --test sealed.test.mjs: %v", err)
	}
}

// needNode returns the path of node, or skips the test where Node.js is not installed (outside CI).
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node is not installed: the JavaScript example adapter cannot run (in CI this is a failure)")
		}
		t.Fatal("node is not installed, and CI is set: install Node.js 20 or newer to check the JavaScript example adapter")
	}
	return node
}

// installModules runs `npm ci` when node_modules is missing, so that CI needs nothing but Node.js.
func installModules(t *testing.T) {
	if testing.Short() {
		t.Skip("installs npm packages; skipped by -short (make test-short)")
	}
	t.Helper()
	if _, err := os.Stat("node_modules/nats/package.json"); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not: run `npm ci` in adapters/examples/js, or install npm")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in adapters/examples/js failed (%v); it needs the npm registry or a cache:\n%s", err, out)
	}
}

// runNode runs the adapter, with env added to its environment, until ctx ends, then sends it SIGTERM,
// as a supervisor would, and waits for its drain. A clean exit after the stop is no error.
func runNode(ctx context.Context, t *testing.T, node, natsURL string, env ...string) error {
	cmd := exec.CommandContext(ctx, node, "index.mjs")
	cmd.Env = append(append(os.Environ(), "KIRJAAMO_NATS_URL="+natsURL), env...)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second // then killed
	err := cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return nil
	}
	if cmd.ProcessState != nil {
		return errors.New("node index.mjs: " + cmd.ProcessState.String())
	}
	return err
}

// TestRefusedDeclarationStopsTheAdapter: a catalogue that refuses the declaration stops the adapter
// with a non-zero exit and the catalogue's reason, rather than serving tasks under a refused one.
func TestRefusedDeclarationStopsTheAdapter(t *testing.T) {
	node := needNode(t)
	installModules(t)
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	refusal, _ := json.Marshal(contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrDeclarationRefused, "purposes[0].retention: too short")})
	if _, err := nc.Subscribe(contracts.AnnounceSubject("example-js-register"), func(m *nats.Msg) { _ = m.Respond(refusal) }); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "index.mjs")
	cmd.Env = append(os.Environ(), "KIRJAAMO_NATS_URL="+srv.ClientURL())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the adapter ended with %v after its declaration was refused, want exit status 1; output:\n%s", err, out)
	}
	for _, want := range []string{"refused the declaration", "declaration_refused", "purposes[0].retention"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the adapter's output does not say %q:\n%s", want, out)
		}
	}
}
