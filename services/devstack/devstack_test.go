package devstack

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/logbuf"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/workflows/request"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer = logbuf.Buffer // what the code under test logged

func startStack(t *testing.T, dir string, logs *syncBuffer) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole platform on its servers; skipped by -short (make test-short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{DataDir: dir, FastPostgres: true, Limits: TestLimits, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shared is the one platform most of the package's tests share: starting a platform takes seconds,
// and the tests do not disturb each other on it (each its own request, or its own register version).
// A test that restarts the platform, replaces a register, or spends a person's one-time codes starts
// its own.
var shared struct {
	once  sync.Once
	stack *Stack
	dir   string
	logs  *syncBuffer
	err   error
}

// sharedStack returns the shared platform, starting it for the first test that asks.
func sharedStack(t *testing.T) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole platform on its servers; skipped by -short (make test-short)")
	}
	shared.once.Do(func() {
		shared.logs = &syncBuffer{}
		if shared.dir, shared.err = os.MkdirTemp("", "kirjaamo-devstack-"); shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.stack, shared.err = Start(ctx, Config{DataDir: shared.dir, FastPostgres: true, Limits: TestLimits,
			Logger: slog.New(slog.NewTextHandler(shared.logs, nil))})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.stack
}

// TestMain stops the shared platform after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stack != nil {
		shared.stack.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// waitStatus polls the case store until the case reaches a status.
func waitStatus(t *testing.T, s *Stack, id string, status request.Status) cases.Case {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := s.Platform.Cases.Case(context.Background(), id)
		if err == nil && c.Status == status {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s never reached %s (last: %+v, %v)", id, status, c.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWorkflowStatus waits until the store and then the workflow have the case in status: the
// store is written by the step's activity before the workflow takes the step, and the workflow's
// updates are refused out of its turn.
func waitWorkflowStatus(t *testing.T, s *Stack, id string, status request.Status) cases.Case {
	t.Helper()
	c := waitStatus(t, s, id, status)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Platform.Requests.State(context.Background(), id)
		if err == nil && st.Status == status {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workflow of %s never reached %s (last: %s, %v)", id, status, st.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestACaseSurvivesARestart is `make dev`, Ctrl-C and `make dev` again: the case is still there,
// its workflow still open, and it goes on to its reply.
func TestACaseSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	s := startStack(t, dir, logs)

	aino := demo.People[0]
	id := "0195d5c8-8d3e-7c1a-9f00-00000000a1a1"
	in := request.Input{RequestID: id, ReceivedAt: time.Now().UTC(), Channel: request.ChannelAPI,
		Request: contracts.SubmitRequest{Right: contracts.RightAccess, Language: "en", ContactEmail: aino.Email},
		Subject: portal.SubjectOf(&oidclogin.Identity{Subject: aino.Subject, Name: aino.Name(), Email: aino.Email,
			PersonalIdentityCode: aino.PersonalIdentityCode, ACR: "http://ftn.ficora.fi/2017/loa3"})}
	if err := s.Platform.Requests.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	c := waitStatus(t, s, id, "in_review")
	if c.Deadline.IsZero() {
		t.Fatal("the case has no deadline")
	}
	s.Stop()

	s = startStack(t, dir, logs)
	defer s.Stop()
	if c := waitWorkflowStatus(t, s, id, "in_review"); c.SubjectName != aino.Name() {
		t.Fatalf("after the restart the case is %+v", c)
	}
	desc, err := s.Platform.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil || desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after the restart the workflow is not running: %v, %v", desc, err)
	}
	st, err := s.Platform.Requests.Approve(context.Background(), id, request.Approval{Clerk: "Kaisa Kirjaaja"})
	if err != nil || st.Status != request.StatusReplied {
		t.Fatalf("approval after restart: %+v, %v", st, err)
	}
	waitStatus(t, s, id, "replied")
	regs, err := s.Platform.Cases.Registers(context.Background(), id)
	if err != nil || len(regs) != 6 {
		t.Fatalf("the case has %d registers, want the 6 demo registers (%v)", len(regs), err)
	}
	opened := ""
	for _, r := range regs {
		if len(r.Outcome) == 0 {
			t.Errorf("register %s has no concluded outcome", r.RegisterID)
		}
		opened += string(r.Result)
	}
	// What the registers returned on Aino is sealed in the database, and opens for the platform.
	var atRest string
	if err := s.Platform.DB.Pool.QueryRow(context.Background(), `SELECT string_agg(result::text, ' ') FROM case_registers WHERE request_id = $1`,
		id).Scan(&atRest); err != nil {
		t.Fatal(err)
	}
	const held = "Esimerkkilän terveyskeskus" // in Aino's Kanta processing log
	if !strings.Contains(opened, held) || strings.Contains(atRest, held) {
		t.Errorf("the registers' answers: opened holds %q: %v; kept in clear: %v", held, strings.Contains(opened, held), strings.Contains(atRest, held))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := s.Platform.Outbox.Mailbox(context.Background(), 10)
		// The receipt, and the notice that the reply is ready.
		if err == nil && len(msgs) == 2 && msgs[0].Recipient == aino.Email && msgs[1].Recipient == aino.Email {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subject was not sent the receipt and told the reply is ready: %v, %v", msgs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, secret := range []string{aino.PersonalIdentityCode, aino.Name(), aino.Email} {
		if bytes.Contains(logs.Bytes(), []byte(secret)) {
			t.Errorf("the log holds personal data: %q", secret)
		}
	}
	history := rawHistory(t, s, id)
	assertNoPersonalData(t, history, aino.PersonalIdentityCode, aino.Name(), aino.FamilyName, aino.Email)
	saveForReplay(t, s, dir, history)
}

func openRegisters(t *testing.T, s *Stack) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), s.RegistersURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
