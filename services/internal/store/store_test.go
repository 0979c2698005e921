package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/devkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) *DB {
	t.Helper()
	url := pgtest.New(t)
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	// Opening again, as a second process would, finds the schema up to date.
	again, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	again.Close()
	return db
}

const requestID = "0195d5c8-8d3e-7c1a-9f00-000000000001"

func newCase() Case {
	return Case{RequestID: requestID, ReceivedAt: time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC), Channel: "web", Right: "access",
		Language: "fi", SubjectID: "demo-aino", SubjectName: "Aino Virtanen", IdentityMethod: "oidc", IdentityLevel: "high",
		Identifiers: json.RawMessage(`[{"type":"email","value":"aino@example.fi"}]`), ContactEmail: "aino@example.fi",
		Status: "received", Deadline: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), InternalTarget: time.Date(2026, 5, 29, 0, 0, 0, 0, time.UTC)}
}

func TestReceiptIsRecordedOnce(t *testing.T) {
	db, ctx := open(t), context.Background()
	for range 3 {
		if err := db.RecordReceipt(ctx, newCase()); err != nil {
			t.Fatal(err)
		}
	}
	trail, err := db.AuditTrail(ctx, requestID)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) != 1 || trail[0].Action != "received" {
		t.Fatalf("record after three receipts of one request = %+v, want one 'received'", trail)
	}
	c, err := db.Case(ctx, requestID)
	if err != nil || c.SubjectName != "Aino Virtanen" || !c.Deadline.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("case = %+v, %v", c, err)
	}
	if _, err := db.Case(ctx, "0195d5c8-8d3e-7c1a-9f00-000000000002"); err != ErrNotFound {
		t.Errorf("unknown case: err = %v, want ErrNotFound", err)
	}
}

func TestResultsPlansAndReply(t *testing.T) {
	db, ctx := open(t), context.Background()
	if err := db.RecordReceipt(ctx, newCase()); err != nil {
		t.Fatal(err)
	}
	first := []CaseRegister{
		{RegisterID: "koronavilkku", DeclarationDigest: "sha256:a", Plan: json.RawMessage(`{"n":1}`), Awaited: true},
		{RegisterID: "clinic", DeclarationDigest: "sha256:a", Plan: json.RawMessage(`{"n":1}`), Awaited: true},
		{RegisterID: "kela-web-statistics", DeclarationDigest: "sha256:a", Plan: json.RawMessage(`{"n":1}`)},
	}
	second := []CaseRegister{{RegisterID: "koronavilkku", DeclarationDigest: "sha256:b", Plan: json.RawMessage(`{"n":2}`)}}
	if err := db.SavePlan(ctx, requestID, first); err != nil {
		t.Fatal(err)
	}
	if err := db.SavePlan(ctx, requestID, second); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDispatched(ctx, requestID, []string{"koronavilkku"}); err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		register      string
		wantRemaining int
	}{{"koronavilkku", 1}, {"koronavilkku", 1}, {"clinic", 0}, {"clinic", 0}} {
		remaining, err := db.RecordResult(ctx, requestID, step.register, "found", json.RawMessage(`{"status":"found"}`))
		if err != nil || remaining != step.wantRemaining {
			t.Fatalf("RecordResult #%d (%s) = %d, %v; want %d awaited registers left", i+1, step.register, remaining, err, step.wantRemaining)
		}
	}
	regs, err := db.CaseRegisters(ctx, requestID)
	if err != nil || len(regs) != 3 {
		t.Fatalf("registers = %v, %v", regs, err)
	}
	if k := regs[2]; k.RegisterID != "koronavilkku" || k.DeclarationDigest != "sha256:a" || k.DispatchedAt == nil || k.ResultStatus != "found" {
		t.Errorf("register = %+v: the first plan must stand, dispatched and answered", k)
	}
	if err := db.SaveReview(ctx, requestID, map[string]json.RawMessage{"koronavilkku": json.RawMessage(`{"code":"granted"}`)}); err != nil {
		t.Fatal(err)
	}
	notice := &Notification{DedupKey: "reply-ready/" + requestID, Kind: "reply_ready", Recipient: "aino@example.fi", Language: "fi"}
	for range 2 {
		if err := db.Reply(ctx, requestID, "Kaisa", "ok", notice, []RecipientNotice{{RegisterID: "koronavilkku", Recipient: "EFGS"}}); err != nil {
			t.Fatal(err)
		}
	}
	var outbox int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil || outbox != 1 {
		t.Fatalf("outbox has %d messages after a retried reply, want 1 (%v)", outbox, err)
	}
	sent, err := db.SendPending(ctx, 10, func(ctx context.Context, tx pgx.Tx, m OutboxMessage) error {
		return CaptureInMailbox(ctx, tx, m.ID, MailboxMessage{Channel: "email", Recipient: m.Recipient, Subject: "s", Body: "b"})
	})
	if err != nil || sent != 1 {
		t.Fatalf("SendPending = %d, %v", sent, err)
	}
	if sent, _ := db.SendPending(ctx, 10, nil); sent != 0 {
		t.Errorf("a sent message was sent again")
	}
	c, _ := db.Case(ctx, requestID)
	if c.Status != "replied" || c.RepliedBy != "Kaisa" {
		t.Errorf("case after reply = %s by %q", c.Status, c.RepliedBy)
	}
}

func TestAuditRecordIsAppendOnlyAndChained(t *testing.T) {
	db, ctx := open(t), context.Background()
	for _, action := range []string{"viewed", "viewed", "replied"} {
		if err := db.Audit(ctx, AuditEvent{Actor: "Kaisa", Role: "clerk", Action: action, RequestID: requestID, Purpose: "handling"}); err != nil {
			t.Fatal(err)
		}
	}
	if broken, err := db.VerifyAuditChain(ctx); err != nil || broken != 0 {
		t.Fatalf("intact chain reported broken at %d (%v)", broken, err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 2`); err == nil {
		t.Fatal("the record accepted an UPDATE")
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("the record accepted a DELETE")
	}
	// Someone with the rights to drop the trigger can still edit; the chain shows it.
	if _, err := db.Pool.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if broken, err := db.VerifyAuditChain(ctx); err != nil || broken != 2 {
		t.Fatalf("edited entry 2: chain reported broken at %d (%v), want 2", broken, err)
	}
}

func TestDeclarationInForceAtReceipt(t *testing.T) {
	db, ctx := open(t), context.Background()
	v1 := DeclarationVersion{RegisterID: "clinic", Digest: "sha256:1", Version: "1", Declaration: json.RawMessage(`{"v":1}`), Capabilities: json.RawMessage(`[]`)}
	v2 := DeclarationVersion{RegisterID: "clinic", Digest: "sha256:2", Version: "2", Declaration: json.RawMessage(`{"v":2}`), Capabilities: json.RawMessage(`[]`)}
	if approved, err := db.AddDeclaration(ctx, v1); err != nil || approved {
		t.Fatalf("a new version is approved on arrival (%v)", err)
	}
	if in, _ := db.DeclarationsInForce(ctx, time.Now()); len(in) != 0 {
		t.Fatal("an unapproved version is in force")
	}
	if err := db.ApproveDeclaration(ctx, "clinic", "sha256:1", "Tuomas"); err != nil {
		t.Fatal(err)
	}
	between := time.Now()
	time.Sleep(10 * time.Millisecond)
	if _, err := db.AddDeclaration(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if err := db.ApproveDeclaration(ctx, "clinic", "sha256:2", "Tuomas"); err != nil {
		t.Fatal(err)
	}
	if err := db.ApproveDeclaration(ctx, "clinic", "sha256:nope", "Tuomas"); err != ErrNotFound {
		t.Errorf("approving an unknown version: %v, want ErrNotFound", err)
	}
	at := func(when time.Time) string {
		in, err := db.DeclarationsInForce(ctx, when)
		if err != nil || len(in) != 1 {
			t.Fatalf("in force at %v: %v, %v", when, in, err)
		}
		return in[0].Version
	}
	if v := at(between); v != "1" {
		t.Errorf("a request received between the approvals uses version %s, want 1", v)
	}
	if v := at(time.Now()); v != "2" {
		t.Errorf("a request received now uses version %s, want 2", v)
	}
}

func TestSessions(t *testing.T) {
	db, ctx := open(t), context.Background()
	type data struct{ Name string }
	if err := db.SaveSession(ctx, "portal", "id-1", data{"x"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var got data
	if err := db.LoadSession(ctx, "portal", "id-1", &got); err != nil || got.Name != "x" {
		t.Fatalf("load = %+v, %v", got, err)
	}
	if err := db.LoadSession(ctx, "office", "id-1", &got); err != ErrNotFound {
		t.Errorf("a portal session loads in the office: %v", err)
	}
	_ = db.SaveSession(ctx, "portal", "id-2", data{"y"}, time.Now().Add(-time.Second))
	if err := db.LoadSession(ctx, "portal", "id-2", &got); err != ErrNotFound {
		t.Errorf("an expired session loads: %v", err)
	}
	if err := db.DeleteSession(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.LoadSession(ctx, "portal", "id-1", &got); err != ErrNotFound {
		t.Errorf("a deleted session loads: %v", err)
	}
}
