package sqladapter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/devkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// aino is the person the test registers hold data on (testdata/*.sql): every identifier she has, of
// which the kit sends a register those its declaration names.
var aino = conformance.Subject{Identifiers: []contracts.Identifier{
	{Type: contracts.IdentifierPersonalIdentityCode, Value: "150385-9013"},
	{Type: contracts.IdentifierEmail, Value: "aino.virtanen@example.fi"},
	{Type: contracts.IdentifierPhone, Value: "+358401110001"},
}}

// seed creates a register's tables and fills them from one of testdata's SQL files, as its owner's
// database would hold them before the adapter starts.
func seed(db *pgxpool.Pool, file string) func(context.Context) error {
	return func(ctx context.Context) error {
		sql, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		_, err = db.Exec(ctx, string(sql))
		return err
	}
}

func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(t.Context(), pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestSetupNamesMissingTablesAndColumns(t *testing.T) {
	db := newDB(t)
	if err := seed(db, "testdata/kanta-processing-log.sql")(t.Context()); err != nil {
		t.Fatal(err)
	}
	// No table yet: the clinic's is missing.
	cfg, err := ReadConfig("testdata/clinic-event-invitations.json")
	if err != nil {
		t.Fatal(err)
	}
	err = New(cfg, db).Setup(t.Context())
	wantProblem(t, err, "tables[0].table", "table clinic.invitations does not exist")

	cfg, err = ReadConfigFS(Examples, "examples/kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tables[0].Lookup.Columns[3] = "servce"
	cfg.Tables[0].Identifiers[0].Column = "hetu"
	err = New(cfg, db).Setup(t.Context())
	wantProblem(t, err, "tables[0].lookup.columns[3]", `column "servce" does not exist in kanta_log.entries`)
	wantProblem(t, err, "tables[0].identifiers[0].column", `column "hetu" does not exist`)
	if len(problems(t, err)) != 2 {
		t.Errorf("problems %+v, want 2", problems(t, err))
	}
}

var quiet = slog.New(slog.DiscardHandler)

func TestTheKantaProcessingLogPassesTheConformanceKit(t *testing.T) {
	srv := natstest.New(t)
	db := newDB(t)
	cfg, err := ReadConfigFS(Examples, "examples/kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := New(cfg, db).BeforeSetup(seed(db, "testdata/kanta-processing-log.sql"))
	if err := reg.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: "kanta-processing-log", Known: aino,
		Timeout: 10 * time.Second, Logger: quiet,
		Adapter: func(ctx context.Context) error {
			return sdk.Run(ctx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second, Logger: quiet})
		}})
}

func TestLoadChecksTheDatabase(t *testing.T) {
	db := newDB(t)
	if _, err := LoadFS(t.Context(), Examples, "examples/kanta-processing-log.json", db); err == nil {
		t.Fatal("loaded before the table exists")
	}
	if err := seed(db, "testdata/kanta-processing-log.sql")(t.Context()); err != nil {
		t.Fatal(err)
	}
	reg, err := LoadFS(t.Context(), Examples, "examples/kanta-processing-log.json", db)
	if err != nil {
		t.Fatal(err)
	}
	if ops := reg.Operations().Capabilities(); !slices.Equal(ops, []contracts.Operation{contracts.OpLookup}) {
		t.Errorf("the processing log configures a lookup alone, but its operations are %v", ops)
	}
}

func TestTheClinicOnTheSQLAdapterPassesTheConformanceKit(t *testing.T) {
	srv := natstest.New(t)
	db := newDB(t)
	cfg, err := ReadConfig("testdata/clinic-event-invitations.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := New(cfg, db).BeforeSetup(seed(db, "testdata/clinic-event-invitations.sql"))
	if err := reg.Setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: "clinic-event-invitations", Known: aino,
		Timeout: 10 * time.Second, Logger: quiet,
		Adapter: func(ctx context.Context) error {
			return sdk.Run(ctx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second, Logger: quiet})
		}})
}

// TestARedeliveredErasureIsAppliedOnce erases by a hashed e-mail column, then delivers the same task
// again as after a crash between the effect and the SDK's own note of it (the note is removed):
// the register's applied-tasks table, written in the effect's transaction, keeps it from deleting
// the invitation sent since.
func TestARedeliveredErasureIsAppliedOnce(t *testing.T) {
	ctx := t.Context()
	srv := natstest.New(t)
	db := newDB(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	for name, subject := range map[string]string{contracts.TasksStream: contracts.AllTasksSubject, contracts.ResultsStream: contracts.AllResultsSubject} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy, Duplicates: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Subscribe(contracts.AllAnnouncementsSubject, func(m *nats.Msg) {
		data, _ := json.Marshal(contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce})
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfig("testdata/clinic-event-invitations.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := New(cfg, db).BeforeSetup(seed(db, "testdata/clinic-event-invitations.sql"))
	if err := reg.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sdk.Run(runCtx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second, Logger: quiet})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	results, err := js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}

	rid := "0195d5c8-8d3e-7c1a-9f00-000000000001"
	task := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(rid, "clinic-event-invitations"), RequestID: rid,
		RegisterID: "clinic-event-invitations", Operation: contracts.OpErase, Right: contracts.RightErasure,
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: "Aino.Virtanen@Example.FI"}},
		ReceivedAt:  time.Now().UTC(), Deadline: time.Now().Add(30 * 24 * time.Hour)}
	data, _ := json.Marshal(task)
	if _, err := js.Publish(ctx, contracts.TaskSubject(task.RegisterID), data, jetstream.WithMsgID(task.TaskID)); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	msg, err := results.Next(jetstream.FetchContext(waitCtx))
	if err != nil {
		t.Fatal(err)
	}
	_ = msg.Ack()
	var res contracts.Result
	if err := json.Unmarshal(msg.Data(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != contracts.StatusApplied || res.Affected != 2 {
		t.Fatalf("erasure: %s, %d affected (%v), want applied to Aino's 2 invitations", res.Status, res.Affected, res.Error)
	}
	count := func(where string, args ...any) int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	emailHash := contracts.HashSHA256(contracts.IdentifierEmail, "aino.virtanen@example.fi")
	if n := count(`clinic.invitations WHERE email_sha256 = $1`, emailHash); n != 0 {
		t.Fatalf("%d of Aino's invitations left", n)
	}
	if n := count(`clinic.invitations`); n != 1 {
		t.Fatalf("%d invitations left, want Matti's 1", n)
	}

	// Aino is invited again after the erasure; then the task comes back, and the SDK has no note of it.
	if _, err := db.Exec(ctx, `INSERT INTO clinic.invitations (email_sha256, event, invited_at) VALUES ($1, 'Webinar: new', now())`, emailHash); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, sdk.DoneBucketConfig("clinic-event-invitations").Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, task.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, contracts.TaskSubject(task.RegisterID), data); err != nil { // past the duplicate window
		t.Fatal(err)
	}
	for {
		info, err := js.Stream(ctx, contracts.TasksStream)
		if err == nil && info.CachedInfo().State.Msgs == 0 {
			break
		}
		if waitCtx.Err() != nil {
			t.Fatal("the redelivered task was never acknowledged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(`clinic.invitations WHERE email_sha256 = $1`, emailHash); n != 1 {
		t.Errorf("after the redelivery %d invitations of Aino's, want the new one: the erasure was applied again", n)
	}
	if n := count(`sqladapter.clinic_applied_tasks WHERE task_id = $1 AND affected = 2`, task.TaskID); n != 1 {
		t.Errorf("applied task rows: %d, want 1 with affected 2", n)
	}
	entry, err := kv.Get(ctx, task.TaskID)
	if err != nil {
		t.Fatalf("the redelivery was not recorded again: %v", err)
	}
	if !strings.Contains(string(entry.Value()), `"affected":2`) {
		t.Errorf("the redelivery was answered %s, want the first answer, affected 2", entry.Value())
	}
}
