package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/contracts"
)

// Main runs a register's adapter as a program: configuration from the environment, a drain on SIGINT
// or SIGTERM that ends within the grace period, and a non-zero exit when the adapter cannot run. An
// adapter's main function is one line: sdk.Main(myRegister{...}).
func Main(reg Register) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := LoadConfig()
	if err == nil {
		var shutdown func(context.Context) error
		if shutdown, err = telemetry.Setup(ctx, "kirjaamo-adapter-"+reg.Declaration().RegisterID); err == nil {
			err = Run(ctx, reg, cfg)
			flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = shutdown(flush)
			cancel()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Run connects the register to the platform and serves its tasks until ctx ends, then drains: it
// stops taking tasks and lets the ones under way finish, for Config.GracePeriod at most, whether or
// not NATS is still there. It returns an error if the declaration is not valid, the operations do not
// serve it (Operations.Check), the catalogue refuses it, or the connection cannot be made.
func Run(ctx context.Context, reg Register, cfg Config) error {
	cfg = cfg.withDefaults()
	decl, ops := reg.Declaration(), reg.Operations()
	if err := decl.Validate(); err != nil {
		return fmt.Errorf("sdk: the declaration of %s is not valid: %w", decl.RegisterID, err)
	}
	if err := ops.Check(decl); err != nil {
		return err
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
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	ready := &telemetry.Readiness{}
	if cfg.OpsAddr != "" {
		opsCtx, stopOps := context.WithCancel(context.Background())
		opsDone := make(chan error, 1)
		go func() {
			opsDone <- telemetry.Serve(opsCtx, cfg.OpsAddr, ready, cfg.Logger.With("register", decl.RegisterID))
		}()
		defer func() { stopOps(); <-opsDone }()
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("sdk: connect to NATS: %w", err)
	}
	defer nc.Close()
	ready.Check("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	a, err := newAdapter(ctx, decl, ops, nc, cfg)
	if err != nil {
		return err
	}
	if src, ok := reg.(ProcessingSource); ok && decl.Processing != nil {
		if a.events, err = newEvents(decl, nc, cfg); err != nil {
			return err
		}
		a.source = src
	}
	svc, ok := reg.(Service)
	if !ok {
		return a.serve(ctx, ready)
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	served := make(chan error, 1)
	go func() {
		err := svc.Serve(ctx, a)
		if err != nil && ctx.Err() == nil {
			stop(fmt.Errorf("sdk: the register's service stopped: %w", err))
		}
		served <- err
	}()
	err = a.serve(ctx, ready)
	<-served
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

type adapter struct {
	decl     contracts.Declaration
	ops      Operations
	cfg      Config
	nc       *nats.Conn
	js       jetstream.JetStream
	done     jetstream.KeyValue
	packages jetstream.ObjectStore // nil for a register without lookups
	instance string
	inFlight sync.WaitGroup
	busy     chan struct{}
	// work is the parent of the tasks' contexts, which their handlers run under; giveUp ends it when
	// a stop's grace period is over. What a task does after its handler, with the effect record and
	// its answer, ends when Run closes the connection.
	work   context.Context
	giveUp context.CancelCauseFunc
	// source publishes the register's processing events through events, for a register that is a
	// ProcessingSource and declares them; nil otherwise.
	source ProcessingSource
	events *Events
}

// errGracePeriodOver ends the tasks still under way when a stop's grace period is over.
var errGracePeriodOver = errors.New("the adapter is stopping and its grace period is over")

func newAdapter(ctx context.Context, decl contracts.Declaration, ops Operations, nc *nats.Conn, cfg Config) (*adapter, error) {
	// A small bound on asynchronous publishes awaiting the server's acknowledgement. The object
	// store's Put, which publishes a package's chunks asynchronously, makes its own JetStream context
	// with the default bound (nats.go v1.55.0, object.go), so this does not reach it; Put's memory
	// stays small because it publishes every chunk from one reused buffer, which
	// TestALargeExportIsStreamedIntoASealedPackage measures.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishAsyncMaxPending))
	if err != nil {
		return nil, fmt.Errorf("sdk: jetstream: %w", err)
	}
	host, _ := os.Hostname()
	a := &adapter{decl: decl, ops: ops, cfg: cfg, nc: nc, js: js,
		instance: fmt.Sprintf("%s-%d", host, os.Getpid()), busy: make(chan struct{}, cfg.Concurrency)}
	a.work, a.giveUp = context.WithCancelCause(context.Background())
	if err := a.announce(ctx); err != nil {
		return nil, err
	}
	// The effect record and the package bucket are the platform's to provision: a register's
	// credentials do not allow creating or changing streams, since a stream can capture other
	// subjects or mirror the task stream. Only without such credentials (dev, tests) does the adapter
	// create them itself.
	a.done, err = js.KeyValue(ctx, contracts.DoneBucket(decl.RegisterID))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		a.done, err = js.CreateKeyValue(ctx, DoneBucketConfig(decl.RegisterID))
	}
	if err != nil {
		return nil, fmt.Errorf("sdk: effect record: %w", err)
	}
	if decl.Supports(contracts.OpLookup) {
		a.packages, err = js.ObjectStore(ctx, contracts.PackageBucket(decl.RegisterID))
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			a.packages, err = js.CreateObjectStore(ctx, PackageBucketConfig(decl.RegisterID))
		}
		if err != nil {
			return nil, fmt.Errorf("sdk: package bucket: %w", err)
		}
	}
	return a, nil
}

func (a *adapter) serve(ctx context.Context, ready *telemetry.Readiness) error {
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
		if ctx.Err() != nil {
			return nil // stopped before it served: a stop, not a failure
		}
		return fmt.Errorf("sdk: task consumer: %w", err)
	}
	consumeCtx, err := cons.Consume(a.dispatch, jetstream.PullMaxMessages(a.cfg.Concurrency))
	if err != nil {
		return fmt.Errorf("sdk: consume tasks: %w", err)
	}
	log.Info("register adapter serving", "operations", a.ops.Capabilities(), "instance", a.instance)
	ready.Started()
	var following <-chan struct{}
	if a.source != nil {
		following = a.follow(ctx, log)
	}

	ticker := time.NewTicker(a.cfg.HeartbeatEvery)
	defer ticker.Stop()
	a.heartbeat()
	for {
		select {
		case <-ticker.C:
			a.heartbeat()
		case <-ctx.Done():
			deadline := time.Now().Add(a.cfg.GracePeriod)
			a.drain(consumeCtx, log, deadline)
			if a.source != nil {
				a.stopEvents(following, log, deadline)
			}
			return nil
		}
	}
}

// follow runs the register's ProcessingSource until ctx ends, starting it again, after a growing
// delay, if it fails; the channel is closed once it has ended.
func (a *adapter) follow(ctx context.Context, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wait := time.Second; ; wait = min(wait*2, time.Minute) {
			err := a.source.PublishProcessing(ctx, a.events)
			if err == nil || ctx.Err() != nil {
				return
			}
			log.Warn("the register's processing events stopped; starting them again", "error", err, "after", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
	return done
}

// stopEvents waits until the ProcessingSource has ended and the events it handed over are stored,
// until the deadline; those not stored by then are sent again by the register's next start.
func (a *adapter) stopEvents(following <-chan struct{}, log *slog.Logger, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	select {
	case <-following:
	case <-ctx.Done():
	}
	if err := a.events.Close(ctx); err != nil {
		log.Warn("the register's processing events stopped before all were delivered", "error", err)
	}
}

// drain stops taking tasks and waits until those under way are answered, for the grace period at
// most: with the servers gone, the consumer's drain would wait for a flush that cannot come, and a
// task's answer for an acknowledgement, and a handler may not end by itself. What is still under
// way when the grace period is over is given up: the tasks' contexts end, and as they are not
// acknowledged, JetStream redelivers them to another instance or to this one's next start. A
// handler that ignores its context is left running, and Run returns all the same.
func (a *adapter) drain(consumeCtx jetstream.ConsumeContext, log *slog.Logger, deadline time.Time) {
	log.Info("register adapter draining", "grace_period", a.cfg.GracePeriod)
	consumeCtx.Drain()
	drained := make(chan struct{})
	go func() {
		<-consumeCtx.Closed()
		a.inFlight.Wait()
		close(drained)
	}()
	grace := time.NewTimer(time.Until(deadline))
	defer grace.Stop()
	select {
	case <-drained:
		log.Info("register adapter stopped")
	case <-grace.C:
		consumeCtx.Stop()
		givenUp := len(a.busy) // a worker's token is in busy while its task runs
		a.giveUp(errGracePeriodOver)
		log.Warn("register adapter stopped at the end of its grace period, before its drain was done; "+
			"the tasks given up will be redelivered", "tasks_given_up", givenUp)
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
			a.publish(context.Background(), msg, &task, &contracts.Result{Status: contracts.StatusFailed,
				Error: contracts.ErrorFromValidation(contracts.ErrInvalidMessage, err)})
		}
		_ = msg.Term()
		return
	}
	log = log.With("task", task.TaskID, "operation", task.Operation)
	ctx, cancel := context.WithCancelCause(a.work)
	defer cancel(nil)
	// The task's span continues the trace the platform sent with the task: the request's trace
	// reaches the register's work, and the result carries it back.
	ctx, span := tracer.Start(telemetry.Extract(ctx, msg.Headers()), "task "+string(task.Operation),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("kirjaamo.register", a.decl.RegisterID),
			attribute.String("kirjaamo.operation", string(task.Operation)), attribute.String("kirjaamo.request_id", task.RequestID),
			attribute.String("kirjaamo.task_id", task.TaskID)))
	defer span.End()
	tasksInProgress.WithLabelValues(a.decl.RegisterID).Inc()
	defer tasksInProgress.WithLabelValues(a.decl.RegisterID).Dec()

	// An effect is claimed in the effect record first, so that two deliveries of a task cannot both
	// apply it; a lookup changes nothing and is not claimed, but it too is answered with a recorded
	// cancellation rather than carried out.
	var hold *claim
	if effect(task.Operation) {
		c, prior, busy, err := a.take(ctx, task.TaskID)
		switch {
		case err != nil:
			log.WarnContext(ctx, "the effect record cannot be reached; the task will be redelivered", "error", err)
			tasksRedelivered.WithLabelValues(a.decl.RegisterID, string(task.Operation)).Inc()
			_ = msg.NakWithDelay(backoff(msg))
			return
		case prior != nil:
			log.InfoContext(ctx, "task seen before: answered from the effect record", "status", prior.Status)
			a.publish(ctx, msg, &task, prior)
			return
		case busy > 0:
			// Back when the other delivery has likely finished, and at the latest when its claim
			// would be stale, so that a crashed instance's task is taken over without delay.
			log.InfoContext(ctx, "another delivery of the task is under way; it will come back")
			_ = msg.NakWithDelay(min(backoff(msg), busy+time.Second))
			return
		}
		hold = c
	} else {
		e, err := a.read(ctx, task.TaskID)
		if err != nil {
			log.WarnContext(ctx, "the effect record cannot be reached; the task will be redelivered", "error", err)
			tasksRedelivered.WithLabelValues(a.decl.RegisterID, string(task.Operation)).Inc()
			_ = msg.NakWithDelay(backoff(msg))
			return
		}
		if e.cancelled() {
			log.InfoContext(ctx, "task cancelled by the platform: not carried out")
			a.publish(ctx, msg, &task, e.result())
			return
		}
	}

	withdrawn := make(chan struct{})
	stop := a.keepAlive(ctx, cancel, msg, &task, hold, withdrawn)
	started := time.Now()
	result, retry := a.execute(ctx, &task, withdrawn)
	stop()
	if !effect(task.Operation) && errors.Is(context.Cause(ctx), errTaskCancelled) {
		if e, err := a.read(context.Background(), task.TaskID); err == nil && e.cancelled() {
			log.InfoContext(ctx, "task cancelled by the platform while it ran: stopped")
			result, retry = e.result(), false
		}
	}
	if retry {
		delay := backoff(msg)
		log.WarnContext(ctx, "task failed, will be redelivered", "after", delay)
		tasksRedelivered.WithLabelValues(a.decl.RegisterID, string(task.Operation)).Inc()
		span.SetStatus(codes.Error, "retried")
		if hold != nil {
			hold.release(context.Background())
		}
		_ = msg.NakWithDelay(delay)
		return
	}
	if hold != nil {
		if err := hold.finish(context.Background(), result); err != nil {
			log.WarnContext(ctx, "could not record the effect; redelivery will ask the register again", "error", err)
			tasksRedelivered.WithLabelValues(a.decl.RegisterID, string(task.Operation)).Inc()
			_ = msg.NakWithDelay(backoff(msg))
			return
		}
	}
	a.publish(ctx, msg, &task, result)
	took := time.Since(started)
	observeTask(a.decl.RegisterID, task.Operation, result.Status, took)
	span.SetAttributes(attribute.String("kirjaamo.result_status", string(result.Status)))
	if result.Status == contracts.StatusFailed {
		span.SetStatus(codes.Error, "failed")
	}
	log.InfoContext(ctx, "task done", "status", result.Status, "took", took.Round(time.Millisecond))
}

var tracer = telemetry.Tracer("kirjaamo.dev/adapters/sdk")

// effect reports whether an operation changes the register's data, and so is claimed first.
func effect(op contracts.Operation) bool {
	return op != contracts.OpLookup && op != contracts.OpListRecipients
}

// keepAlive tells JetStream the task is still being worked on, so a slow lookup is not redelivered
// to another instance while it runs; renews the claim on an effect; and stops anything else when
// the platform cancels it. stop ends it and waits until it has.
func (a *adapter) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, msg jetstream.Msg, task *contracts.Task, hold *claim, withdrawn chan<- struct{}) (stop func()) {
	ctx, end := context.WithCancel(ctx)
	t := time.NewTicker(a.cfg.AckWait / 3)
	var wg sync.WaitGroup
	watch := make(chan time.Time)
	if hold == nil {
		wg.Go(func() { a.watchCancellation(ctx, cancel, task.TaskID, watch) })
	} else {
		wg.Go(func() { a.watchWithdrawal(ctx, task.TaskID, withdrawn, watch) })
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				_ = msg.InProgress()
				if hold != nil {
					hold.renew(ctx)
				}
				select {
				case watch <- now:
				default:
				}
			}
		}
	})
	return func() {
		end()
		wg.Wait()
		t.Stop()
	}
}

// execute runs the task's handler and makes its result; retry says to leave the task for a
// redelivery instead.
func (a *adapter) execute(ctx context.Context, task *contracts.Task, withdrawn <-chan struct{}) (res *contracts.Result, retry bool) {
	q := Query{TaskID: task.TaskID, RequestID: task.RequestID, Right: task.Right, ReceivedAt: task.ReceivedAt, ids: task.Identifiers,
		withdrawn: withdrawn}
	// apply is the handler of an effect: an operation that changes the register's data.
	var apply func(context.Context, Query) (int, error)
	switch task.Operation {
	case contracts.OpLookup:
		if a.ops.Lookup == nil && a.ops.Export == nil {
			return unsupported(task.Operation), false
		}
		c := a.newCollector(ctx, task)
		var err error
		if a.ops.Export != nil {
			err = a.ops.Export(ctx, q, c)
		} else {
			var records []contracts.Record
			records, err = a.ops.Lookup(ctx, q)
			for i := 0; err == nil && i < len(records); i++ {
				err = c.Write(records[i])
			}
		}
		if res, err = c.finish(err); err != nil {
			return classify(err)
		}
		return res, false
	case contracts.OpListRecipients:
		if a.ops.Recipients == nil {
			return unsupported(task.Operation), false
		}
		recipients, err := a.ops.Recipients(ctx, q)
		if err != nil {
			return classify(err)
		}
		if len(recipients) == 0 {
			return &contracts.Result{Status: contracts.StatusNoData}, false
		}
		return &contracts.Result{Status: contracts.StatusFound, Recipients: recipients}, false
	case contracts.OpRectify:
		if a.ops.Rectify != nil {
			apply = func(ctx context.Context, q Query) (int, error) { return a.ops.Rectify(ctx, q, task.Rectification) }
		}
	case contracts.OpErase:
		apply = a.ops.Erase
	case contracts.OpRestrict:
		apply = a.ops.Restrict
	case contracts.OpLiftRestriction:
		apply = a.ops.LiftRestriction
	case contracts.OpObject:
		apply = a.ops.Object
	}
	if apply == nil {
		return unsupported(task.Operation), false
	}
	affected, err := apply(ctx, q)
	if err != nil {
		return classify(err)
	}
	if affected == 0 {
		return &contracts.Result{Status: contracts.StatusNoData}, false
	}
	return &contracts.Result{Status: contracts.StatusApplied, Affected: affected}, false
}

// publish sends the result, with the task's trace context, and acknowledges the task only once
// JetStream has stored the result, so a crash in between means a redelivery, never a lost answer.
func (a *adapter) publish(traced context.Context, msg jetstream.Msg, task *contracts.Task, res *contracts.Result) {
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
	out := &nats.Msg{Subject: contracts.ResultSubject(a.decl.RegisterID), Data: data, Header: telemetry.Inject(traced, nil)}
	if _, err := a.js.PublishMsg(ctx, out, jetstream.WithMsgID("result/"+task.TaskID)); err != nil {
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
