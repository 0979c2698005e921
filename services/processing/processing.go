// Package processing is the service that takes the registers' processing events (contracts/PROTOCOL.md,
// "Processing events") from JetStream into the store, in batches, and keeps the store: it checkpoints
// each register's processing log, deletes events past their register's declared retention, and
// queues the e-mail notices of new disclosures that people asked for.
//
// Each event is checked against its register's declaration in force; one the platform cannot take
// is never retried: it is kept, with its code, in the stream of rejected events
// (bus.RejectedStream) and removed from the work queue. The others are stored in one transaction
// per batch and acknowledged only once it is committed; a store that is down leaves them in the
// stream, to be delivered again.
package processing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/declarations"
)

// Config is the processing service's own configuration.
type Config struct {
	Batch           int           `env:"PROCESSING_BATCH" default:"2000" doc:"how many processing events one worker takes from the stream and stores in one transaction"`
	Workers         int           `env:"PROCESSING_WORKERS" default:"2" doc:"how many batches of processing events one process stores at once"`
	CheckpointEvery time.Duration `env:"PROCESSING_CHECKPOINT_EVERY" default:"1m" doc:"how often each register's processing log is checkpointed (signed and published), if it grew"`
	NoticeEvery     time.Duration `env:"PROCESSING_NOTICE_EVERY" default:"30s" doc:"how often new disclosures are looked for, to queue the e-mail notices people asked for"`
	RetentionEvery  time.Duration `env:"PROCESSING_RETENTION_EVERY" default:"1h" doc:"how often processing events past their register's declared retention are deleted"`
}

// Prefix is the prefix of the service's variables.
const Prefix = "KIRJAAMO_"

// DefaultConfig is the configuration before the environment is read.
func DefaultConfig() Config {
	return Config{Batch: 2000, Workers: 2, CheckpointEvery: time.Minute, NoticeEvery: 30 * time.Second, RetentionEvery: time.Hour}
}

// LoadConfig reads the service's configuration from the environment.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	return cfg, config.Load(Prefix, &cfg)
}

// Check refuses a configuration that could store nothing.
func (c *Config) Check() error {
	var errs []error
	if c.Batch < 1 || c.Batch > 10000 {
		errs = append(errs, errors.New("KIRJAAMO_PROCESSING_BATCH must be 1 to 10000"))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, errors.New("KIRJAAMO_PROCESSING_WORKERS must be 1 to 64"))
	}
	for name, d := range map[string]time.Duration{"CHECKPOINT": c.CheckpointEvery, "NOTICE": c.NoticeEvery, "RETENTION": c.RetentionEvery} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("KIRJAAMO_PROCESSING_%s_EVERY must be a positive duration", name))
		}
	}
	return errors.Join(errs...)
}

// Consumer is the durable consumer the processing services share: adding processes shares the load.
const Consumer = "platform-processing"

// Deps are what the service runs on.
type Deps struct {
	JS           jetstream.JetStream
	Store        Store
	Declarations Declarations
	Log          *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Store keeps the processing events (*events.Store).
type Store interface {
	// Append stores a batch of events, of any registers, in one transaction: each event id once per
	// register, however often it comes. It returns how many were new.
	Append(ctx context.Context, events []contracts.ProcessingEvent) (int, error)
	// Checkpoint signs and publishes a checkpoint of each register's log that grew since its last.
	Checkpoint(ctx context.Context) error
	// Expire deletes, per register, the events older than its retention before now.
	Expire(ctx context.Context, retention map[string]contracts.Period, now time.Time) (int64, error)
	// Notify queues a notice of each disclosure that has become visible to a person who asked for
	// them, and returns how many.
	Notify(ctx context.Context, now time.Time) (int, error)
}

// Declarations is the register catalogue as the service reads it (*declarations.Store).
type Declarations interface {
	VersionsInForce(ctx context.Context, at time.Time) ([]declarations.Version, error)
}

// Run takes events into the store and keeps it until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &service{cfg: cfg, deps: deps, log: deps.Log, declared: map[string]contracts.Declaration{}}
	cons, err := deps.JS.CreateOrUpdateConsumer(ctx, contracts.ProcessingStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    -1,
		MaxAckPending: cfg.Batch * cfg.Workers * 2,
	})
	if err != nil {
		return fmt.Errorf("processing: consumer: %w", err)
	}
	s.log.Info("processing events service serving", "batch", cfg.Batch, "workers", cfg.Workers)
	g, ctx := errgroup.WithContext(ctx)
	for range cfg.Workers {
		g.Go(func() error { return s.work(ctx, cons) })
	}
	g.Go(func() error { s.keep(ctx); return nil })
	return g.Wait()
}

type service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu        sync.Mutex
	declared  map[string]contracts.Declaration
	refreshed time.Time
}

// work takes batches from the stream until ctx ends.
func (s *service) work(ctx context.Context, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		batch, err := cons.Fetch(s.cfg.Batch, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("processing events cannot be fetched; trying again", "error", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) > 0 {
			s.take(ctx, msgs)
		}
	}
	return nil
}

// taken is an event from the stream that passed its checks, with its message.
type taken struct {
	event contracts.ProcessingEvent
	msg   jetstream.Msg
}

// take checks a batch, stores what passes and rejects the rest.
func (s *service) take(ctx context.Context, msgs []jetstream.Msg) {
	var ok []taken
	for _, m := range msgs {
		ev, code, err := s.check(ctx, m)
		if err != nil {
			s.reject(ctx, m, code, err)
			continue
		}
		ok = append(ok, taken{ev, m})
	}
	s.store(ctx, ok)
}

// store appends events and acknowledges them once committed. A batch the database refuses for its
// data is halved until the event it refuses is found, and that event alone is rejected; a store
// that is unavailable leaves the batch in the stream, to come again.
func (s *service) store(ctx context.Context, batch []taken) {
	if len(batch) == 0 {
		return
	}
	events := make([]contracts.ProcessingEvent, len(batch))
	for i, t := range batch {
		events[i] = t.event
	}
	_, err := s.deps.Store.Append(ctx, events)
	switch {
	case err == nil:
		for _, t := range batch {
			_ = t.msg.Ack()
		}
	case store.Permanent(err) && len(batch) == 1:
		s.reject(ctx, batch[0].msg, contracts.ErrInternal, fmt.Errorf("the store refuses the event: %w", err))
	case store.Permanent(err):
		half := len(batch) / 2
		s.store(ctx, batch[:half])
		s.store(ctx, batch[half:])
	default:
		if ctx.Err() == nil {
			s.log.Warn("processing events not stored yet; they will come again", "events", len(batch), "error", err)
		}
		for _, t := range batch {
			_ = t.msg.NakWithDelay(redeliveryDelay(t.msg))
		}
	}
}

// redeliveryDelay grows with each delivery of an event the store could not take: 1 s to 1 min.
func redeliveryDelay(m jetstream.Msg) time.Duration {
	n := uint64(1)
	if md, err := m.Metadata(); err == nil {
		n = md.NumDelivered
	}
	return min(time.Second<<min(n-1, 6), time.Minute)
}

// check decodes an event and checks it: valid, from the register whose subject it came on, and
// what that register's declaration in force allows.
func (s *service) check(ctx context.Context, m jetstream.Msg) (contracts.ProcessingEvent, contracts.ErrorCode, error) {
	var ev contracts.ProcessingEvent
	dec := json.NewDecoder(bytes.NewReader(m.Data()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, contracts.ErrInvalidMessage, fmt.Errorf("not a processing event: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return ev, contracts.ErrInvalidMessage, err
	}
	if from := contracts.RegisterIDFromSubject(m.Subject()); ev.RegisterID != from {
		return ev, contracts.ErrInvalidMessage, fmt.Errorf("register_id: an event on %s's subject says it is %s's", from, ev.RegisterID)
	}
	d, ok := s.declaration(ctx, ev.RegisterID)
	if !ok {
		return ev, contracts.ErrDeclarationRefused, errors.New("register_id: the register has no declaration in force: a DPO approves it first")
	}
	if err := ev.CheckDeclared(&d, s.deps.Now()); err != nil {
		return ev, contracts.ErrDeclarationRefused, err
	}
	return ev, "", nil
}

// declaration is a register's declaration in force. The catalogue is read again every 30 seconds,
// and at most every 5 seconds for a register not known yet.
func (s *service) declaration(ctx context.Context, registerID string) (contracts.Declaration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.declared[registerID]
	age := time.Since(s.refreshed)
	if (ok && age < 30*time.Second) || (!ok && age < 5*time.Second) {
		return d, ok
	}
	versions, err := s.deps.Declarations.VersionsInForce(ctx, s.deps.Now())
	if err != nil {
		s.log.Warn("the register catalogue cannot be read; using what was read before", "error", err)
		return d, ok
	}
	declared := map[string]contracts.Declaration{}
	for _, v := range versions {
		if parsed, err := v.Parse(); err == nil {
			declared[v.RegisterID] = parsed
		}
	}
	s.declared, s.refreshed = declared, time.Now()
	d, ok = declared[registerID]
	return d, ok
}

// reject keeps an event in the stream of rejected events, with its code and what is wrong with it
// (field by field, never a value), and removes it from the work queue. If even that cannot be done,
// it stays in the work queue, to be rejected when it comes again.
func (s *service) reject(ctx context.Context, m jetstream.Msg, code contracts.ErrorCode, why error) {
	registerID := contracts.RegisterIDFromSubject(m.Subject())
	out := &nats.Msg{Subject: bus.RejectedSubject(registerID), Data: m.Data(), Header: nats.Header{}}
	out.Header.Set(RejectedCode, string(code))
	out.Header.Set(RejectedReason, reason(why))
	if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" {
		out.Header.Set(jetstream.MsgIDHeader, "rejected/"+id)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.deps.JS.PublishMsg(pctx, out); err != nil {
		s.log.Warn("a rejected processing event cannot be kept yet; it will come again", "register", registerID, "error", err)
		_ = m.NakWithDelay(redeliveryDelay(m))
		return
	}
	s.log.Warn("processing event rejected", "register", registerID, "code", code)
	_ = m.Term()
}

// The headers of a rejected event.
const (
	RejectedCode   = "Kirjaamo-Error-Code"
	RejectedReason = "Kirjaamo-Error"
)

// reason says what is wrong with an event by its fields, as the validation names them; the
// messages of the contracts never hold a value.
func reason(err error) string {
	if ve, ok := contracts.AsValidationError(err); ok {
		parts := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// keep checkpoints the logs, sends the notices and deletes what is past its retention, each every so
// often, until ctx ends; a failure is logged and tried again the next time.
func (s *service) keep(ctx context.Context) {
	checkpoint, notice, retention := time.NewTicker(s.cfg.CheckpointEvery), time.NewTicker(s.cfg.NoticeEvery), time.NewTicker(s.cfg.RetentionEvery)
	defer checkpoint.Stop()
	defer notice.Stop()
	defer retention.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkpoint.C:
			if err := s.deps.Store.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("processing logs not checkpointed; will try again", "error", err)
			}
		case <-notice.C:
			if n, err := s.deps.Store.Notify(ctx, s.deps.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("disclosure notices not queued; will try again", "error", err)
			} else if n > 0 {
				s.log.Info("disclosure notices queued", "notices", n)
			}
		case <-retention.C:
			s.expire(ctx)
		}
	}
}

// expire deletes what each register's declared retention no longer allows to be kept.
func (s *service) expire(ctx context.Context) {
	versions, err := s.deps.Declarations.VersionsInForce(ctx, s.deps.Now())
	if err != nil {
		s.log.Warn("the register catalogue cannot be read; retention waits", "error", err)
		return
	}
	retention := map[string]contracts.Period{}
	for _, v := range versions {
		d, err := v.Parse()
		if err != nil || d.Processing == nil {
			continue
		}
		if p, ok := contracts.ParsePeriod(d.Processing.Retention); ok {
			retention[v.RegisterID] = p
		}
	}
	if n, err := s.deps.Store.Expire(ctx, retention, s.deps.Now()); err != nil && ctx.Err() == nil {
		s.log.Warn("processing events past their retention not deleted; will try again", "error", err)
	} else if n > 0 {
		s.log.Info("processing events past their retention deleted", "events", n)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
