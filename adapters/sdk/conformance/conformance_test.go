package conformance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
)

const knownEmail = "aino.virtanen@example.org"

var known = conformance.Subject{Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: knownEmail}}}

func declaration(t *testing.T) contracts.Declaration {
	t.Helper()
	data, err := os.ReadFile("testdata/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	var d contracts.Declaration
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// invitations is a small, correct register on the SDK: one person's invitations, in memory, with
// each erasure recorded by task id together with its effect, under one lock.
type invitations struct {
	decl    contracts.Declaration
	mu      sync.Mutex
	records []contracts.Record
	applied map[string]int // affected, by task id
}

func newInvitations(t *testing.T) *invitations {
	return &invitations{decl: declaration(t), applied: map[string]int{}, records: []contracts.Record{
		{Category: "event invitations", Fields: map[string]string{"event": "Webinar: sleep and recovery", "invited_at": "2026-09-14T12:00:00+03:00"}},
		{Category: "event invitations", Fields: map[string]string{"event": "Webinar: healthy heart", "invited_at": "2026-10-20T12:00:00+03:00"}},
	}}
}

func (r *invitations) Declaration() contracts.Declaration { return r.decl }

func (r *invitations) Operations() sdk.Operations {
	return sdk.Operations{Lookup: r.lookup, Erase: r.erase}
}

func (r *invitations) lookup(_ context.Context, q sdk.Query) ([]contracts.Record, error) {
	if email, _ := q.Identifier(contracts.IdentifierEmail); email != knownEmail {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]contracts.Record(nil), r.records...), nil
}

func (r *invitations) erase(_ context.Context, q sdk.Query) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, seen := r.applied[q.TaskID]; seen {
		return n, nil
	}
	n := 0
	if email, _ := q.Identifier(contracts.IdentifierEmail); email == knownEmail {
		n, r.records = len(r.records), nil
	}
	r.applied[q.TaskID] = n
	return n, nil
}

// failsOnUnknown answers an unknown person with an error, as if not finding someone were one.
type failsOnUnknown struct{ *invitations }

func (r failsOnUnknown) Operations() sdk.Operations {
	ops := r.invitations.Operations()
	ops.Lookup = func(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
		records, err := r.invitations.lookup(ctx, q)
		if err == nil && len(records) == 0 {
			return nil, &contracts.Error{Code: contracts.ErrInvalidMessage, Message: "no person with these identifiers"}
		}
		return records, err
	}
	return ops
}

func onSDK(url string, reg sdk.Register) func(context.Context) error {
	return func(ctx context.Context) error {
		return sdk.Run(ctx, reg, sdk.Config{NATSURL: url, AckWait: 5 * time.Second, Logger: quiet})
	}
}

var quiet = slog.New(slog.DiscardHandler)

func check(t *testing.T, url string, adapter func(context.Context) error) conformance.Report {
	t.Helper()
	started := time.Now()
	report, err := conformance.Check(t.Context(), conformance.Config{NATSURL: url, RegisterID: "test-invitations",
		Known: known, Timeout: 5 * time.Second, Adapter: adapter, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		t.Logf("%-16s %-4s %s", c.Name, c.Outcome, c.Message)
	}
	t.Logf("took %s", time.Since(started).Round(time.Millisecond))
	return report
}

// onlyFails asserts that the one check named fails, with a message holding each of hints, and that
// every other check passes or is skipped.
func onlyFails(t *testing.T, report conformance.Report, name string, hints ...string) {
	t.Helper()
	failures := report.Failures()
	if len(failures) != 1 || failures[0].Name != name {
		t.Fatalf("failures: %+v; want %s alone", failures, name)
	}
	for _, hint := range hints {
		if !strings.Contains(failures[0].Message, hint) {
			t.Errorf("%s: message %q does not say %q", name, failures[0].Message, hint)
		}
	}
}

func TestACorrectAdapterPasses(t *testing.T) {
	srv := embeddednats.Start(t)
	report := check(t, srv.ClientURL(), onSDK(srv.ClientURL(), newInvitations(t)))
	if !report.Passed() {
		t.Fatalf("failures: %+v", report.Failures())
	}
	want := map[string]conformance.Outcome{
		conformance.CheckDeclaration: conformance.Pass, conformance.CheckUnknownSubject: conformance.Pass,
		conformance.CheckKnownSubject: conformance.Pass, conformance.CheckPastDeadline: conformance.Pass,
		conformance.CheckInvalidTask: conformance.Pass, conformance.CheckLargeResult: conformance.Pass,
		conformance.CheckCancellation: conformance.Pass, conformance.CheckEffectOnce: conformance.Pass,
		conformance.CheckGracefulStop: conformance.Pass, conformance.CheckResultsValid: conformance.Pass,
		conformance.CheckAcknowledged: conformance.Pass, conformance.CheckRefusal: conformance.Skip,
		conformance.CheckProcessingEvents: conformance.Skip,
	}
	if len(report.Checks) != len(want) {
		t.Errorf("%d checks, want %d", len(report.Checks), len(want))
	}
	for name, outcome := range want {
		if c, ok := report.Find(name); !ok || c.Outcome != outcome {
			t.Errorf("%s: %+v, want %s", name, c, outcome)
		}
	}
	if c, _ := report.Find(conformance.CheckProcessingEvents); !strings.Contains(c.Message, "declares no processing events") {
		t.Errorf("processing-events does not say the register declares none: %q", c.Message)
	}
	if c, _ := report.Find(conformance.CheckEffectOnce); !strings.Contains(c.Message, "applied (affected 2)") {
		t.Errorf("effect-once does not say what the erasure answered: %q", c.Message)
	}
	if c, _ := report.Find(conformance.CheckCancellation); !strings.Contains(c.Message, "an erase task") || !strings.Contains(c.Message, "2 record(s) are still there") {
		t.Errorf("cancellation does not say that a cancelled erasure left the data: %q", c.Message)
	}
}

// TestAnAdapterWrittenAgainstNATSPasses: a correct adapter that does not use the SDK, as one in
// another language, passes every check the kit can make without running it itself.
func TestAnAdapterWrittenAgainstNATSPasses(t *testing.T) {
	srv := embeddednats.Start(t)
	decl := declaration(t)
	decl.Operations = []contracts.Operation{contracts.OpLookup}
	report := check(t, srv.ClientURL(), rawAdapter(srv.ClientURL(), decl, decl.Operations, raw{}))
	if !report.Passed() {
		t.Fatalf("failures: %+v", report.Failures())
	}
	if c, _ := report.Find(conformance.CheckLargeResult); c.Outcome != conformance.Pass {
		t.Errorf("large-result: %+v", c)
	}
}

func TestAnAdapterThatAnswersInlineDespiteTheLimitFails(t *testing.T) {
	srv := embeddednats.Start(t)
	decl := declaration(t)
	decl.Operations = []contracts.Operation{contracts.OpLookup}
	report := check(t, srv.ClientURL(), rawAdapter(srv.ClientURL(), decl, decl.Operations, raw{inline: true}))
	onlyFails(t, report, conformance.CheckLargeResult, "came inline, though the task's package.inline_limit is 1 byte",
		"seal them to package.key", "register-test-invitations-packages", "PROTOCOL.md")
}

func TestAnAdapterThatIgnoresACancellationFails(t *testing.T) {
	srv := embeddednats.Start(t)
	var erasures int
	report := check(t, srv.ClientURL(), rawAdapter(srv.ClientURL(), declaration(t), declaration(t).Operations,
		raw{ignoreCancellation: true, erasures: &erasures}))
	c, _ := report.Find(conformance.CheckCancellation)
	for _, hint := range []string{"an erase task the platform had cancelled before sending it was answered applied",
		"read the task id's key in the effect record register-test-invitations-done", "\"code\": \"cancelled\""} {
		if c.Outcome != conformance.Fail || !strings.Contains(c.Message, hint) {
			t.Errorf("cancellation: %+v; want a failure saying %q", c, hint)
		}
	}
}

func TestRunReportsEachCheck(t *testing.T) {
	srv := embeddednats.Start(t)
	conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: "test-invitations", Known: known,
		Timeout: 5 * time.Second, Adapter: onSDK(srv.ClientURL(), newInvitations(t)), Logger: quiet})
}

func TestAnErrorForAnUnknownSubjectFails(t *testing.T) {
	srv := embeddednats.Start(t)
	report := check(t, srv.ClientURL(), onSDK(srv.ClientURL(), failsOnUnknown{newInvitations(t)}))
	onlyFails(t, report, conformance.CheckUnknownSubject, "answered failed (invalid_message", "answer status no_data")
}

// TestAnAdapterThatErasesTwiceFails: an adapter that neither claims a task before its effect nor
// records its effects erases again on each delivery.
func TestAnAdapterThatErasesTwiceFails(t *testing.T) {
	srv := embeddednats.Start(t)
	var erasures int
	report := check(t, srv.ClientURL(), rawAdapter(srv.ClientURL(), declaration(t), declaration(t).Operations, raw{erasures: &erasures}))
	onlyFails(t, report, conformance.CheckEffectOnce, "delivered twice at once", "affected 2", "the effect was applied again", "Record the task id in the same transaction as the effect")
}

func TestAnInvalidResultFails(t *testing.T) {
	srv := embeddednats.Start(t)
	decl := declaration(t)
	decl.Operations = []contracts.Operation{contracts.OpLookup}
	// A hand-written adapter that leaves out finished_at: the SDK would have caught it.
	adapter := rawAdapter(srv.ClientURL(), decl, decl.Operations, raw{spoil: func(res map[string]any) { delete(res, "finished_at") }})
	report := check(t, srv.ClientURL(), adapter)
	onlyFails(t, report, conformance.CheckResultsValid, "does not validate", "finished_at: is required")
}

func TestADeclaredOperationTheAdapterLacksFails(t *testing.T) {
	srv := embeddednats.Start(t)
	decl := declaration(t)
	adapter := rawAdapter(srv.ClientURL(), decl, []contracts.Operation{contracts.OpLookup}, raw{})
	report := check(t, srv.ClientURL(), adapter)
	if c, _ := report.Find(conformance.CheckDeclaration); c.Outcome != conformance.Fail || !strings.Contains(c.Message, "promises erase") {
		t.Errorf("declaration: %+v, want a failure naming erase", c)
	}
}

func TestNoAnnouncementFailsAndSkipsTheRest(t *testing.T) {
	srv := embeddednats.Start(t)
	report, err := conformance.Check(t.Context(), conformance.Config{NATSURL: srv.ClientURL(), RegisterID: "test-invitations",
		AnnounceTimeout: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := report.Find(conformance.CheckDeclaration)
	if c.Outcome != conformance.Fail || !strings.Contains(c.Message, "start (or restart) the adapter after the check has started") {
		t.Errorf("declaration: %+v", c)
	}
	if len(report.Failures()) != 1 {
		t.Errorf("failures: %+v; want the declaration alone, the rest skipped", report.Failures())
	}
}

func TestABadConfigurationIsAnError(t *testing.T) {
	_, err := conformance.Check(t.Context(), conformance.Config{NATSURL: "nats://127.0.0.1:1", RegisterID: "X",
		Known: conformance.Subject{Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPhone, Value: "040 123"}}}})
	if err == nil || !strings.Contains(err.Error(), "register id") || !strings.Contains(err.Error(), "known subject") {
		t.Fatalf("Check = %v, want the register id and the known subject's identifier named", err)
	}
}

// raw is how rawAdapter behaves: correctly, unless told otherwise.
type raw struct {
	// spoil changes each result before it is sent.
	spoil func(map[string]any)
	// inline answers records inline whatever the task's inline limit.
	inline bool
	// ignoreCancellation carries a task out without looking at the effect record.
	ignoreCancellation bool
	// erasures, if set, implements erase with no record of effects: each delivery erases again and
	// counts here.
	erasures *int
}

// rawAdapter is an adapter written against NATS directly, as one in another language would be.
func rawAdapter(url string, decl contracts.Declaration, capabilities []contracts.Operation, how raw) func(context.Context) error {
	return func(ctx context.Context) error {
		nc, err := nats.Connect(url)
		if err != nil {
			return err
		}
		defer nc.Close()
		announcement, _ := json.Marshal(contracts.Announcement{Protocol: contracts.AnnounceProtocol, Declaration: decl,
			Capabilities: capabilities, Instance: "raw"})
		for {
			if _, err := nc.RequestWithContext(ctx, contracts.AnnounceSubject(decl.RegisterID), announcement); err == nil {
				break
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(50 * time.Millisecond)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		// The platform (here the kit) provisions both.
		done, err := js.KeyValue(ctx, contracts.DoneBucket(decl.RegisterID))
		if err != nil {
			return err
		}
		packages, err := js.ObjectStore(ctx, contracts.PackageBucket(decl.RegisterID))
		if err != nil {
			return err
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, contracts.TasksStream, jetstream.ConsumerConfig{
			Durable: contracts.TaskConsumer(decl.RegisterID), FilterSubject: contracts.TaskSubject(decl.RegisterID),
			AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			return err
		}
		cc, err := cons.Consume(func(msg jetstream.Msg) {
			var task contracts.Task
			if json.Unmarshal(msg.Data(), &task) != nil {
				_ = msg.Term()
				return
			}
			// Not the adapter's context: a task under way when the adapter stops is finished, ack included.
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := contracts.Result{Protocol: contracts.ResultProtocol, TaskID: task.TaskID, RequestID: task.RequestID,
				RegisterID: task.RegisterID, Operation: task.Operation, Status: contracts.StatusNoData, FinishedAt: time.Now().UTC()}
			var recorded contracts.Result
			if task.Validate() == nil && !how.ignoreCancellation {
				if e, err := done.Get(pctx, task.TaskID); err == nil {
					_ = json.Unmarshal(e.Value(), &recorded)
				}
			}
			switch email := ""; {
			case task.Validate() != nil:
				res.Status, res.Error = contracts.StatusFailed, contracts.ErrorFromValidation(contracts.ErrInvalidMessage, task.Validate())
			case recorded.Error != nil && recorded.Error.Code == contracts.ErrCancelled:
				res.Status, res.Error = contracts.StatusFailed, recorded.Error
			case task.Operation == contracts.OpErase && how.erasures != nil:
				time.Sleep(200 * time.Millisecond) // a register's erasure takes a while
				*how.erasures++
				res.Status, res.Affected = contracts.StatusApplied, *how.erasures
			case task.Operation != contracts.OpLookup:
				res.Status, res.Error = contracts.StatusFailed, contracts.NewError(contracts.ErrUnsupportedOperation, "lookup only")
			default:
				for _, id := range task.Identifiers {
					if id.Type == contracts.IdentifierEmail {
						email = contracts.Normalize(id.Type, id.Value)
					}
				}
				if email != knownEmail {
					break
				}
				res.Status = contracts.StatusFound
				res.Records = []contracts.Record{{Category: "event invitations", Fields: map[string]string{"event": "Webinar"}}}
				if inline, _ := json.Marshal(res.Records); task.Package != nil && len(inline) > task.Package.InlineLimit && !how.inline {
					if res.Package, err = putPackage(pctx, packages, &task, res.Records); err != nil {
						_ = msg.Nak()
						return
					}
					res.Records = nil
				}
			}
			var body map[string]any
			data, _ := json.Marshal(res)
			_ = json.Unmarshal(data, &body)
			if how.spoil != nil {
				how.spoil(body)
			}
			data, _ = json.Marshal(body)
			if _, err := js.Publish(pctx, contracts.ResultSubject(decl.RegisterID), data, jetstream.WithMsgID("result/"+task.TaskID)); err != nil {
				_ = msg.Nak()
				return
			}
			_ = msg.DoubleAck(pctx)
		})
		if err != nil {
			return err
		}
		<-ctx.Done()
		cc.Drain()
		<-cc.Closed()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil
		}
		return ctx.Err()
	}
}

// putPackage seals records into a package as PROTOCOL.md describes, all in memory: the records of a
// test are few.
func putPackage(ctx context.Context, obs jetstream.ObjectStore, task *contracts.Task, records []contracts.Record) (*contracts.PackageRef, error) {
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	for _, rec := range records {
		if err := enc.Encode(rec); err != nil {
			return nil, err
		}
	}
	raw, err := base64.StdEncoding.DecodeString(task.Package.Key)
	if err != nil {
		return nil, err
	}
	key, err := sealed.ParsePublicKey(raw)
	if err != nil {
		return nil, err
	}
	var box bytes.Buffer
	w, err := sealed.NewWriter(&box, key, task.TaskID, sealed.DefaultChunkSize)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if _, err := obs.PutBytes(ctx, task.TaskID, box.Bytes()); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(plain.Bytes())
	return &contracts.PackageRef{Bucket: contracts.PackageBucket(task.RegisterID), Object: task.TaskID, Format: contracts.PackageFormat,
		Records: int64(len(records)), Size: int64(plain.Len()), SHA256: hex.EncodeToString(sum[:]),
		Sealing: contracts.Sealing{Scheme: contracts.SealingScheme, ChunkSize: sealed.DefaultChunkSize,
			EphemeralKey: base64.StdEncoding.EncodeToString(w.EphemeralKey())}}, nil
}
