package js_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
	"kirjaamo.dev/devkit/natstest"
)

// These tests play the platform against the JavaScript adapter on an embedded NATS server, for the
// parts of the protocol that the conformance kit does not reach by itself: a package's every field
// against what the adapter answers inline, and each state of the effect record (a cancellation, a
// live claim of another instance, a crashed instance's claim).

const (
	registerID = "example-js-register"
	mattiCode  = "020794-9029" // Matti, the other demo person the example register holds data on
	erikCode   = "081001A904M" // Erik, a demo person in no register
)

// platform is the test's side of the protocol: the streams, effect record and package bucket as the
// platform provisions them, the catalogue's answer to the announcement, and every result by task id.
type platform struct {
	t        *testing.T
	js       jetstream.JetStream
	done     jetstream.KeyValue
	packages jetstream.ObjectStore
	mu       sync.Mutex
	results  map[string][]contracts.Result
	arrived  chan struct{}
}

// startPlatform provisions the platform's side, then starts the adapter with env, and returns once the
// adapter took its first task: a lookup for someone unknown, answered no_data.
func startPlatform(t *testing.T, env ...string) *platform {
	t.Helper()
	node := needNode(t)
	installModules(t)
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, subjects := range map[string]string{contracts.TasksStream: contracts.AllTasksSubject, contracts.ResultsStream: contracts.AllResultsSubject} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subjects},
			Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	p := &platform{t: t, js: js, results: map[string][]contracts.Result{}, arrived: make(chan struct{}, 1)}
	if p.done, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "register-" + registerID + "-done", History: 1}); err != nil {
		t.Fatal(err)
	}
	if p.packages, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: contracts.PackageBucket(registerID)}); err != nil {
		t.Fatal(err)
	}
	accept, _ := json.Marshal(contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce})
	if _, err := nc.Subscribe(contracts.AnnounceSubject(registerID), func(m *nats.Msg) { _ = m.Respond(accept) }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(contracts.ResultSubject(registerID), p.take); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	adapterCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- runNode(adapterCtx, t, node, srv.ClientURL(), env...) }()
	t.Cleanup(func() {
		stop()
		if err := <-stopped; err != nil {
			t.Errorf("the adapter did not stop cleanly: %v", err)
		}
	})
	if r := p.ask(p.lookup(erikCode, nil)); r.Status != contracts.StatusNoData {
		t.Fatalf("a lookup for someone the register does not hold was answered %s, want no_data", r.Status)
	}
	return p
}

func (p *platform) take(m *nats.Msg) {
	var r contracts.Result
	if err := json.Unmarshal(m.Data, &r); err != nil {
		p.t.Errorf("a result that is not JSON: %v", err)
		return
	}
	if err := r.Validate(); err != nil {
		p.t.Errorf("result of %s does not validate: %v", r.TaskID, err)
	}
	if got, want := m.Header.Get(jetstream.MsgIDHeader), "result/"+r.TaskID; got != want {
		p.t.Errorf("result of %s carries Nats-Msg-Id %q, want %q", r.TaskID, got, want)
	}
	p.mu.Lock()
	p.results[r.TaskID] = append(p.results[r.TaskID], r)
	p.mu.Unlock()
	select {
	case p.arrived <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (p *platform) answers(taskID string) []contracts.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]contracts.Result(nil), p.results[taskID]...)
}

func (p *platform) task(op contracts.Operation, code string) contracts.Task {
	requestID := newUUID(p.t)
	now := time.Now().UTC()
	right := contracts.RightAccess
	if op == contracts.OpErase {
		right = contracts.RightErasure
	}
	return contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(requestID, registerID), RequestID: requestID,
		RegisterID: registerID, Operation: op, Right: right, ReceivedAt: now, Deadline: now.Add(30 * 24 * time.Hour),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: code}}}
}

func (p *platform) lookup(code string, target *contracts.PackageTarget) contracts.Task {
	task := p.task(contracts.OpLookup, code)
	task.Package = target
	return task
}

func (p *platform) publish(task contracts.Task) {
	p.t.Helper()
	data, err := json.Marshal(task)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.js.Publish(p.t.Context(), contracts.TaskSubject(registerID), data, jetstream.WithMsgID(task.TaskID)); err != nil {
		p.t.Fatal(err)
	}
}

// ask sends a task and waits for its first answer.
func (p *platform) ask(task contracts.Task) contracts.Result {
	p.t.Helper()
	p.publish(task)
	return p.await(task.TaskID)
}

// await waits for the first answer to a task. The limit only ends a test that would hang; no
// assertion depends on how long anything took.
func (p *platform) await(taskID string) contracts.Result {
	p.t.Helper()
	limit := time.After(time.Minute)
	for {
		if got := p.answers(taskID); len(got) > 0 {
			return got[0]
		}
		select {
		case <-p.arrived:
		case <-limit:
			p.t.Fatalf("no answer to task %s", taskID)
		}
	}
}

// deliveries counts the deliveries the adapter's consumer has made, redeliveries included.
func (p *platform) deliveries() uint64 {
	p.t.Helper()
	cons, err := p.js.Consumer(p.t.Context(), contracts.TasksStream, contracts.TaskConsumer(registerID))
	if err != nil {
		p.t.Fatal(err)
	}
	info, err := cons.Info(p.t.Context())
	if err != nil {
		p.t.Fatal(err)
	}
	return info.Delivered.Consumer
}

// waitDeliveries waits until the consumer has made at least n deliveries.
func (p *platform) waitDeliveries(n uint64) {
	p.t.Helper()
	for limit := time.Now().Add(time.Minute); p.deliveries() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(limit) {
			p.t.Fatalf("the adapter did not take %d deliveries", n)
		}
	}
}

func newUUID(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TestLargeLookupComesAsASealedPackage: over the inline limit, a lookup's records come as JSON Lines
// sealed to the case key in the register's package bucket, and they are the very records the adapter
// answers inline under a limit they fit in. Small chunks, so that the package has several.
func TestLargeLookupComesAsASealedPackage(t *testing.T) {
	p := startPlatform(t, "KIRJAAMO_PACKAGE_CHUNK_SIZE=1024")
	caseKey, err := sealed.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	target := &contracts.PackageTarget{Key: base64.StdEncoding.EncodeToString(caseKey.PublicKey().Bytes()), InlineLimit: contracts.DefaultInlineLimit}

	for _, code := range []string{ainoCode, mattiCode} {
		inline := p.ask(p.lookup(code, target))
		if inline.Status != contracts.StatusFound || inline.Package != nil || len(inline.Records) < 2 {
			t.Fatalf("a lookup under the default inline limit was answered %s with %d records inline and package %v; want found, inline",
				inline.Status, len(inline.Records), inline.Package)
		}
		limit := &contracts.PackageTarget{Key: target.Key, InlineLimit: 1}
		task := p.lookup(code, limit)
		res := p.ask(task)
		if res.Status != contracts.StatusFound || res.Package == nil || len(res.Records) > 0 {
			t.Fatalf("a lookup over the inline limit was answered %s with %d records inline and package %v; want found, as a package",
				res.Status, len(res.Records), res.Package)
		}
		ref := res.Package
		want := contracts.PackageRef{Bucket: contracts.PackageBucket(registerID), Object: contracts.PackageObject(task.TaskID),
			Format: contracts.PackageFormat, Records: int64(len(inline.Records)), Size: ref.Size, SHA256: ref.SHA256,
			Sealing: contracts.Sealing{Scheme: contracts.SealingScheme, EphemeralKey: ref.Sealing.EphemeralKey, ChunkSize: 1024}}
		if *ref != want {
			t.Errorf("package reference %+v, want %+v", *ref, want)
		}
		plain := openPackage(t, p, caseKey, ref)
		if int64(len(plain)) != ref.Size {
			t.Errorf("the package holds %d bytes of plaintext, its reference says %d", len(plain), ref.Size)
		}
		if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != ref.SHA256 {
			t.Errorf("the package's SHA-256 is %x, its reference says %s", sum, ref.SHA256)
		}
		if ref.Size <= 2*1024 {
			t.Errorf("the package is %d bytes: too small to show several chunks", ref.Size)
		}
		var lines []contracts.Record
		for sc := bufio.NewScanner(bytes.NewReader(plain)); sc.Scan(); {
			var rec contracts.Record
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("line %d of the package is not a record: %v", len(lines)+1, err)
			}
			if err := contracts.Validate(&rec); err != nil {
				t.Errorf("record %d of the package does not validate: %v", len(lines)+1, err)
			}
			lines = append(lines, rec)
		}
		got, _ := json.Marshal(lines)
		expected, _ := json.Marshal(inline.Records)
		if !bytes.Equal(got, expected) {
			t.Errorf("the package's records differ from the same lookup's records inline:\n%s\n%s", got, expected)
		}

		// The object's name is bound into the sealing: under another task's name, it does not open.
		other := *ref
		other.Object = "00000000-0000-4000-8000-000000000000/" + registerID
		obj, err := p.packages.Get(t.Context(), ref.Object)
		if err != nil {
			t.Fatal(err)
		}
		eph, _ := base64.StdEncoding.DecodeString(ref.Sealing.EphemeralKey)
		r, err := sealed.NewReader(obj, caseKey, eph, other.Object, ref.Sealing.ChunkSize)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, sealed.ErrTampered) {
			t.Errorf("the package opened as another task's object: %v", err)
		}
		_ = obj.Close()
	}

	// A key with which no secret can be agreed (a low-order point) is the task's fault: answered
	// invalid_message, naming the field, not retried.
	res := p.ask(p.lookup(ainoCode, &contracts.PackageTarget{Key: base64.StdEncoding.EncodeToString(make([]byte, 32)), InlineLimit: 1}))
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrInvalidMessage || res.Error.Retryable ||
		len(res.Error.Fields) != 1 || res.Error.Fields[0].Field != "package.key" {
		t.Errorf("a lookup with an unusable package key was answered %s (%+v), want failed, invalid_message on package.key", res.Status, res.Error)
	}
}

func openPackage(t *testing.T, p *platform, caseKey *ecdh.PrivateKey, ref *contracts.PackageRef) []byte {
	t.Helper()
	obj, err := p.packages.Get(t.Context(), ref.Object)
	if err != nil {
		t.Fatalf("the package %s is not in %s: %v", ref.Object, ref.Bucket, err)
	}
	defer obj.Close()
	eph, err := base64.StdEncoding.DecodeString(ref.Sealing.EphemeralKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sealed.NewReader(obj, caseKey, eph, ref.Object, ref.Sealing.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the package does not open with the case key: %v", err)
	}
	return plain
}

// TestEffectRecord: a cancelled task is answered with its cancellation and not carried out; another
// instance's live claim holds the task back until that instance records its result, which is then the
// answer; a crashed instance's claim is taken over, and the effect applied and recorded.
func TestEffectRecord(t *testing.T) {
	p := startPlatform(t)
	ctx := t.Context()
	cancellation, _ := json.Marshal(contracts.Result{Status: contracts.StatusFailed,
		Error: contracts.NewError(contracts.ErrCancelled, "the subject withdrew the request")})

	// Cancelled before it was sent, an erasure is answered cancelled, and nothing is erased. A lookup
	// too.
	erase := p.task(contracts.OpErase, ainoCode)
	lookup := p.lookup(ainoCode, nil)
	for _, task := range []contracts.Task{erase, lookup} {
		if _, err := p.done.Create(ctx, task.TaskID, cancellation); err != nil {
			t.Fatal(err)
		}
		res := p.ask(task)
		if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrCancelled || res.Error.Retryable ||
			res.Error.Message != "the subject withdrew the request" {
			t.Errorf("a cancelled %s was answered %+v (error %+v), want the recorded cancellation", task.Operation, res, res.Error)
		}
	}
	if res := p.ask(p.lookup(ainoCode, nil)); res.Status != contracts.StatusFound {
		t.Errorf("after a cancelled erasure, a lookup was answered %s: the erasure was carried out", res.Status)
	}

	// Another instance's fresh claim: the task waits (nak, redelivery) without an answer, until that
	// instance records its result, which becomes the answer. Nothing is erased here.
	held := p.task(contracts.OpErase, mattiCode)
	claim, _ := json.Marshal(map[string]string{"claimed_by": "another-instance", "claimed_at": time.Now().UTC().Format(time.RFC3339)})
	rev, err := p.done.Create(ctx, held.TaskID, claim)
	if err != nil {
		t.Fatal(err)
	}
	before := p.deliveries()
	p.publish(held)
	p.waitDeliveries(before + 2) // delivered, nak'ed with a delay, delivered again
	if got := p.answers(held.TaskID); len(got) > 0 {
		t.Fatalf("a task another instance had claimed was answered %s while the claim held", got[0].Status)
	}
	theirs, _ := json.Marshal(contracts.Result{Status: contracts.StatusApplied, Affected: 7})
	if _, err := p.done.Update(ctx, held.TaskID, theirs, rev); err != nil {
		t.Fatal(err)
	}
	if res := p.await(held.TaskID); res.Status != contracts.StatusApplied || res.Affected != 7 {
		t.Errorf("a task whose claimant recorded applied (7) was answered %s (%d)", res.Status, res.Affected)
	}
	if res := p.ask(p.lookup(mattiCode, nil)); res.Status != contracts.StatusFound {
		t.Errorf("the adapter erased what another instance had claimed: a lookup after was answered %s", res.Status)
	}

	// A value that is neither a claim nor a result is no outcome (anyone in the account can make a
	// server reply land in the bucket): it is taken over like a crashed instance's claim.
	stale := p.task(contracts.OpErase, mattiCode)
	if _, err := p.done.Create(ctx, stale.TaskID, []byte(`{"not":"an outcome"}`)); err != nil {
		t.Fatal(err)
	}
	res := p.ask(stale)
	if res.Status != contracts.StatusApplied || res.Affected < 2 {
		t.Fatalf("an erasure whose record held no outcome was answered %s (%d), want applied", res.Status, res.Affected)
	}
	entry, err := p.done.Get(ctx, stale.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	_ = json.Unmarshal(entry.Value(), &rec)
	if rec["status"] != "applied" || rec["affected"] != float64(res.Affected) || len(rec) != 2 {
		t.Errorf("the effect record holds %s after the erasure, want its result, status and affected only", entry.Value())
	}
	if res := p.ask(p.lookup(mattiCode, nil)); res.Status != contracts.StatusNoData {
		t.Errorf("after the erasure, a lookup was answered %s", res.Status)
	}

	// A fresh erasure claims the key first, then records its result at the claim's revision: the key's
	// history (one value kept) is the result, written after the claim.
	fresh := p.task(contracts.OpErase, ainoCode)
	res = p.ask(fresh)
	if res.Status != contracts.StatusApplied {
		t.Fatalf("an erasure for Aino was answered %s", res.Status)
	}
	entry, err = p.done.Get(ctx, fresh.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Revision() < 2 || !bytes.Contains(entry.Value(), []byte(`"applied"`)) {
		t.Errorf("the effect record of a fresh erasure is %s at revision %d", entry.Value(), entry.Revision())
	}
}

// TestCrashedInstancesClaimIsTakenOver: a claim that has not been renewed for five ack waits (here
// the ack wait is 1 s) is a crashed instance's; the adapter naks the task while the claim is fresh,
// then takes it over, erases, and records the result in place of the claim.
func TestCrashedInstancesClaimIsTakenOver(t *testing.T) {
	p := startPlatform(t, "KIRJAAMO_ADAPTER_ACK_WAIT=1s")
	ctx := t.Context()
	task := p.task(contracts.OpErase, mattiCode)
	claim, _ := json.Marshal(map[string]string{"claimed_by": "crashed-instance", "claimed_at": time.Now().UTC().Format(time.RFC3339)})
	if _, err := p.done.Create(ctx, task.TaskID, claim); err != nil {
		t.Fatal(err)
	}
	before := p.deliveries()
	p.publish(task)
	res := p.await(task.TaskID)
	if res.Status != contracts.StatusApplied || res.Affected < 2 {
		t.Fatalf("an erasure whose claimant crashed was answered %s (%d), want applied", res.Status, res.Affected)
	}
	if n := p.deliveries() - before; n < 2 {
		t.Errorf("the erasure was delivered %d time(s): the claim was taken over while it was fresh", n)
	}
	entry, err := p.done.Get(ctx, task.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	_ = json.Unmarshal(entry.Value(), &rec)
	if rec["status"] != "applied" || rec["affected"] != float64(res.Affected) {
		t.Errorf("the effect record holds %s after the takeover, want the result", entry.Value())
	}
	if res := p.ask(p.lookup(mattiCode, nil)); res.Status != contracts.StatusNoData {
		t.Errorf("after the erasure, a lookup was answered %s", res.Status)
	}
}
