// Package bus is the platform's side of the register protocol on NATS JetStream: the streams, the
// task publisher and the result consumer.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
)

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
func Connect(cfg Config, name string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
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

// EnsureStreams creates or updates the streams. The task, result and processing streams are work
// queues: a task is removed once its register acknowledged it, a result and a processing event once
// the platform stored it. A task or result re-published within a day is dropped by the server; a
// processing event within a minute (more would cost the server much memory at an authority's rate,
// and the store drops a later one all the same).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas < 1 {
		replicas = 1
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: contracts.TasksStream, Subjects: []string{contracts.AllTasksSubject}, Description: "tasks sent to registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour},
		{Name: contracts.ResultsStream, Subjects: []string{contracts.AllResultsSubject}, Description: "results sent by registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour},
		{Name: contracts.ProcessingStream, Subjects: []string{contracts.AllProcessingSubject}, Description: "processing events sent by registers",
			Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute},
		{Name: RejectedStream, Subjects: []string{AllRejectedSubject}, Description: "processing events the platform could not take, with their codes",
			Retention: jetstream.LimitsPolicy, MaxAge: RejectedMaxAge},
	} {
		cfg.Storage = jetstream.FileStorage
		cfg.Replicas = replicas
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// Publisher sends tasks to registers.
type Publisher struct{ JS jetstream.JetStream }

// Publish sends each task with its task id as Nats-Msg-Id, so that a retried dispatch does not
// deliver a task twice. Publishes go out together and are confirmed together.
func (p Publisher) Publish(ctx context.Context, tasks []contracts.Task) error {
	futures := make([]jetstream.PubAckFuture, 0, len(tasks))
	for i := range tasks {
		if err := tasks[i].Validate(); err != nil {
			return fmt.Errorf("bus: task %s: %w", tasks[i].TaskID, err)
		}
		data, err := json.Marshal(&tasks[i])
		if err != nil {
			return fmt.Errorf("bus: task %s: %w", tasks[i].TaskID, err)
		}
		f, err := p.JS.PublishAsync(contracts.TaskSubject(tasks[i].RegisterID), data, jetstream.WithMsgID(tasks[i].TaskID))
		if err != nil {
			return fmt.Errorf("bus: publish task %s: %w", tasks[i].TaskID, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: publish task: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ResultHandler takes one validated result. Returning an error leaves the result to be redelivered;
// returning ErrDrop discards it (for results that can never be taken, such as a closed case's).
type ResultHandler func(ctx context.Context, r *contracts.Result) error

// ErrDrop tells the consumer to discard a result for good.
var ErrDrop = errors.New("drop result")

// ConsumeResults feeds every register's results to handle until ctx ends. Every orchestrator
// process shares one durable consumer, so adding processes shares the load.
func ConsumeResults(ctx context.Context, js jetstream.JetStream, log *slog.Logger, handle ResultHandler) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
		Durable:       contracts.ResultsConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 1000,
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
		switch err := handle(hctx, &r); {
		case err == nil:
			_ = msg.Ack()
		case errors.Is(err, ErrDrop):
			_ = msg.Term()
		default:
			log.Warn("result not taken yet; will retry", "task", r.TaskID, "error", err)
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
