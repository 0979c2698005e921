// Package orchestrator is the Temporal worker that runs the request workflows, and the collector
// that hands the registers' results from JetStream to them.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/workflows/request"
)

// Config is the orchestrator's own configuration.
type Config struct {
	// MaxConcurrentActivities bounds the activities one worker runs at once.
	MaxConcurrentActivities int `env:"ORCHESTRATOR_ACTIVITIES" default:"200" doc:"how many activities one orchestrator runs at once"`
	// CheckpointEvery is how often the record's head is checkpointed, if it moved: entries after
	// the latest checkpoint could be cut off the record's end without showing until the next one.
	CheckpointEvery time.Duration `env:"RECORD_CHECKPOINT_EVERY" default:"1m" doc:"how often the orchestrator signs and publishes a checkpoint of the record, if it grew (README, A record that proves itself)"`
}

// LoadConfig reads the orchestrator's configuration from the environment.
func LoadConfig() (Config, error) {
	var cfg Config
	return cfg, config.Load("KIRJAAMO_", &cfg)
}

// Check refuses a worker that could run nothing.
func (c *Config) Check() error {
	if c.MaxConcurrentActivities < 1 {
		return errors.New("KIRJAAMO_ORCHESTRATOR_ACTIVITIES must be a positive integer")
	}
	return nil
}

// Deps are what the orchestrator runs on: Temporal for its worker, JetStream for the registers'
// tasks and results, and the stores the activities use.
type Deps struct {
	Temporal client.Client
	JS       jetstream.JetStream
	// Activities are the workflow's side effects, on their ports.
	Activities *request.Activities
	// Answers stores what the registers answered (*cases.Repo).
	Answers Answers
	// Requests tells a request's workflow that its registers have answered (*request.Client).
	Requests interface {
		RegistersAnswered(ctx context.Context, requestID string, a request.Answered) error
	}
	// Record keeps the answers of follow-up tasks, which no workflow waits for.
	Record interface {
		Write(ctx context.Context, e record.Entry) error
	}
	// Checkpoints signs and publishes the record's checkpoints (ledger.Checkpointer), every
	// CheckpointEvery; nil publishes none.
	Checkpoints *ledger.Checkpointer
	Log         *slog.Logger
}

// Answers stores a register's answer and counts the case's awaited registers.
type Answers interface {
	RecordAnswer(ctx context.Context, requestID, registerID string, status contracts.ResultStatus, result json.RawMessage) (remaining, answered int, waited time.Duration, err error)
}

// Run serves workflows and collects results until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	w := worker.New(deps.Temporal, request.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		WorkflowPanicPolicy:                worker.BlockWorkflow,
	})
	w.RegisterWorkflowWithOptions(request.Workflow, workflow.RegisterOptions{Name: request.WorkflowName})
	w.RegisterActivity(deps.Activities)
	if err := w.Start(); err != nil {
		return fmt.Errorf("orchestrator: start worker: %w", err)
	}
	defer w.Stop()
	deps.Log.Info("orchestrator serving", "task_queue", request.TaskQueue)

	g, ctx := errgroup.WithContext(ctx)
	if deps.Checkpoints != nil {
		g.Go(func() error { return deps.Checkpoints.Run(ctx) })
	}
	g.Go(func() error {
		return bus.ConsumeResults(ctx, deps.JS, deps.Log, func(ctx context.Context, r *contracts.Result) error {
			return collect(ctx, deps, r)
		})
	})
	return g.Wait()
}

// collect stores a register's result and, once every awaited register of the request has
// answered, tells its workflow. It signals whenever the count is zero, even for a redelivered
// result, because a crash may have come between storing the last answer and the signal.
func collect(ctx context.Context, deps Deps, r *contracts.Result) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return bus.ErrDrop
	}
	if _, _, followUp, _ := contracts.SplitTaskID(r.TaskID); followUp != "" {
		// A follow-up's answer (a lifted restriction) goes to the record; no workflow waits for it.
		return deps.Record.Write(ctx, record.Entry{Actor: "register " + r.RegisterID, Role: "register", Action: string(followUp),
			RequestID: r.RequestID, Detail: map[string]any{"status": r.Status, "affected": r.Affected}})
	}
	remaining, answered, waited, err := deps.Answers.RecordAnswer(ctx, r.RequestID, r.RegisterID, r.Status, raw)
	if err != nil {
		return err
	}
	if waited > 0 { // the first time: a redelivered answer was counted before
		registerAnswers.WithLabelValues(r.RegisterID, string(r.Status)).Inc()
		registerAnswerSeconds.WithLabelValues(r.RegisterID).Observe(waited.Seconds())
	}
	if remaining > 0 {
		return nil
	}
	err = deps.Requests.RegistersAnswered(ctx, r.RequestID, request.Answered{Registers: answered})
	if errors.Is(err, request.ErrNotFound) {
		// The request is closed or unknown: its record keeps the late answer; nothing waits for it.
		deps.Log.WarnContext(ctx, "result for a request with no open workflow", "task", r.TaskID)
		return bus.ErrDrop
	}
	return err
}
