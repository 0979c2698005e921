package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
)

// Events publishes a register's processing events to the platform (contracts/PROTOCOL.md,
// "Processing events"): each time the register processes a person's data, one call,
//
//	err := events.Processing(ctx, contracts.ProcessingEvent{EventID: ..., Subject: ..., ...})
//
// and the person sees it in the portal. Processing checks the event against the register's
// declaration and refuses a bad one at once, with a *contracts.Error (invalid_message) that names each
// field; it takes a good one into a buffer and returns, and the Events send it in the background.
//
// Delivery is at least once: an event taken is sent again, with a growing delay, until JetStream has
// stored it, through a NATS outage or a platform that has not created its stream yet; Flush waits
// until every event taken before it is stored, and Close does that before it stops. The platform
// stores an event id once per register, so sending an event again is harmless, which is what makes a
// crash safe: a register restarted after one sends again what it logged since the last Flush that
// returned (Backfill does it in bulk, from the register's own log). The buffer is bounded
// (Config.ProcessingBuffer): when it is full, Processing waits for room, or for its context to end.
//
// An adapter run by Run gets its Events through ProcessingSource; anything else opens its own with
// OpenEvents.
type Events struct {
	decl    contracts.Declaration
	subject string
	js      jetstream.JetStream
	log     *slog.Logger
	now     func() time.Time

	// queue is the buffer: events taken, waiting to be sent, and events to be sent again.
	queue chan *outgoing
	// stop ends the sender and the retries once Close is done waiting.
	stop    chan struct{}
	stopped sync.WaitGroup

	mu sync.Mutex
	// inflight are the events sent, by Nats-Msg-Id, waiting for the server's acknowledgement.
	inflight map[string]*outgoing
	// Every event taken gets a sequence number; those below low are all stored, and done holds the
	// stored ones above it. advanced is closed, and replaced, whenever low moves.
	next, low uint64
	done      map[uint64]bool
	advanced  chan struct{}
	closed    bool
	stopping  bool
	warned    time.Time
	// close, if set, closes the connection the Events opened themselves.
	close func()
}

// outgoing is one event on its way: its sequence numbers (more than one if the same event was taken
// again before it was stored), its Nats-Msg-Id and its JSON.
type outgoing struct {
	seqs  []uint64
	id    string
	data  []byte
	tries int
}

// ProcessingSource is a register whose adapter publishes processing events itself, such as the SQL
// adapter, which follows the register's log table. Run calls PublishProcessing in a goroutine of its
// own with the register's Events, ends its context when the adapter stops, and waits, within the
// grace period, until the events it took are stored. A register that publishes from its own
// application instead opens its Events with OpenEvents.
type ProcessingSource interface {
	Register
	PublishProcessing(ctx context.Context, events *Events) error
}

// maxInFlight bounds the events sent and not yet acknowledged; ackTimeout is how long the sender
// waits for an acknowledgement before it sends an event again.
const (
	maxInFlight = 1024
	ackTimeout  = 10 * time.Second
)

// OpenEvents connects to NATS as the register (cfg as for Run: its URL, credentials, CA and inbox
// prefix) and returns the register's Events. Close them when done: Close delivers what is still
// buffered, then closes the connection.
func OpenEvents(ctx context.Context, decl contracts.Declaration, cfg Config) (*Events, error) {
	cfg = cfg.withDefaults()
	if err := decl.Validate(); err != nil {
		return nil, fmt.Errorf("sdk: the declaration of %s is not valid: %w", decl.RegisterID, err)
	}
	if cfg.InboxPrefix == "" {
		cfg.InboxPrefix = "_INBOX_" + decl.RegisterID
	}
	opts := []nats.Option{nats.Name("kirjaamo-register-" + decl.RegisterID + "-events"), nats.MaxReconnects(-1),
		nats.CustomInboxPrefix(cfg.InboxPrefix)}
	if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("sdk: connect to NATS: %w", err)
	}
	e, err := newEvents(decl, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	e.close = nc.Close
	return e, nil
}

func newEvents(decl contracts.Declaration, nc *nats.Conn, cfg Config) (*Events, error) {
	if decl.Processing == nil {
		return nil, fmt.Errorf("sdk: %s declares no processing events: add processing to its declaration (contracts/PROTOCOL.md, \"Processing events\")", decl.RegisterID)
	}
	e := &Events{decl: decl, subject: contracts.ProcessingSubject(decl.RegisterID), log: cfg.Logger.With("register", decl.RegisterID),
		now: time.Now, queue: make(chan *outgoing, cfg.ProcessingBuffer), stop: make(chan struct{}),
		inflight: map[string]*outgoing{}, done: map[uint64]bool{}, advanced: make(chan struct{})}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxInFlight), jetstream.WithPublishAsyncTimeout(ackTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			e.stored(m.Header.Get(jetstream.MsgIDHeader))
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			e.failed(m.Header.Get(jetstream.MsgIDHeader), err)
		}))
	if err != nil {
		return nil, fmt.Errorf("sdk: jetstream: %w", err)
	}
	e.js = js
	e.stopped.Add(1)
	go e.send()
	return e, nil
}

// Logger is the adapter's logger, for a ProcessingSource to report on its events (never their
// contents).
func (e *Events) Logger() *slog.Logger { return e.log }

// ErrEventsClosed is what Processing returns after Close.
var ErrEventsClosed = errors.New("sdk: the register's events are closed")

// Processing takes one processing event, to be delivered to the platform at least once. It fills in
// the protocol and the register id if they are empty, and refuses an event that is not valid or not
// what the register declares with a *contracts.Error, code invalid_message, that names each field.
// It waits while the buffer is full; if ctx ends first, the event is not taken and ctx's error is
// returned.
func (e *Events) Processing(ctx context.Context, ev contracts.ProcessingEvent) error {
	o, err := e.prepare(&ev)
	if err != nil {
		return err
	}
	return e.enqueue(ctx, o)
}

// prepare checks an event and makes it ready to send.
func (e *Events) prepare(ev *contracts.ProcessingEvent) (*outgoing, error) {
	if ev.Protocol == "" {
		ev.Protocol = contracts.ProcessingProtocol
	}
	if ev.RegisterID == "" {
		ev.RegisterID = e.decl.RegisterID
	}
	ev.At = ev.At.UTC()
	if ev.EmbargoUntil != nil {
		u := ev.EmbargoUntil.UTC()
		ev.EmbargoUntil = &u
	}
	err := ev.Validate()
	if err == nil {
		err = ev.CheckDeclared(&e.decl, e.now())
	}
	if err != nil {
		return nil, contracts.ErrorFromValidation(contracts.ErrInvalidMessage, err)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("sdk: processing event %s: %w", ev.EventID, err)
	}
	return &outgoing{id: contracts.ProcessingMsgID(ev.RegisterID, ev.EventID), data: data}, nil
}

func (e *Events) enqueue(ctx context.Context, o *outgoing) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrEventsClosed
	}
	seq := e.next
	e.next++
	o.seqs = []uint64{seq}
	e.mu.Unlock()
	select {
	case e.queue <- o:
		return nil
	case <-ctx.Done():
		// Not taken: it counts as done, so that Flush does not wait for it.
		e.settle(o.seqs)
		return ctx.Err()
	}
}

// send publishes what the buffer holds, one event at a time, without waiting for the server's
// acknowledgements (they come to stored and failed) but never with more than maxInFlight waiting.
func (e *Events) send() {
	defer e.stopped.Done()
	for {
		var o *outgoing
		select {
		case o = <-e.queue:
		case <-e.stop:
			return
		}
		e.mu.Lock()
		if same, ok := e.inflight[o.id]; ok {
			// The same event taken again while it is on its way: it is stored when that one is.
			same.seqs = append(same.seqs, o.seqs...)
			e.mu.Unlock()
			continue
		}
		e.inflight[o.id] = o
		e.mu.Unlock()
		msg := &nats.Msg{Subject: e.subject, Data: o.data, Header: nats.Header{jetstream.MsgIDHeader: []string{o.id}}}
		if _, err := e.js.PublishMsgAsync(msg); err != nil {
			e.failed(o.id, err)
		}
	}
}

// stored settles an event the server acknowledged.
func (e *Events) stored(id string) {
	e.mu.Lock()
	o, ok := e.inflight[id]
	delete(e.inflight, id)
	e.mu.Unlock()
	if ok {
		e.settle(o.seqs)
	}
}

// failed sends an event again after a delay that grows with its tries, 100 ms to 30 s.
func (e *Events) failed(id string, err error) {
	e.mu.Lock()
	o, ok := e.inflight[id]
	delete(e.inflight, id)
	waiting := len(e.inflight) + len(e.queue)
	warn := time.Since(e.warned) > 10*time.Second
	if warn {
		e.warned = time.Now()
	}
	if !ok || e.stopping {
		e.mu.Unlock()
		return
	}
	e.stopped.Add(1)
	e.mu.Unlock()
	if warn {
		e.log.Warn("processing events not stored yet; sending them again", "error", err, "events_waiting", waiting)
	}
	o.tries++
	delay := min(100*time.Millisecond<<min(o.tries-1, 9), 30*time.Second)
	go func() {
		defer e.stopped.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.stop:
			return
		}
		select {
		case e.queue <- o:
		case <-e.stop:
		}
	}()
}

// settle marks events as done, and moves low past every done one.
func (e *Events) settle(seqs []uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range seqs {
		e.done[s] = true
	}
	moved := false
	for e.done[e.low] {
		delete(e.done, e.low)
		e.low++
		moved = true
	}
	if moved {
		close(e.advanced)
		e.advanced = make(chan struct{})
	}
}

// Flush waits until every event taken before it is stored by the platform's stream, or ctx ends.
func (e *Events) Flush(ctx context.Context) error {
	e.mu.Lock()
	target := e.next
	e.mu.Unlock()
	for {
		e.mu.Lock()
		if e.low >= target {
			e.mu.Unlock()
			return nil
		}
		advanced, waiting := e.advanced, target-e.low
		e.mu.Unlock()
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("sdk: %d processing events are not stored yet: %w", waiting, ctx.Err())
		}
	}
}

// Close takes no more events, waits until those taken are stored or ctx ends, and stops. It returns
// an error that counts the events not stored: they were not delivered, and the register sends them
// again when it next starts (Backfill).
func (e *Events) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	err := e.Flush(ctx)
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	close(e.stop)
	e.stopped.Wait()
	if e.close != nil {
		e.close()
	}
	return err
}

// Refused is an event Backfill did not send, and why.
type Refused struct {
	EventID string
	Error   *contracts.Error
}

// BackfillReport says what Backfill did: how many events it sent, and which it refused (the first
// hundred of them; RefusedCount counts them all).
type BackfillReport struct {
	Sent         int
	Refused      []Refused
	RefusedCount int
}

// Backfill sends a register's past events in bulk, from its own log: every event events yields,
// checked like Processing's, and returns once all it sent are stored. An event the declaration does
// not allow is refused and counted, and the rest go on. It stops at the first error events yields,
// or when ctx ends; what it sent until then is delivered all the same. Events the platform already
// has are stored once, so a backfill may overlap what was sent before.
func (e *Events) Backfill(ctx context.Context, events iter.Seq2[contracts.ProcessingEvent, error]) (BackfillReport, error) {
	var rep BackfillReport
	for ev, err := range events {
		if err != nil {
			return rep, errors.Join(err, e.Flush(ctx))
		}
		o, err := e.prepare(&ev)
		if err != nil {
			var wire *contracts.Error
			if !errors.As(err, &wire) {
				return rep, err
			}
			rep.RefusedCount++
			if len(rep.Refused) < 100 {
				rep.Refused = append(rep.Refused, Refused{EventID: ev.EventID, Error: wire})
			}
			continue
		}
		if err := e.enqueue(ctx, o); err != nil {
			return rep, err
		}
		rep.Sent++
	}
	return rep, e.Flush(ctx)
}
