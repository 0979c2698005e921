package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
)

// Main runs a register's adapter as a program: configuration from the environment, a graceful drain
// on SIGINT or SIGTERM, and a non-zero exit when the adapter cannot run. An adapter's main function is
// one line: sdk.Main(myRegister{...}).
func Main(reg Register) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := LoadConfig()
	if err == nil {
		err = Run(ctx, reg, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Run connects the register to the platform and serves its tasks until ctx ends, then drains: it
// stops taking tasks and lets the ones under way finish. It returns an error if the declaration is
// refused or the connection cannot be made.
func Run(ctx context.Context, reg Register, cfg Config) error {
	cfg = cfg.withDefaults()
	decl := reg.Declaration()
	if err := decl.Validate(); err != nil {
		return fmt.Errorf("sdk: the declaration of %s is not valid: %w", decl.RegisterID, err)
	}
	if missing := Unimplemented(reg); len(missing) > 0 {
		return fmt.Errorf("sdk: %s declares operations its code does not implement: %v", decl.RegisterID, missing)
	}
	if cfg.InboxPrefix == "" {
		cfg.InboxPrefix = "_INBOX_" + decl.RegisterID
	}
	opts := []nats.Option{
		nats.Name("kirjaamo-register-" + decl.RegisterID),
		nats.MaxReconnects(-1),
		nats.CustomInboxPrefix(cfg.InboxPrefix),
	}
	if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("sdk: connect to NATS: %w", err)
	}
	defer nc.Close()
	a, err := newAdapter(ctx, reg, decl, nc, cfg)
	if err != nil {
		return err
	}
	return a.serve(ctx)
}

type adapter struct {
	reg      Register
	decl     contracts.Declaration
	cfg      Config
	nc       *nats.Conn
	js       jetstream.JetStream
	done     jetstream.KeyValue
	instance string
	inFlight sync.WaitGroup
	busy     chan struct{}
}

func newAdapter(ctx context.Context, reg Register, decl contracts.Declaration, nc *nats.Conn, cfg Config) (*adapter, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("sdk: jetstream: %w", err)
	}
	host, _ := os.Hostname()
	a := &adapter{reg: reg, decl: decl, cfg: cfg, nc: nc, js: js,
		instance: fmt.Sprintf("%s-%d", host, os.Getpid()), busy: make(chan struct{}, cfg.Concurrency)}
	if err := a.announce(ctx); err != nil {
		return nil, err
	}
	// The record of effects already applied, by task id. It holds statuses and counts only, never
	// the subject's data, so keeping it in NATS discloses nothing. The platform provisions it: a
	// register's credentials do not allow creating or changing streams, since a stream can capture
	// other subjects or mirror the task stream. Only without such credentials (dev, tests) does the
	// adapter create it itself.
	a.done, err = js.KeyValue(ctx, DoneBucketConfig(decl.RegisterID).Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		a.done, err = js.CreateKeyValue(ctx, DoneBucketConfig(decl.RegisterID))
	}
	if err != nil {
		return nil, fmt.Errorf("sdk: effect record: %w", err)
	}
	return a, nil
}

// DoneBucketConfig is the key-value bucket in which a register's adapters record the effects they
// applied, by task id: "register-<id>-done".
func DoneBucketConfig(registerID string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      "register-" + registerID + "-done",
		Description: "effects applied by register " + registerID + ", by task id",
		History:     1,
		TTL:         400 * 24 * time.Hour, // longer than any request can stay open
	}
}

func (a *adapter) serve(ctx context.Context) error {
	log := a.cfg.Logger.With("register", a.decl.RegisterID)
	cons, err := a.js.CreateOrUpdateConsumer(ctx, contracts.TasksStream, jetstream.ConsumerConfig{
		Durable:       contracts.TaskConsumer(a.decl.RegisterID),
		FilterSubject: contracts.TaskSubject(a.decl.RegisterID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       a.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: a.cfg.Concurrency * 4,
	})
	if err != nil {
		return fmt.Errorf("sdk: task consumer: %w", err)
	}
	consumeCtx, err := cons.Consume(a.dispatch, jetstream.PullMaxMessages(a.cfg.Concurrency))
	if err != nil {
		return fmt.Errorf("sdk: consume tasks: %w", err)
	}
	log.Info("register adapter serving", "operations", Capabilities(a.reg), "instance", a.instance)

	ticker := time.NewTicker(a.cfg.HeartbeatEvery)
	defer ticker.Stop()
	a.heartbeat()
	for {
		select {
		case <-ticker.C:
			a.heartbeat()
		case <-ctx.Done():
			log.Info("register adapter draining")
			consumeCtx.Drain()
			<-consumeCtx.Closed()
			a.inFlight.Wait()
			log.Info("register adapter stopped")
			return nil
		}
	}
}

// dispatch hands a task to a free worker. It blocks while all are busy, which stops the consumer
// from pulling more than the adapter can take.
func (a *adapter) dispatch(msg jetstream.Msg) {
	a.busy <- struct{}{}
	a.inFlight.Add(1)
	go func() {
		defer func() { <-a.busy; a.inFlight.Done() }()
		a.handle(msg)
	}()
}

func (a *adapter) handle(msg jetstream.Msg) {
	log := a.cfg.Logger.With("register", a.decl.RegisterID)
	var task contracts.Task
	if err := json.Unmarshal(msg.Data(), &task); err != nil {
		log.Warn("task dropped: not valid JSON", "error_class", "invalid_message")
		_ = msg.Term()
		return
	}
	if err := task.Validate(); err != nil || task.RegisterID != a.decl.RegisterID {
		if err == nil {
			err = fmt.Errorf("task for register %s delivered to %s", task.RegisterID, a.decl.RegisterID)
		}
		log.Warn("task refused: invalid", "task", task.TaskID, "error_class", "invalid_message")
		if task.TaskID != "" && task.RegisterID == a.decl.RegisterID {
			a.publish(msg, &task, &contracts.Result{Status: contracts.StatusFailed,
				Error: contracts.ErrorFromValidation(contracts.ErrInvalidMessage, err)})
		}
		_ = msg.Term()
		return
	}
	log = log.With("task", task.TaskID, "operation", task.Operation)

	if task.Operation != contracts.OpLookup && task.Operation != contracts.OpListRecipients {
		if prior, ok := a.alreadyApplied(&task); ok {
			log.Info("task seen before: effect not applied again")
			a.publish(msg, &task, prior)
			return
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.keepAlive(ctx, msg)

	started := time.Now()
	result, retry := a.execute(ctx, &task)
	if retry {
		delay := backoff(msg)
		log.Warn("task failed, will be redelivered", "after", delay)
		_ = msg.NakWithDelay(delay)
		return
	}
	if task.Operation != contracts.OpLookup && task.Operation != contracts.OpListRecipients {
		if err := a.recordApplied(&task, result); err != nil {
			log.Warn("could not record the effect; redelivery will ask the register again", "error", err)
			_ = msg.NakWithDelay(backoff(msg))
			return
		}
	}
	a.publish(msg, &task, result)
	log.Info("task done", "status", result.Status, "took", time.Since(started).Round(time.Millisecond))
}

// keepAlive tells JetStream the task is still being worked on, so a slow lookup is not redelivered
// to another instance while it runs.
func (a *adapter) keepAlive(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTicker(a.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = msg.InProgress()
		}
	}
}

func (a *adapter) execute(ctx context.Context, task *contracts.Task) (*contracts.Result, bool) {
	q := Query{TaskID: task.TaskID, RequestID: task.RequestID, Right: task.Right, ReceivedAt: task.ReceivedAt, ids: task.Identifiers}
	var (
		records    []contracts.Record
		recipients []string
		affected   int
		err        error
	)
	switch task.Operation {
	case contracts.OpLookup:
		f, ok := a.reg.(Finder)
		if !ok {
			return unsupported(task.Operation), false
		}
		records, err = f.Lookup(ctx, q)
	case contracts.OpErase:
		e, ok := a.reg.(Eraser)
		if !ok {
			return unsupported(task.Operation), false
		}
		affected, err = e.Erase(ctx, q)
	case contracts.OpRectify:
		r, ok := a.reg.(Rectifier)
		if !ok {
			return unsupported(task.Operation), false
		}
		affected, err = r.Rectify(ctx, q, task.Rectification)
	case contracts.OpRestrict, contracts.OpLiftRestriction:
		r, ok := a.reg.(Restricter)
		if !ok {
			return unsupported(task.Operation), false
		}
		if task.Operation == contracts.OpRestrict {
			affected, err = r.Restrict(ctx, q)
		} else {
			affected, err = r.LiftRestriction(ctx, q)
		}
	case contracts.OpObject:
		o, ok := a.reg.(Objector)
		if !ok {
			return unsupported(task.Operation), false
		}
		affected, err = o.Object(ctx, q)
	case contracts.OpListRecipients:
		l, ok := a.reg.(RecipientLister)
		if !ok {
			return unsupported(task.Operation), false
		}
		recipients, err = l.Recipients(ctx, q)
	default:
		return unsupported(task.Operation), false
	}
	if err != nil {
		return classify(err)
	}
	res := &contracts.Result{Affected: affected, Recipients: recipients}
	switch {
	case len(records) > 0:
		res.Status, res.Records = contracts.StatusFound, records
	case task.Operation == contracts.OpLookup, task.Operation == contracts.OpListRecipients && len(recipients) == 0,
		affected == 0 && task.Operation != contracts.OpListRecipients:
		res.Status = contracts.StatusNoData
	case task.Operation == contracts.OpListRecipients:
		res.Status = contracts.StatusFound
	default:
		res.Status = contracts.StatusApplied
	}
	return res, false
}

func (a *adapter) alreadyApplied(task *contracts.Task) (*contracts.Result, bool) {
	entry, err := a.done.Get(context.Background(), doneKey(task.TaskID))
	if err != nil {
		return nil, false
	}
	// Anything but a recorded outcome is not one: NATS does not check reply subjects against
	// permissions, so another client of the account can make a server reply land in this bucket.
	var prior contracts.Result
	if json.Unmarshal(entry.Value(), &prior) != nil {
		return nil, false
	}
	switch prior.Status {
	case contracts.StatusApplied, contracts.StatusNoData, contracts.StatusRefused, contracts.StatusFailed:
		return &prior, true
	}
	return nil, false
}

func (a *adapter) recordApplied(task *contracts.Task, res *contracts.Result) error {
	b, err := json.Marshal(contracts.Result{Status: res.Status, Affected: res.Affected, Refusal: res.Refusal, Error: res.Error})
	if err != nil {
		return err
	}
	_, err = a.done.Put(context.Background(), doneKey(task.TaskID), b)
	return err
}

// doneKey makes a task id a valid key: task ids are "<uuid>/<register id>", which KV accepts as is.
func doneKey(taskID string) string { return taskID }

// publish sends the result and acknowledges the task only once JetStream has stored the result, so
// a crash in between means a redelivery, never a lost answer.
func (a *adapter) publish(msg jetstream.Msg, task *contracts.Task, res *contracts.Result) {
	res.Protocol = contracts.ResultProtocol
	res.TaskID, res.RequestID, res.RegisterID, res.Operation = task.TaskID, task.RequestID, task.RegisterID, task.Operation
	if res.FinishedAt.IsZero() {
		res.FinishedAt = time.Now().UTC()
	}
	if err := res.Validate(); err != nil {
		// The adapter produced something the platform cannot accept: report that instead, so the
		// office sees a failed task rather than waiting for an answer that never validates.
		a.cfg.Logger.Error("adapter produced an invalid result", "register", a.decl.RegisterID, "task", task.TaskID, "error", err)
		res = &contracts.Result{Protocol: contracts.ResultProtocol, TaskID: task.TaskID, RequestID: task.RequestID,
			RegisterID: task.RegisterID, Operation: task.Operation, Status: contracts.StatusFailed, FinishedAt: res.FinishedAt,
			Error: contracts.ErrorFromValidation(contracts.ErrInternal, err)}
		res.Error.Retryable = false
	}
	data, err := json.Marshal(res)
	if err != nil {
		_ = msg.NakWithDelay(backoff(msg))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.js.Publish(ctx, contracts.ResultSubject(a.decl.RegisterID), data, jetstream.WithMsgID("result/"+task.TaskID)); err != nil {
		_ = msg.NakWithDelay(backoff(msg))
		return
	}
	if err := msg.DoubleAck(ctx); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		a.cfg.Logger.Warn("task ack failed; the task will be redelivered and answered from the effect record",
			"register", a.decl.RegisterID, "task", task.TaskID)
	}
}

// backoff grows with each delivery of the same task: 1 s, 2 s, 4 s ... up to 5 minutes.
func backoff(msg jetstream.Msg) time.Duration {
	n := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	if n > 9 {
		return 5 * time.Minute
	}
	return min(time.Duration(1<<(n-1))*time.Second, 5*time.Minute)
}
