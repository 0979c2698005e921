package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/pgtest"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/limits"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/store/sessions"
	"kirjaamo.dev/workflows/codec"
	"kirjaamo.dev/workflows/request"
)

// The aggregates' tests share one test binary, and so one throwaway PostgreSQL cluster; each test
// gets its own empty database.
func TestMain(m *testing.M) { pgtest.Main(m) }

// stores are the aggregates on one fresh database.
type stores struct {
	db         *store.DB
	cases      *cases.Repo
	record     *record.Record
	outbox     *outbox.Outbox
	sessions   *sessions.Store
	challenges *challenges.Store
	decls      *declarations.Store
}

// testKeys are the store's keys, derived from a payload key made for the test.
func testKeys(t *testing.T) *store.Keyring {
	t.Helper()
	payload, err := codec.ParseKeys(codec.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := store.NewKeyring(payload)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func open(t *testing.T) stores {
	t.Helper()
	url := pgtest.New(t)
	ctx := context.Background()
	if _, err := store.Open(ctx, url, testKeys(t)); err == nil {
		t.Fatal("a database never migrated opened")
	}
	if err := store.Migrate(ctx, url, ""); err != nil {
		t.Fatal(err)
	}
	// Migrating again, as a second process would, finds the schema up to date.
	if err := store.Migrate(ctx, url, ""); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	db, err := store.Open(ctx, url, testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return stores{db: db, cases: cases.New(db), record: record.New(db), outbox: outbox.New(db), sessions: sessions.New(db),
		challenges: challenges.New(db), decls: declarations.New(db)}
}

const requestID = "0195d5c8-8d3e-7c1a-9f00-000000000001"

var received = time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)

// aino is Aino's access request through the portal.
func aino() request.Input {
	return request.Input{RequestID: requestID, ReceivedAt: received, Channel: request.ChannelWeb, Receipt: request.ReceiptOf(received),
		Subject: request.Subject{ID: "demo-aino", Name: "Aino Virtanen", IdentityMethod: "oidc", IdentityLevel: "high",
			Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: "aino@example.fi"}}},
		Request: contracts.SubmitRequest{Right: contracts.RightAccess, Language: "fi", ContactEmail: "aino@example.fi"}}
}

func plan(registerID, digest string, dispatch bool) request.PlannedRegister {
	return request.PlannedRegister{Digest: digest, Outcome: rules.Outcome{RegisterID: registerID, Code: rules.CodeDispatch, Dispatch: dispatch}}
}

func actions(t *testing.T, s stores, id string) []string {
	t.Helper()
	trail, err := s.record.Trail(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range trail {
		out = append(out, e.Action)
	}
	return out
}

func TestAReceiptIsRecordedOnce(t *testing.T) {
	s, ctx := open(t), context.Background()
	for range 3 {
		if err := s.cases.Record(ctx, aino()); err != nil {
			t.Fatal(err)
		}
	}
	if got := actions(t, s, requestID); !slices.Equal(got, []string{"received"}) {
		t.Fatalf("record after three receipts of one request = %v, want one 'received'", got)
	}
	var receipts []outbox.Message
	if _, err := s.outbox.SendPending(ctx, 10, func(ctx context.Context, tx pgx.Tx, m outbox.Message) error {
		receipts = append(receipts, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(receipts) != 1 || receipts[0].Kind != outbox.KindRequestReceived || receipts[0].Recipient != "aino@example.fi" ||
		receipts[0].Payload["deadline"] != "2026-06-01" {
		t.Fatalf("the receipt e-mails after three receipts of one request: %+v, want one with the deadline", receipts)
	}
	c, err := s.cases.Case(ctx, requestID)
	if err != nil || c.SubjectName != "Aino Virtanen" || c.Status != request.StatusReceived || c.Deadline.Format(time.DateOnly) != "2026-06-01" {
		t.Fatalf("case = %+v, %v", c, err)
	}
	in, err := s.cases.Load(ctx, requestID)
	if err != nil || in.Subject.Identifiers[0].Value != "aino@example.fi" || !in.Receipt.Deadline.Equal(request.ReceiptOf(received).Deadline) {
		t.Fatalf("loaded input = %+v, %v", in, err)
	}
	if _, err := s.cases.Case(ctx, "0195d5c8-8d3e-7c1a-9f00-000000000002"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown case: err = %v, want store.ErrNotFound", err)
	}
}

func TestPlansAnswersAndTheReply(t *testing.T) {
	s, ctx := open(t), context.Background()
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatal(err)
	}
	// The receipt (TestAReceiptIsRecordedOnce) goes first, so that what is queued next is the reply's.
	if _, err := s.outbox.SendPending(ctx, 10, func(context.Context, pgx.Tx, outbox.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	first := []request.PlannedRegister{plan("koronavilkku", "sha256:a", true), plan("clinic", "sha256:a", true), plan("kela-web-statistics", "sha256:a", false)}
	if err := s.cases.SavePlan(ctx, requestID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.SavePlan(ctx, requestID, []request.PlannedRegister{plan("koronavilkku", "sha256:b", false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.MarkDispatched(ctx, requestID, []string{"koronavilkku"}); err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		register                 string
		wantRemaining, wantCount int
	}{{"koronavilkku", 1, 1}, {"koronavilkku", 1, 1}, {"clinic", 0, 2}, {"clinic", 0, 2}} {
		remaining, answered, err := s.cases.RecordAnswer(ctx, requestID, step.register, contracts.StatusFound, json.RawMessage(`{"status":"found"}`))
		if err != nil || remaining != step.wantRemaining || answered != step.wantCount {
			t.Fatalf("RecordAnswer #%d (%s) = %d, %d, %v; want %d left and %d answered", i+1, step.register, remaining, answered, err,
				step.wantRemaining, step.wantCount)
		}
	}
	planned, err := s.cases.Planned(ctx, requestID)
	if err != nil || len(planned) != 3 {
		t.Fatalf("planned = %v, %v", planned, err)
	}
	if k := planned[2]; k.Outcome.RegisterID != "koronavilkku" || k.Digest != "sha256:a" || !k.Dispatched || k.Result == nil || k.Result.Status != contracts.StatusFound {
		t.Errorf("register = %+v: the first plan must stand, dispatched and answered", k)
	}
	if err := s.cases.SaveReview(ctx, requestID, []rules.Outcome{{RegisterID: "koronavilkku", Code: rules.CodeGranted}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retried reply sends and records nothing twice
		if err := s.cases.Reply(ctx, requestID, request.Approval{Clerk: "Kaisa", Note: "ok"},
			[]request.RecipientNotice{{RegisterID: "koronavilkku", Recipient: "EFGS"}}); err != nil {
			t.Fatal(err)
		}
	}
	var queued int
	if err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&queued); err != nil || queued != 1 {
		t.Fatalf("outbox has %d messages after a retried reply, want 1 (%v)", queued, err)
	}
	sent, err := s.outbox.SendPending(ctx, 10, func(ctx context.Context, tx pgx.Tx, m outbox.Message) error {
		if m.Kind != outbox.KindReplyReady || m.Recipient != "aino@example.fi" || m.Language != "fi" {
			t.Errorf("the reply's notice: %+v", m)
		}
		return s.outbox.CaptureInMailbox(ctx, tx, m.ID, outbox.MailboxMessage{Channel: "email", Recipient: m.Recipient, Subject: "s", Body: "b"})
	})
	if err != nil || sent != 1 {
		t.Fatalf("SendPending = %d, %v", sent, err)
	}
	if sent, _ := s.outbox.SendPending(ctx, 10, nil); sent != 0 {
		t.Errorf("a sent message was sent again")
	}
	c, _ := s.cases.Case(ctx, requestID)
	if c.Status != request.StatusReplied || c.RepliedBy != "Kaisa" {
		t.Errorf("case after reply = %s by %q", c.Status, c.RepliedBy)
	}
	if got := actions(t, s, requestID); !slices.Equal(got, []string{"received", "in_review", "art19_notice", "replied"}) {
		t.Errorf("record = %v", got)
	}
}

// The CHECK constraint on cases.status lists exactly the request's statuses.
func TestTheStoreKnowsEveryStatusAndNoOther(t *testing.T) {
	s, ctx := open(t), context.Background()
	var def string
	if err := s.db.Pool.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'cases_status_known'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	var inCheck []request.Status
	for _, m := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(def, -1) {
		inCheck = append(inCheck, request.Status(m[1]))
	}
	slices.Sort(inCheck)
	want := slices.Sorted(slices.Values(request.Statuses))
	if !slices.Equal(inCheck, want) {
		t.Fatalf("the constraint allows %v; the request's statuses are %v", inCheck, want)
	}
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatal(err)
	}
	_, err := s.db.Pool.Exec(ctx, `UPDATE cases SET status = 'lost' WHERE request_id = $1`, requestID)
	if !store.Permanent(err) {
		t.Errorf("a status that is none of the request's was stored (%v), or not refused as permanent", err)
	}
}

// What PostgreSQL refuses for its data is permanent, marked so for the activity that stops retrying.
func TestDataTheStoreRefusesIsMarkedPermanent(t *testing.T) {
	s, ctx := open(t), context.Background()
	in := aino()
	in.Request.Language = "f\x00i"
	err := s.cases.Record(ctx, in)
	if !errors.Is(err, request.ErrPermanent) {
		t.Fatalf("a NUL in the language: %v, want request.ErrPermanent", err)
	}
}

func TestAttentionIsRecordedRetriedAndCleared(t *testing.T) {
	s, ctx := open(t), context.Background()
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatal(err)
	}
	at := &request.Attention{Step: request.StepIntake, Trouble: request.TroubleRefused, Since: received}
	for _, in := range []request.AttentionInput{
		{RequestID: requestID, Attention: at}, {RequestID: requestID, Attention: at}, // recorded once
		{RequestID: requestID, Attention: at, RetriedBy: "Kaisa"},
	} {
		if err := s.cases.Attention(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := s.cases.Case(ctx, requestID)
	if c.Attention == nil || c.Attention.Step != request.StepIntake || c.Attention.Trouble != request.TroubleRefused {
		t.Fatalf("case needing attention = %+v", c.Attention)
	}
	if err := s.cases.Attention(ctx, request.AttentionInput{RequestID: requestID}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.cases.Case(ctx, requestID); c.Attention != nil {
		t.Errorf("attention not cleared: %+v", c.Attention)
	}
	if got := actions(t, s, requestID); !slices.Equal(got, []string{"received", "needs_attention", "attention_retried", "attention_resolved"}) {
		t.Errorf("record = %v", got)
	}
}

// verify checks the whole record against the checkpoints given.
func verify(t *testing.T, s stores, checkpoints ...ledger.Checkpoint) ledger.Report {
	t.Helper()
	rep, err := ledger.Verify(s.db.Keys.Record, signer.Public(), checkpoints, s.record.Links(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

var signer = func() *ledger.Signer {
	s, err := ledger.NewSigner("k1", map[string][]byte{"k1": make([]byte, 32)})
	if err != nil {
		panic(err)
	}
	return s
}()

// checkpoint signs a checkpoint of the record's head as it is now.
func checkpoint(t *testing.T, s stores) ledger.Checkpoint {
	t.Helper()
	seq, head, err := s.record.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := ledger.Checkpoint{Log: record.Log, Seq: seq, Head: head, At: time.Now()}
	signer.Sign(&c)
	return c
}

func TestTheRecordIsAppendOnlyAndChained(t *testing.T) {
	s, ctx := open(t), context.Background()
	for _, action := range []string{"viewed", "viewed", "replied"} {
		// Details nested in maps and structs, which jsonb gives back with their keys in another order
		// and numbers rewritten, verify as written.
		detail := map[string]any{"zeta": 1, "alpha": struct {
			Zulu  string  `json:"zulu"`
			Bravo float64 `json:"bravo"`
		}{"z", 1e21}, "list": []any{map[string]any{"longer key": true, "k": 1.50}}}
		if err := s.record.Write(ctx, record.Entry{Actor: "Kaisa", Role: "clerk", Action: action, RequestID: requestID, Purpose: "handling",
			Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	if rep := verify(t, s, checkpoint(t, s)); rep.Broken != nil || rep.Entries != 3 {
		t.Fatalf("an intact record: %+v, %v", rep, rep.Broken)
	}
	if _, err := s.db.Pool.Exec(ctx, `UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 2`); err == nil {
		t.Fatal("the record accepted an UPDATE")
	}
	if _, err := s.db.Pool.Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("the record accepted a DELETE")
	}
	// Someone with the rights to drop the trigger can still edit, even recomputing the links as
	// plain hashes; the keyed chain shows it.
	if _, err := s.db.Pool.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		UPDATE audit_log SET purpose = 'nothing to see', hash = sha256(prev_hash || convert_to(purpose, 'UTF8')) WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, s); rep.Broken == nil || rep.Broken.Seq != 2 {
		t.Fatalf("edited entry 2: %+v", rep.Broken)
	}
}

// The services' role owns nothing: it cannot alter the record or its trigger, and may only insert
// into the record and read it; the owner migrates.
func TestTheServicesRoleMayOnlyAppendToTheRecord(t *testing.T) {
	url := pgtest.New(t)
	ctx := context.Background()
	roles := store.Roles{Owner: "t_owner", App: "t_app"}
	ownerURL, appURL, err := store.SetUpRoles(ctx, url, roles, "owner-secret", "app-secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, ownerURL, roles.App); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.SetUpRoles(ctx, url, roles, "owner-secret", "app-secret"); err != nil {
		t.Fatalf("setting the roles up again: %v", err)
	}
	db, err := store.Open(ctx, appURL, testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := stores{db: db, cases: cases.New(db), record: record.New(db)}
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatalf("the services' role cannot store a case: %v", err)
	}
	if err := s.record.Write(ctx, record.Entry{Actor: "Kaisa", Role: "clerk", Action: "viewed", RequestID: requestID}); err != nil {
		t.Fatalf("the services' role cannot append to the record: %v", err)
	}
	if got := actions(t, s, requestID); !slices.Equal(got, []string{"received", "viewed"}) {
		t.Fatalf("the services' role reads the record as %v", got)
	}
	for _, stmt := range []string{
		`UPDATE audit_log SET purpose = 'x'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
		`DROP TRIGGER audit_log_append_only ON audit_log`,
		`ALTER TABLE cases ADD COLUMN x int`,
		`DELETE FROM schema_migrations`,
		`CREATE TABLE mine (x int)`,
	} {
		if _, err := db.Pool.Exec(ctx, stmt); err == nil {
			t.Errorf("the services' role may: %s", stmt)
		}
	}
	var owned int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&owned); err != nil || owned != 0 {
		t.Errorf("the services' role owns %d relations (%v)", owned, err)
	}
}

func TestTheDeclarationInForceAtReceipt(t *testing.T) {
	s, ctx := open(t), context.Background()
	v1 := declarations.Version{RegisterID: "clinic", Digest: "sha256:1", Version: "1", Declaration: json.RawMessage(`{"v":1}`), Capabilities: json.RawMessage(`[]`)}
	v2 := declarations.Version{RegisterID: "clinic", Digest: "sha256:2", Version: "2", Declaration: json.RawMessage(`{"v":2}`), Capabilities: json.RawMessage(`[]`)}
	if approved, err := s.decls.Add(ctx, v1); err != nil || approved {
		t.Fatalf("a new version is approved on arrival (%v)", err)
	}
	if in, _ := s.decls.VersionsInForce(ctx, time.Now()); len(in) != 0 {
		t.Fatal("an unapproved version is in force")
	}
	if err := s.decls.Approve(ctx, "clinic", "sha256:1", "Tuomas"); err != nil {
		t.Fatal(err)
	}
	between := time.Now()
	time.Sleep(10 * time.Millisecond)
	if _, err := s.decls.Add(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if err := s.decls.Approve(ctx, "clinic", "sha256:2", "Tuomas"); err != nil {
		t.Fatal(err)
	}
	if err := s.decls.Approve(ctx, "clinic", "sha256:nope", "Tuomas"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approving an unknown version: %v, want store.ErrNotFound", err)
	}
	at := func(when time.Time) string {
		in, err := s.decls.VersionsInForce(ctx, when)
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
	s, ctx := open(t), context.Background()
	type data struct{ Name string }
	if err := s.sessions.Save(ctx, "portal", "id-1", data{"x"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var got data
	if err := s.sessions.Load(ctx, "portal", "id-1", &got); err != nil || got.Name != "x" {
		t.Fatalf("load = %+v, %v", got, err)
	}
	if err := s.sessions.Load(ctx, "office", "id-1", &got); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a portal session loads in the office: %v", err)
	}
	_ = s.sessions.Save(ctx, "portal", "id-2", data{"y"}, time.Now().Add(-time.Second))
	if err := s.sessions.Load(ctx, "portal", "id-2", &got); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired session loads: %v", err)
	}
	if err := s.sessions.Delete(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.sessions.Load(ctx, "portal", "id-1", &got); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted session loads: %v", err)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A view written again by the same session for the same purpose within the window is one entry;
// another session's, another purpose's, or one after the window is another.
func TestARepeatedViewIsOneEntry(t *testing.T) {
	s, ctx := open(t), context.Background()
	view := func(session, purpose string, within time.Duration) bool {
		t.Helper()
		wrote, err := s.record.WriteOnce(ctx, record.Entry{Actor: "Kaisa", Role: "clerk", Action: "viewed", RequestID: requestID, Purpose: purpose,
			Detail: map[string]any{"session": session}}, within)
		if err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	for i, c := range []struct {
		session, purpose string
		within           time.Duration
		want             bool
	}{
		{"s1", "handling", time.Hour, true},
		{"s1", "handling", time.Hour, false},
		{"s1", "reviewing", time.Hour, true},
		{"s2", "handling", time.Hour, true},
		{"s1", "handling", time.Microsecond, true}, // the window has passed
	} {
		if got := view(c.session, c.purpose, c.within); got != c.want {
			t.Errorf("view %d (%s, %s): written %v, want %v", i+1, c.session, c.purpose, got, c.want)
		}
	}
	if rep := verify(t, s); rep.Broken != nil || rep.Entries != 4 {
		t.Fatalf("the record after repeated views: %+v", rep)
	}
}

// Calls are counted per key and window, shared by every process, and the table holds no key in
// clear.
func TestCallsAreCountedAgainstTheirLimits(t *testing.T) {
	s, ctx := open(t), context.Background()
	counter := limits.New(s.db)
	for i := range 3 {
		retry, err := counter.Take(ctx, "portal subject demo-aino", 2, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if (i < 2) != (retry == 0) || retry > time.Hour {
			t.Fatalf("call %d: retry after %s", i+1, retry)
		}
	}
	if retry, _ := counter.Take(ctx, "portal subject demo-matti", 2, time.Hour); retry != 0 {
		t.Error("Matti's first call counted against Aino's")
	}
	var rows string
	_ = s.db.Pool.QueryRow(ctx, `SELECT string_agg(row_to_json(rate_counts)::text, ' ') FROM rate_counts`).Scan(&rows)
	if strings.Contains(rows, "demo-aino") || !strings.Contains(rows, `"count":3`) {
		t.Errorf("the counts: %s", rows)
	}
}
