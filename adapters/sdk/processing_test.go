package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
)

// withEvents is the test register's declaration with processing events declared: invitations sent
// by the clinic's staff, and disclosures of the list to the mailing service.
func withEvents(t testing.TB) contracts.Declaration {
	d := declaration(t)
	text := contracts.Text{FI: "Kutsu", SV: "Inbjudan", EN: "Invitation"}
	d.Processing = &contracts.ProcessingLog{Retention: "P2Y", Purposes: []contracts.ProcessingPurpose{{ID: "invitations", Name: text,
		Explanation: text, LegalBasis: contracts.BasisLegitimateInterests,
		DataCategories: []contracts.DataCategory{{ID: "contact-details", Name: text}}}}}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

// invitation is event n: a view of the known person's address by the clinic's staff.
func invitation(n int) contracts.ProcessingEvent {
	return contracts.ProcessingEvent{EventID: fmt.Sprintf("inv-%06d", n),
		Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierEmail, Form: contracts.FormPlain, Value: knownEmail}},
		At:      time.Now().Add(-time.Duration(n) * time.Second), Actor: contracts.Actor{Organisation: "Esimerkkiklinikka Oy", Role: "marketing"},
		Purpose: "invitations", LegalBasis: contracts.BasisLegitimateInterests, DataCategories: []string{"contact-details"},
		Operation: contracts.ProcessingView}
}

// processingStream creates the stream the platform keeps the events in, as bus.EnsureStreams does.
func processingStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: contracts.ProcessingStream, Subjects: []string{contracts.AllProcessingSubject},
		Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// stored reads every event the stream holds, by event id, with its subject and Nats-Msg-Id.
func stored(t *testing.T, s jetstream.Stream) map[string]*jetstream.RawStreamMsg {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*jetstream.RawStreamMsg{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var ev contracts.ProcessingEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.EventID] = m
	}
	return out
}

func openEvents(t *testing.T, url string, d contracts.Declaration) *sdk.Events {
	t.Helper()
	events, err := sdk.OpenEvents(t.Context(), d, sdk.Config{NATSURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Close(context.Background()) })
	return events
}

func TestProcessingDeliversEachEventOnceOnTheRegistersSubject(t *testing.T) {
	srv := embeddednats.Start(t)
	stream := processingStream(t, connect(t, srv.ClientURL()))
	events := openEvents(t, srv.ClientURL(), withEvents(t))
	for n := range 200 {
		if err := events.Processing(t.Context(), invitation(n)); err != nil {
			t.Fatal(err)
		}
	}
	// The same event again, as a register that resends after a crash would.
	if err := events.Processing(t.Context(), invitation(7)); err != nil {
		t.Fatal(err)
	}
	if err := events.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := stored(t, stream)
	if len(got) != 200 {
		t.Fatalf("the stream holds %d events, want 200", len(got))
	}
	if info, _ := stream.Info(t.Context()); info.State.Msgs != 200 {
		t.Errorf("the stream holds %d messages: an event sent twice was stored twice", info.State.Msgs)
	}
	m := got["inv-000007"]
	if m.Subject != contracts.ProcessingSubject("test-invitations") || m.Header.Get(jetstream.MsgIDHeader) != "processing/test-invitations/inv-000007" {
		t.Errorf("event sent on %s with Nats-Msg-Id %q", m.Subject, m.Header.Get(jetstream.MsgIDHeader))
	}
	var ev contracts.ProcessingEvent
	_ = json.Unmarshal(m.Data, &ev)
	if ev.Protocol != contracts.ProcessingProtocol || ev.RegisterID != "test-invitations" || ev.Validate() != nil {
		t.Errorf("the event as sent: %+v (%v)", ev, ev.Validate())
	}
}

func TestProcessingRefusesWhatTheRegisterDoesNotDeclareAtOnce(t *testing.T) {
	srv := embeddednats.Start(t)
	stream := processingStream(t, connect(t, srv.ClientURL()))
	events := openEvents(t, srv.ClientURL(), withEvents(t))
	bad := invitation(1)
	bad.Purpose, bad.Actor.Person = "profiling", "Maija Markkinoija"
	err := events.Processing(t.Context(), bad)
	var wire *contracts.Error
	if !errors.As(err, &wire) || wire.Code != contracts.ErrInvalidMessage || wire.Retryable {
		t.Fatalf("an undeclared purpose: %v, want an invalid_message error", err)
	}
	for _, field := range []string{"purpose", "actor.person"} {
		if !slices.ContainsFunc(wire.Fields, func(f contracts.FieldError) bool { return f.Field == field }) {
			t.Errorf("the refusal does not name %s: %+v", field, wire.Fields)
		}
	}
	if err := events.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(stored(t, stream)); n != 0 {
		t.Errorf("a refused event reached the stream (%d events)", n)
	}
	undeclared := declaration(t)
	if _, err := sdk.OpenEvents(t.Context(), undeclared, sdk.Config{NATSURL: srv.ClientURL()}); err == nil {
		t.Error("a register that declares no processing events opened its events")
	}
}

func TestAnEventTakenIsDeliveredOnceThePlatformIsThere(t *testing.T) {
	srv := embeddednats.Start(t)
	js := connect(t, srv.ClientURL())
	events := openEvents(t, srv.ClientURL(), withEvents(t))
	// No stream yet, as before the platform's first start: the events wait in the buffer.
	for n := range 20 {
		if err := events.Processing(t.Context(), invitation(n)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := events.Flush(short); err == nil {
		t.Fatal("Flush returned with nowhere to deliver to")
	}
	stream := processingStream(t, js)
	flush, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := events.Flush(flush); err != nil {
		t.Fatal(err)
	}
	if n := len(stored(t, stream)); n != 20 {
		t.Errorf("%d events delivered, want 20", n)
	}
}

func TestCloseSaysHowManyEventsWereNotDelivered(t *testing.T) {
	srv := embeddednats.Start(t)
	events, err := sdk.OpenEvents(t.Context(), withEvents(t), sdk.Config{NATSURL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 5 {
		if err := events.Processing(t.Context(), invitation(n)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = events.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 processing events") {
		t.Errorf("Close without a stream: %v, want it to count the 5 events not delivered", err)
	}
	if err := events.Processing(t.Context(), invitation(9)); !errors.Is(err, sdk.ErrEventsClosed) {
		t.Errorf("Processing after Close: %v", err)
	}
}

func TestBackfillSendsAYearOfLogAndCountsWhatItRefuses(t *testing.T) {
	srv := embeddednats.Start(t)
	stream := processingStream(t, connect(t, srv.ClientURL()))
	events := openEvents(t, srv.ClientURL(), withEvents(t))
	const total = 5000
	log := func(yield func(contracts.ProcessingEvent, error) bool) {
		for n := range total {
			ev := invitation(n)
			ev.At = time.Now().Add(-time.Duration(n) * time.Hour)
			if n%1000 == 999 {
				ev.Operation = "peek" // five rows of the old log that no event can say
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
	rep, err := events.Backfill(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != total-5 || rep.RefusedCount != 5 || len(rep.Refused) != 5 || rep.Refused[0].EventID != "inv-000999" {
		t.Errorf("backfill report %+v", rep)
	}
	if n := len(stored(t, stream)); n != total-5 {
		t.Errorf("%d events stored, want %d", n, total-5)
	}
	// A log that fails half-way stops the backfill with its error; what was sent is delivered.
	broken := iter.Seq2[contracts.ProcessingEvent, error](func(yield func(contracts.ProcessingEvent, error) bool) {
		if yield(invitation(total+1), nil) {
			yield(contracts.ProcessingEvent{}, errors.New("log file truncated"))
		}
	})
	if _, err := events.Backfill(t.Context(), broken); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a failing log: %v", err)
	}
	if n := len(stored(t, stream)); n != total-4 {
		t.Errorf("%d events stored after the failing log, want %d", n, total-4)
	}
}

// follower is a register whose adapter publishes its own processing events, as the SQL adapter does
// from its log table.
type follower struct {
	decl contracts.Declaration
	sent chan int
}

func (f follower) Declaration() contracts.Declaration { return f.decl }
func (f follower) Operations() sdk.Operations {
	return sdk.Operations{Lookup: lookupNothing, Erase: func(context.Context, sdk.Query) (int, error) { return 0, nil }}
}

func (f follower) PublishProcessing(ctx context.Context, events *sdk.Events) error {
	n := 0
	for ; n < 50; n++ {
		if err := events.Processing(ctx, invitation(n)); err != nil {
			return err
		}
	}
	f.sent <- n
	<-ctx.Done()
	return nil
}

func TestRunHandsAProcessingSourceItsEvents(t *testing.T) {
	p := newPlatform(t)
	stream := processingStream(t, p.js)
	f := follower{decl: withEvents(t), sent: make(chan int, 1)}
	p.run(f, 5*time.Second)
	select {
	case <-f.sent:
	case <-time.After(30 * time.Second):
		t.Fatalf("the adapter never ran its processing source:\n%s", p.logs)
	}
	for deadline := time.Now().Add(10 * time.Second); len(stored(t, stream)) < 50; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 50 events stored", len(stored(t, stream)))
		}
	}
}
