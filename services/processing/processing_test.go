package processing

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/store/declarations"
)

// fakeStore keeps what it is given, and fails as a test tells it to.
type fakeStore struct {
	mu     sync.Mutex
	stored map[string]contracts.ProcessingEvent // by register/event id
	fail   func(batch []contracts.ProcessingEvent) error
	calls  int
}

func (f *fakeStore) Append(_ context.Context, batch []contracts.ProcessingEvent) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(batch); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, ev := range batch {
		key := ev.RegisterID + "/" + ev.EventID
		if _, ok := f.stored[key]; !ok {
			f.stored[key] = ev
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) Checkpoint(context.Context) error { return nil }
func (f *fakeStore) Expire(context.Context, map[string]contracts.Period, time.Time) (int64, error) {
	return 0, nil
}
func (f *fakeStore) Notify(context.Context, time.Time) (int, error) { return 0, nil }

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.stored)
}

// inForce is the catalogue with the demo Kanta processing log in force.
type inForce struct{ versions []declarations.Version }

func (c inForce) VersionsInForce(context.Context, time.Time) ([]declarations.Version, error) {
	return c.versions, nil
}

func catalogue(t *testing.T) inForce {
	d, err := demo.Declaration("kanta-processing-log")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(d)
	return inForce{[]declarations.Version{{RegisterID: d.RegisterID, Digest: d.Digest(), Declaration: raw}}}
}

const kanta = "kanta-processing-log"

func view(n int) contracts.ProcessingEvent {
	return contracts.ProcessingEvent{Protocol: contracts.ProcessingProtocol, EventID: "v" + string(rune('a'+n%26)) + strings.Repeat("x", n/26),
		RegisterID: kanta, At: time.Now().Add(-time.Hour),
		Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierPersonalIdentityCode, Form: contracts.FormPlain, Value: demo.People[0].PersonalIdentityCode}},
		Actor:   contracts.Actor{Organisation: "Esimerkkilän terveyskeskus", Role: "nurse"}, Purpose: "care",
		LegalBasis: contracts.BasisLegalObligation, DataCategories: []string{"patient-records"}, Operation: contracts.ProcessingView}
}

type harness struct {
	t     *testing.T
	js    jetstream.JetStream
	store *fakeStore
}

func start(t *testing.T, fail func([]contracts.ProcessingEvent) error) *harness {
	t.Helper()
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := bus.EnsureStreams(t.Context(), js, 1, slog.Default()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, js: js, store: &fakeStore{stored: map[string]contracts.ProcessingEvent{}, fail: fail}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := DefaultConfig()
	cfg.Batch = 50
	go func() {
		done <- Run(ctx, cfg, Deps{JS: js, Store: h.store, Declarations: catalogue(t), Log: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return h
}

// publish sends raw data on a register's processing subject, as an adapter would.
func (h *harness) publish(registerID string, v any) {
	h.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		data, _ = json.Marshal(v)
	}
	if _, err := h.js.Publish(h.t.Context(), contracts.ProcessingSubject(registerID), data); err != nil {
		h.t.Fatal(err)
	}
}

// until waits for cond, or fails the test saying what did not happen.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s did not happen", what)
		}
	}
}

func (h *harness) queued() uint64 {
	s, err := h.js.Stream(h.t.Context(), contracts.ProcessingStream)
	if err != nil {
		h.t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// rejected reads the stream of rejected events: the code of each, by its register's subject.
func (h *harness) rejected() []*jetstream.RawStreamMsg {
	s, err := h.js.Stream(h.t.Context(), bus.RejectedStream)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(h.t.Context(), seq)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestEventsAreStoredAndAcknowledgedInBatches(t *testing.T) {
	h := start(t, nil)
	for n := range 120 {
		h.publish(kanta, view(n))
	}
	h.until("120 events stored and the work queue emptied", func() bool { return h.store.count() == 120 && h.queued() == 0 })
	if h.store.calls > 10 {
		t.Errorf("120 events took %d transactions: they were not batched", h.store.calls)
	}
	if n := len(h.rejected()); n != 0 {
		t.Errorf("%d good events were rejected", n)
	}
}

func TestAnEventThePlatformCannotTakeIsRejectedWithItsCode(t *testing.T) {
	h := start(t, nil)
	undeclared := view(1)
	undeclared.Purpose = "marketing"
	invalid := view(2)
	invalid.Operation = "peek"
	h.publish(kanta, []byte(`{"event_id": `))
	h.publish(kanta, invalid)
	h.publish("koronavilkku", view(3)) // says it is Kanta's, on Koronavilkku's subject
	h.publish(kanta, undeclared)
	unknown := view(4)
	unknown.RegisterID = "clinic-event-invitations"
	h.publish("clinic-event-invitations", unknown) // no declaration in force
	h.publish(kanta, view(5))
	h.until("the good event stored and the rest rejected", func() bool { return h.store.count() == 1 && h.queued() == 0 })
	got := h.rejected()
	if len(got) != 5 {
		t.Fatalf("%d rejected events, want 5", len(got))
	}
	want := []struct {
		subject string
		code    contracts.ErrorCode
		says    string
	}{
		{bus.RejectedSubject(kanta), contracts.ErrInvalidMessage, "not a processing event"},
		{bus.RejectedSubject(kanta), contracts.ErrInvalidMessage, "operation"},
		{bus.RejectedSubject("koronavilkku"), contracts.ErrInvalidMessage, "register_id"},
		{bus.RejectedSubject(kanta), contracts.ErrDeclarationRefused, "purpose: is not the id of a purpose"},
		{bus.RejectedSubject("clinic-event-invitations"), contracts.ErrDeclarationRefused, "no declaration in force"},
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(m *jetstream.RawStreamMsg) bool {
			return m.Subject == w.subject && m.Header.Get(RejectedCode) == string(w.code) && strings.Contains(m.Header.Get(RejectedReason), w.says)
		}) {
			t.Errorf("no event rejected on %s with code %s saying %q", w.subject, w.code, w.says)
		}
	}
	for _, m := range got {
		if strings.Contains(m.Header.Get(RejectedReason), demo.People[0].PersonalIdentityCode) {
			t.Errorf("a reason holds the identity code: %s", m.Header.Get(RejectedReason))
		}
	}
}

func TestEventsWaitInTheStreamWhileTheStoreIsDown(t *testing.T) {
	isDown := true // read under the store's lock
	h := start(t, func([]contracts.ProcessingEvent) error {
		if isDown {
			return errors.New("connection refused")
		}
		return nil
	})
	for n := range 10 {
		h.publish(kanta, view(n))
	}
	h.until("a try to store them", func() bool { h.store.mu.Lock(); defer h.store.mu.Unlock(); return h.store.calls > 0 })
	time.Sleep(300 * time.Millisecond)
	if h.queued() != 10 || h.store.count() != 0 {
		t.Fatalf("with the store down: %d events left in the stream, %d stored; want 10 and 0", h.queued(), h.store.count())
	}
	h.store.mu.Lock()
	isDown = false
	h.store.mu.Unlock()
	h.until("the events stored once the store is back", func() bool { return h.store.count() == 10 && h.queued() == 0 })
	if n := len(h.rejected()); n != 0 {
		t.Errorf("%d events were rejected for a passing failure", n)
	}
}

func TestAnEventTheDatabaseRefusesIsRejectedAlone(t *testing.T) {
	h := start(t, func(batch []contracts.ProcessingEvent) error {
		if slices.ContainsFunc(batch, func(ev contracts.ProcessingEvent) bool { return ev.EventID == "vh" }) {
			return &pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}
		}
		return nil
	})
	for n := range 20 {
		h.publish(kanta, view(n))
	}
	h.until("19 events stored and one rejected", func() bool { return h.store.count() == 19 && h.queued() == 0 })
	got := h.rejected()
	if len(got) != 1 || got[0].Header.Get(RejectedCode) != string(contracts.ErrInternal) || !strings.Contains(string(got[0].Data), `"vh"`) {
		t.Errorf("rejected: %d, want the one event the database refuses", len(got))
	}
}
