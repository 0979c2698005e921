// Package bus is the platform's side of the register protocol on NATS JetStream: the streams, the
// task publisher and the result consumer.
package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/retry"
)

var tracer = telemetry.Tracer("kirjaamo.dev/services/internal/bus")

// Config is how the platform reaches NATS.
type Config struct {
	URL             string `env:"NATS_URL" required:"" doc:"the NATS servers, comma-separated (tls:// on a cluster)"`
	CredentialsFile string `env:"NATS_CREDENTIALS" doc:"the platform's NATS credentials file (kirjaamo-nats-auth issue)"`
	// CAFile is the PEM certificate authority that signed the servers' certificates, for a cluster
	// served over TLS (tls:// URLs): tasks carry identity codes, so they never cross a network in clear.
	CAFile string `env:"NATS_CA" doc:"the NATS cluster's CA certificate (PEM), for tls:// URLs; the adapter SDK reads it too"`
	// Replicas is the JetStream replication of the platform's streams: 1 in dev, 3 on a cluster.
	Replicas int `env:"NATS_REPLICAS" default:"1" doc:"JetStream replicas of the platform's streams and buckets, 1 to 5"`
}

// Check refuses a replication JetStream does not take.
func (c Config) Check() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return errors.New("KIRJAAMO_NATS_REPLICAS must be 1 to 5")
	}
	return nil
}

// Connect opens a connection that reconnects forever: a NATS outage delays work, it does not end it.
// While no server answers at start it keeps trying and says so; a server it cannot trust (a
// certificate of another CA) or credentials the server refuses end it at once, since waiting cannot
// mend a configuration.
func Connect(ctx context.Context, cfg Config, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	var nc *nats.Conn
	err := retry.Servers.Until(ctx, log, "NATS", func(context.Context) error {
		var err error
		nc, err = nats.Connect(cfg.URL, opts...)
		if err != nil && misconfigured(err) {
			return retry.Permanent(err)
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bus: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return nc, js, nil
}

// misconfigured reports a connection error that only a change of configuration can mend.
func misconfigured(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) ||
		errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked)
}

// The platform's stream of the processing events it could not take (services/processing): each kept
// with its code, for the register's owner to fix, and never retried.
const (
	RejectedStream = "KIRJAAMO_PROCESSING_REJECTED"
	// AllRejectedSubject is the rejected stream's filter: outside every register's subjects, so that
	// no register reads or writes it.
	AllRejectedSubject = "kirjaamo.rejected.processing.*"
	// RejectedMaxAge is how long a rejected event is kept for its owner to see.
	RejectedMaxAge = 30 * 24 * time.Hour
)

// RejectedSubject is where a register's rejected events are kept.
func RejectedSubject(registerID string) string { return "kirjaamo.rejected.processing." + registerID }

// Streams are the streams as the platform keeps them. The task, result and processing streams are
// work queues: a task is removed once its register acknowledged it, a result and a processing event
// once the platform stored it. A task or result re-published within a day is dropped by the server;
// a processing event within a minute (more would cost the server much memory at an authority's
// rate, and the store drops a later one all the same).
func Streams(replicas int) []jetstream.StreamConfig {
	out := []jetstream.StreamConfig{
		{Name: contracts.TasksStream, Subjects: []string{contracts.AllTasksSubject}, Description: "tasks sent to registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour},
		{Name: contracts.ResultsStream, Subjects: []string{contracts.AllResultsSubject}, Description: "results sent by registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour},
		{Name: contracts.ProcessingStream, Subjects: []string{contracts.AllProcessingSubject}, Description: "processing events sent by registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute},
		{Name: RejectedStream, Subjects: []string{AllRejectedSubject}, Description: "processing events the platform could not take, with their codes",
			Retention: jetstream.LimitsPolicy, MaxAge: RejectedMaxAge},
	}
	for i := range out {
		out[i].Storage = jetstream.FileStorage
		out[i].Replicas = max(replicas, 1)
	}
	return out
}

// EnsureStreams creates the task and result streams, or brings them up to date. Every service of
// the platform does so at start, often several at once on a cluster that is still electing its
// JetStream leader: a stream already as it should be is left alone, and a creation or update that
// times out is tried again until ctx ends, so that a service waits for JetStream instead of exiting.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) error {
	for _, want := range Streams(replicas) {
		err := retry.Servers.Until(ctx, log, "the JetStream stream "+want.Name, func(ctx context.Context) error {
			if s, err := js.Stream(ctx, want.Name); err == nil && sameStream(s.CachedInfo().Config, want) {
				return nil
			}
			_, err := js.CreateOrUpdateStream(ctx, want)
			return err
		})
		if err != nil {
			return fmt.Errorf("bus: stream %s: %w", want.Name, err)
		}
	}
	return nil
}

// sameStream reports whether a stream's configuration has what the platform asks of it.
func sameStream(have, want jetstream.StreamConfig) bool {
	return reflect.DeepEqual(have.Subjects, want.Subjects) && have.Retention == want.Retention && have.Storage == want.Storage &&
		have.Replicas == want.Replicas && have.Duplicates == want.Duplicates && have.MaxAge == want.MaxAge && have.Description == want.Description
}

// Publisher sends tasks to registers.
type Publisher struct{ JS jetstream.JetStream }

// Publish sends each task with its task id as Nats-Msg-Id, so that a retried dispatch does not
// deliver a task twice, and with the trace context of a span of its own, which the register's
// adapter continues. Publishes go out together and are confirmed together. Those not confirmed (a
// stream whose leader just died, a node the connection is leaving) are sent again after a short
// pause, the Msg-Id keeping them single, until ctx ends: JetStream elects a new leader in seconds,
// well before the activity's own retry would come.
func (p Publisher) Publish(ctx context.Context, tasks []contracts.Task) error {
	msgs := make([]*nats.Msg, len(tasks))
	for i := range tasks {
		if err := tasks[i].Validate(); err != nil {
			return fmt.Errorf("bus: task %s: %w", tasks[i].TaskID, err)
		}
		data, err := json.Marshal(&tasks[i])
		if err != nil {
			return fmt.Errorf("bus: task %s: %w", tasks[i].TaskID, err)
		}
		tctx, span := tracer.Start(ctx, "task "+tasks[i].RegisterID, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("kirjaamo.register", tasks[i].RegisterID), attribute.String("kirjaamo.operation", string(tasks[i].Operation)),
			attribute.String("kirjaamo.request_id", tasks[i].RequestID), attribute.String("kirjaamo.task_id", tasks[i].TaskID)))
		defer span.End()
		msgs[i] = &nats.Msg{Subject: contracts.TaskSubject(tasks[i].RegisterID), Data: data, Header: telemetry.Inject(tctx, nats.Header{})}
		msgs[i].Header.Set(jetstream.MsgIDHeader, tasks[i].TaskID)
	}
	pending := msgs
	return retry.Publishes.Until(ctx, slog.New(slog.DiscardHandler), "JetStream", func(ctx context.Context) error {
		var err error
		pending, err = p.publish(ctx, pending)
		return err
	})
}

// publish sends msgs and waits for their confirmations; it returns those not confirmed.
func (p Publisher) publish(ctx context.Context, msgs []*nats.Msg) ([]*nats.Msg, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var failed []*nats.Msg
	var errs []error
	for _, m := range msgs {
		f, err := p.JS.PublishMsgAsync(m)
		if err != nil {
			failed, errs = append(failed, m), append(errs, err)
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed, errs = append(failed, f.Msg()), append(errs, err)
		case <-ctx.Done():
			return msgs, ctx.Err()
		}
	}
	if len(failed) > 0 {
		return failed, fmt.Errorf("bus: publish %d tasks: %w", len(failed), errors.Join(errs...))
	}
	return nil, nil
}

// ResultHandler takes one validated result. Returning an error leaves the result to be redelivered;
// returning ErrDrop discards it (for results that can never be taken, such as a closed case's).
type ResultHandler func(ctx context.Context, r *contracts.Result) error

// ErrDrop tells the consumer to discard a result for good.
var ErrDrop = errors.New("drop result")

// ResultsAckWait is how long a result delivered to an orchestrator may go unacknowledged before
// JetStream gives it to another: when an orchestrator dies with results in hand, they come back
// after this long. A result still being stored is kept alive (InProgress) meanwhile.
const ResultsAckWait = 4 * time.Second

// ConsumeResults feeds every register's results to handle until ctx ends. Every orchestrator
// process shares one durable consumer, so adding processes shares the load.
func ConsumeResults(ctx context.Context, js jetstream.JetStream, log *slog.Logger, handle ResultHandler) error {
	var cons jetstream.Consumer
	err := retry.Servers.Until(ctx, log, "the results consumer", func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
			Durable:       contracts.ResultsConsumer,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ResultsAckWait,
			MaxDeliver:    -1,
			MaxAckPending: 1000,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("bus: results consumer: %w", err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var r contracts.Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			log.Warn("result dropped: not valid JSON", "subject", msg.Subject())
			_ = msg.Term()
			return
		}
		if err := r.Validate(); err != nil || contracts.RegisterIDFromSubject(msg.Subject()) != r.RegisterID {
			// A register may only answer for itself: the subject it published on says who it is.
			log.Warn("result dropped: invalid", "subject", msg.Subject(), "task", r.TaskID)
			_ = msg.Term()
			return
		}
		hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		// The result came back with the trace of its task: storing it and telling the workflow
		// continue that trace.
		hctx, span := tracer.Start(telemetry.Extract(hctx, msg.Headers()), "result "+r.RegisterID, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("kirjaamo.register", r.RegisterID), attribute.String("kirjaamo.request_id", r.RequestID),
				attribute.String("kirjaamo.task_id", r.TaskID), attribute.String("kirjaamo.result_status", string(r.Status))))
		defer span.End()
		stop := keepInProgress(hctx, msg)
		err := handle(hctx, &r)
		stop()
		if err != nil && !errors.Is(err, ErrDrop) {
			span.SetStatus(codes.Error, "not taken yet")
		}
		switch {
		case err == nil:
			_ = msg.Ack()
		case errors.Is(err, ErrDrop):
			_ = msg.Term()
		default:
			log.WarnContext(hctx, "result not taken yet; will retry", "task", r.TaskID, "error", err)
			_ = msg.NakWithDelay(2 * time.Second)
		}
	}, jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("bus: consume results: %w", err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

// keepInProgress tells JetStream, while a result is being stored, that it is not lost, so that the
// short ack wait redelivers only what a dead orchestrator held. stop ends it.
func keepInProgress(ctx context.Context, msg jetstream.Msg) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ResultsAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { cancel(); <-done }
}
