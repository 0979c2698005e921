package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"

	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
)

// released are the modules a register owner gets from kirjaamo.dev, at the version the test gives
// them, and where they are in the repository (doc.go, "Versions").
var released = []struct{ path, dir string }{
	{"kirjaamo.dev/contracts", "../../contracts"},
	{"kirjaamo.dev/adapters/sdk", "."},
}

const releasedVersion = "v0.1.0"

// ownerAdapter is a register's adapter as its owner writes it, in a module of their own: one file.
const ownerAdapter = `// Command test-invitations serves a register of event invitations, in memory.
package main

import (
	"context"
	_ "embed"
	"encoding/json"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

//go:embed declaration.json
var declaration []byte

type invitations struct{ decl contracts.Declaration }

func (r invitations) Declaration() contracts.Declaration { return r.decl }

func (r invitations) Operations() sdk.Operations { return sdk.Operations{Lookup: r.lookup} }

func (invitations) lookup(_ context.Context, q sdk.Query) ([]contracts.Record, error) {
	if email, _ := q.Identifier(contracts.IdentifierEmail); email != "` + knownEmail + `" {
		return nil, nil
	}
	return []contracts.Record{{Category: "event invitations", Fields: map[string]string{"event": "Webinar: healthy heart"}}}, nil
}

func main() {
	var r invitations
	if err := json.Unmarshal(declaration, &r.decl); err != nil {
		panic(err)
	}
	sdk.Main(r)
}
`

// TestAnOwnerOutsideTheRepositoryGetsTheSDKAtAVersion plays a register owner who has nothing of the
// repository: from a module proxy that serves kirjaamo.dev/contracts and kirjaamo.dev/adapters/sdk
// at v0.1.0 as zipped from the repository's directories, and the public proxy for the rest, `go get
// kirjaamo.dev/adapters/sdk@v0.1.0` and `go build` an adapter of one file, in a module of its own
// with no workspace. So the SDK's go.mod requires real versions, its replace directives are ignored
// as they should be, and it needs no module of the platform's (devkit, services) that no one serves.
// The adapter built then passes the conformance kit.
func TestAnOwnerOutsideTheRepositoryGetsTheSDKAtAVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an adapter in a module of its own with the go command, on a module cache of its own")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	proxy := t.TempDir()
	for _, m := range released {
		publish(t, proxy, module.Version{Path: m.path, Version: releasedVersion}, m.dir)
	}
	sharedCache, err := exec.Command(goCmd, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	owner := t.TempDir()
	env := append(os.Environ(),
		"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod -modcacherw",
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(strings.TrimSpace(string(sharedCache)), "cache", "download"))+",https://proxy.golang.org",
		// kirjaamo.dev's modules here are the test's own zips, which no checksum database knows.
		"GONOSUMDB=kirjaamo.dev", "GOPRIVATE=", "GONOPROXY=",
		// A module cache of its own: the shared one would keep the first v0.1.0 it saw for ever, and
		// so test an older SDK than the repository's.
		"GOMODCACHE="+filepath.Join(t.TempDir(), "modcache"))
	goRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Dir, cmd.Env = owner, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	decl := declaration(t)
	decl.Operations = []contracts.Operation{contracts.OpLookup}
	declJSON, _ := json.Marshal(decl)
	for name, content := range map[string][]byte{"main.go": []byte(ownerAdapter), "declaration.json": declJSON} {
		if err := os.WriteFile(filepath.Join(owner, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goRun("mod", "init", "example.org/test-invitations")
	goRun("get", "kirjaamo.dev/adapters/sdk@"+releasedVersion)
	goRun("build", "-o", "adapter", ".")

	requirements := goRun("list", "-m", "all")
	for _, want := range []string{"kirjaamo.dev/adapters/sdk " + releasedVersion, "kirjaamo.dev/contracts " + releasedVersion} {
		if !strings.Contains(requirements, want+"\n") {
			t.Errorf("the owner's module does not have %s:\n%s", want, requirements)
		}
	}
	if strings.Contains(requirements, "kirjaamo.dev/devkit") || strings.Contains(requirements, "kirjaamo.dev/services") {
		t.Errorf("the owner's module graph holds a module of the platform's:\n%s", requirements)
	}

	srv := embeddednats.Start(t)
	report, err := conformance.Check(t.Context(), conformance.Config{NATSURL: srv.ClientURL(), RegisterID: decl.RegisterID,
		Known:   conformance.Subject{Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: knownEmail}}},
		Timeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler),
		Adapter: func(ctx context.Context) error {
			return runProgram(ctx, t, filepath.Join(owner, "adapter"), srv.ClientURL())
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		if c.Outcome == conformance.Fail {
			t.Errorf("%s: %s", c.Name, c.Message)
		}
	}
	if c, _ := report.Find(conformance.CheckKnownSubject); c.Outcome != conformance.Pass {
		t.Errorf("known-subject: %+v", c)
	}
}

// publish puts a module version, zipped from dir, into a module proxy in the file system, laid out
// as the GOPROXY protocol has it: <module>/@v/list, .info, .mod and .zip.
func publish(t *testing.T, proxy string, mv module.Version, dir string) {
	t.Helper()
	escaped, err := module.EscapePath(mv.Path)
	if err != nil {
		t.Fatal(err)
	}
	at := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": mv.Version, "Time": time.Now().UTC()})
	for name, content := range map[string][]byte{"list": []byte(mv.Version + "\n"), mv.Version + ".info": info, mv.Version + ".mod": goMod} {
		if err := os.WriteFile(filepath.Join(at, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(at, mv.Version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := zip.CreateFromDir(f, mv, dir); err != nil {
		t.Fatalf("zip %s: %v", mv, err)
	}
}

// runProgram runs an adapter's program until ctx ends, then stops it with SIGTERM, as a supervisor
// would; a clean exit after the stop is no error.
func runProgram(ctx context.Context, t *testing.T, program, natsURL string) error {
	cmd := exec.CommandContext(ctx, program)
	cmd.Env = append(os.Environ(), "KIRJAAMO_NATS_URL="+natsURL, "KIRJAAMO_ADAPTER_ACK_WAIT=5s")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second // then killed
	err := cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return nil
	}
	if cmd.ProcessState != nil {
		return errors.New(program + ": " + cmd.ProcessState.String())
	}
	return err
}
