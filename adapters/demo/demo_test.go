package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/devkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// platform is the other end of the protocol, as the tests play it: it answers announcements,
// publishes tasks and reads results, on a real NATS server.
type platform struct {
	t       *testing.T
	js      jetstream.JetStream
	db      *pgxpool.Pool
	results jetstream.Consumer
}

func start(t *testing.T) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := natstest.New(t)
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
		var a contracts.Announcement
		reply := contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce}
		if err := json.Unmarshal(m.Data, &a); err != nil || a.Validate() != nil {
			reply = contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrDeclarationRefused, "invalid")}
		}
		data, _ := json.Marshal(reply)
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for _, reg := range Registers(db) {
		if err := reg.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if err := reg.Setup(ctx); err != nil { // a second start changes nothing
			t.Fatal(err)
		}
		go func() {
			if err := sdk.Run(ctx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second}); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", reg.Declaration().RegisterID, err)
			}
		}()
	}
	results, err := js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return &platform{t: t, js: js, db: db, results: results}
}

var requestSeq int

func newRequestID() string {
	requestSeq++
	return fmt.Sprintf("0195d5c8-8d3e-7c1a-9f00-%012d", requestSeq)
}

func (p *platform) task(registerID string, op contracts.Operation, right contracts.Right, ids ...contracts.Identifier) contracts.Task {
	rid := newRequestID()
	return contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(rid, registerID), RequestID: rid,
		RegisterID: registerID, Operation: op, Right: right, Identifiers: ids, ReceivedAt: time.Now().UTC(), Deadline: time.Now().Add(30 * 24 * time.Hour)}
}

// ask publishes a task (msgID "" publishes it as a redelivery would, past the duplicate window) and
// returns the register's result.
func (p *platform) ask(task contracts.Task, msgID string) contracts.Result {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data, _ := json.Marshal(task)
	opts := []jetstream.PublishOpt{}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := p.js.Publish(ctx, contracts.TaskSubject(task.RegisterID), data, opts...); err != nil {
		p.t.Fatal(err)
	}
	for {
		msg, err := p.results.Next(jetstream.FetchContext(ctx))
		if err != nil {
			p.t.Fatalf("no result for %s: %v", task.TaskID, err)
		}
		_ = msg.Ack()
		var res contracts.Result
		if err := json.Unmarshal(msg.Data(), &res); err != nil {
			p.t.Fatal(err)
		}
		if res.TaskID == task.TaskID {
			if err := res.Validate(); err != nil {
				p.t.Errorf("result does not validate: %v", err)
			}
			return res
		}
	}
}

func id(t contracts.IdentifierType, v string) contracts.Identifier {
	return contracts.Identifier{Type: t, Value: v}
}

func TestDemoRegistersAnswerOverTheProtocol(t *testing.T) {
	p := start(t)
	aino, erik := People[0], People[3]

	res := p.ask(p.task("kanta-client-register", contracts.OpLookup, contracts.RightAccess,
		id(contracts.IdentifierPersonalIdentityCode, aino.PersonalIdentityCode)), "")
	if res.Status != contracts.StatusFound || len(res.Records) != 1 || res.Records[0].Fields["name"] != aino.Name() {
		t.Errorf("Kanta client register, access for Aino: %+v", res)
	}
	res = p.ask(p.task("kanta-processing-log", contracts.OpLookup, contracts.RightAccess,
		id(contracts.IdentifierPersonalIdentityCode, erik.PersonalIdentityCode)), "")
	if res.Status != contracts.StatusNoData {
		t.Errorf("Kanta processing log, access for Erik: %s, want no_data", res.Status)
	}
	res = p.ask(p.task("koronavilkku", contracts.OpLookup, contracts.RightAccess, id(contracts.IdentifierPhone, aino.Phone)), "")
	if res.Status != contracts.StatusFound || len(res.Records) != 2 {
		t.Errorf("Koronavilkku, access by Aino's phone: %s with %d records, want 2 found", res.Status, len(res.Records))
	}
	// The clinic stores only hashes: the adapter hashes the verified address, in any spelling.
	res = p.ask(p.task("clinic-event-invitations", contracts.OpLookup, contracts.RightAccess,
		id(contracts.IdentifierEmail, "Aino.Virtanen@Example.fi")), "")
	if res.Status != contracts.StatusFound || len(res.Records) != 2 {
		t.Errorf("clinic, access by Aino's e-mail: %s with %d records, want 2 found", res.Status, len(res.Records))
	}
	rectify := p.task("koronavilkku", contracts.OpRectify, contracts.RightRectification, id(contracts.IdentifierPhone, aino.Phone))
	rectify.Rectification = []contracts.Correction{{Field: "temporary_exposure_key", NewValue: "x"}}
	res = p.ask(rectify, "")
	if res.Status != contracts.StatusRefused || res.Refusal == nil || res.Refusal.Citation == "" {
		t.Errorf("Koronavilkku, rectification: %+v, want refused with a citation", res)
	}
	res = p.ask(p.task("kanta-processing-log", contracts.OpErase, contracts.RightErasure,
		id(contracts.IdentifierPersonalIdentityCode, aino.PersonalIdentityCode)), "")
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrUnsupportedOperation {
		t.Errorf("processing log asked to erase: %+v, want failed unsupported_operation", res)
	}
}

func TestARedeliveredErasureIsAppliedOnce(t *testing.T) {
	p := start(t)
	matti := People[1]
	task := p.task("clinic-event-invitations", contracts.OpErase, contracts.RightErasure, id(contracts.IdentifierEmail, matti.Email))
	first := p.ask(task, task.TaskID)
	if first.Status != contracts.StatusApplied || first.Affected != 1 {
		t.Fatalf("erasure: %+v, want applied to 1 record", first)
	}
	// The same task again, as after a crash before the ack. Its result carries the same message id
	// as the first, so the stream keeps one answer; what matters is that the effect is not repeated.
	data, _ := json.Marshal(task)
	if _, err := p.js.Publish(context.Background(), contracts.TaskSubject(task.RegisterID), data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := p.js.Stream(context.Background(), contracts.TasksStream)
		if err == nil && info.CachedInfo().State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the redelivered task was never acknowledged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var applied int
	if err := p.db.QueryRow(context.Background(), `SELECT count(*) FROM clinic.applied_tasks WHERE task_id = $1`, task.TaskID).Scan(&applied); err != nil || applied != 1 {
		t.Errorf("effects recorded for the task: %d (%v), want 1", applied, err)
	}
}

func TestAnInvalidTaskGetsACodedError(t *testing.T) {
	p := start(t)
	task := p.task("kanta-client-register", contracts.OpLookup, contracts.RightAccess, id(contracts.IdentifierPersonalIdentityCode, "150385-9014"))
	res := p.ask(task, "")
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrInvalidMessage || res.Error.Retryable {
		t.Fatalf("task with a bad identity code: %+v, want failed invalid_message, not retryable", res)
	}
	if len(res.Error.Fields) == 0 || res.Error.Fields[0].Field != "identifiers[0].value" {
		t.Errorf("the error does not name the field: %+v", res.Error.Fields)
	}
}

// overpromising declares an operation it does not implement.
type overpromising struct{ KantaProcessingLog }

func (overpromising) Declaration() contracts.Declaration {
	d := mustDeclaration("kanta-processing-log")
	d.Operations = append(d.Operations, contracts.OpErase)
	return d
}

func TestTheSDKRefusesADeclarationItsCodeDoesNotKeep(t *testing.T) {
	err := sdk.Run(context.Background(), overpromising{}, sdk.Config{NATSURL: "nats://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "erase") {
		t.Fatalf("Run = %v, want a refusal naming erase", err)
	}
}

// TestEachRegisterIsOneFileOfUnder100Lines keeps the demo registers what they are meant to be: the
// example a register owner copies, one short file each.
func TestEachRegisterIsOneFileOfUnder100Lines(t *testing.T) {
	for _, f := range []string{"kanta_client.go", "kanta_log.go", "koronavilkku.go", "kela_statistics.go", "clinic.go"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(data), "\n"); n >= 100 {
			t.Errorf("%s has %d lines, want under 100", f, n)
		}
	}
}
