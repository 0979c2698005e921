package cli

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
)

const ainoCode = "150385-9013" // a demo person's code, in the test range

// processingLog is the Kanta processing log's declaration over one entry in memory; lenient says
// whether it answers a person it does not know with no_data, as it should, or with an error.
type processingLog struct {
	decl    contracts.Declaration
	lenient bool
}

func (r processingLog) Declaration() contracts.Declaration { return r.decl }

func (r processingLog) Operations() sdk.Operations { return sdk.Operations{Lookup: r.lookup} }

func (r processingLog) lookup(_ context.Context, q sdk.Query) ([]contracts.Record, error) {
	if code, _ := q.Identifier(contracts.IdentifierPersonalIdentityCode); code == ainoCode {
		return []contracts.Record{{Category: "processing log", Fields: map[string]string{"organisation": "Apteekki Esimerkki"}}}, nil
	}
	if r.lenient {
		return nil, nil
	}
	return nil, &contracts.Error{Code: contracts.ErrInternal, Message: "no such person"}
}

// startAdapter runs the register's adapter beside the command, as its owner would in another terminal.
func startAdapter(t *testing.T, url string, reg sdk.Register) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond) // after the check has started: the SDK would retry in 1 s anyway
		_ = sdk.Run(ctx, reg, sdk.Config{NATSURL: url, Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestAdapterCheck(t *testing.T) {
	t.Setenv("KIRJAAMO_LOG_LEVEL", "error")
	decl, err := readDeclaration(demoDeclarations + "kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	args := func(url string) []string {
		return []string{"adapter", "check", "--nats", url, "--register", decl.RegisterID,
			"--known", "personal_identity_code=" + ainoCode, "--timeout", "5s", "--announce-timeout", "10s"}
	}

	t.Run("passes", func(t *testing.T) {
		srv := natstest.New(t)
		startAdapter(t, srv.ClientURL(), processingLog{decl: *decl, lenient: true})
		code, out, stderr := kirjaamo(t, args(srv.ClientURL())...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, stderr)
		}
		for _, want := range []string{"PASS declaration:", "PASS unknown-subject:", "PASS known-subject:", "PASS large-result:", "PASS cancellation:"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("fails with what to fix", func(t *testing.T) {
		srv := natstest.New(t)
		startAdapter(t, srv.ClientURL(), processingLog{decl: *decl})
		code, out, stderr := kirjaamo(t, args(srv.ClientURL())...)
		if code != 1 || !strings.Contains(stderr, "1 of 13 checks") {
			t.Fatalf("exit %d, stderr %q; want 1 naming one failed check\n%s", code, stderr, out)
		}
		var failures []string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "FAIL ") {
				failures = append(failures, line)
			}
		}
		if len(failures) != 1 || !strings.HasPrefix(failures[0], "FAIL unknown-subject:") || !strings.Contains(failures[0], "answer status no_data") {
			t.Errorf("failure lines: %q; want one for unknown-subject saying to answer no_data", failures)
		}
	})

	for _, bad := range [][]string{
		{"adapter"},
		{"adapter", "check", "--register", "kanta-processing-log"},
		{"adapter", "check", "--nats", "nats://127.0.0.1:1", "--register", "x", "--known", "personal_identity_code=150385-9014"},
		{"adapter", "check", "--nats", "nats://127.0.0.1:1", "--register", "x", "--known", "hetu"},
	} {
		if code, _, stderr := kirjaamo(t, bad...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", bad, code, stderr)
		}
	}
}
