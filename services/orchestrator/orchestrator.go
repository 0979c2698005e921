// Package orchestrator is the Temporal worker that runs the request workflows, and the collector
// that hands the registers' results from JetStream to them.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/workflows/request"
)

// Config is the orchestrator's own configuration.
type Config struct {
	// MaxConcurrentActivities bounds the activities one worker runs at once.
	MaxConcurrentActivities int
	// OfficeEmail receives deadline reminders and escalations.
	OfficeEmail string
}

// LoadConfig reads KIRJAAMO_ORCHESTRATOR_ACTIVITIES.
func LoadConfig() (Config, error) {
	n, err := strconv.Atoi(platform.Env("KIRJAAMO_ORCHESTRATOR_ACTIVITIES", "200"))
	if err != nil || n < 1 {
		return Config{}, errors.New("KIRJAAMO_ORCHESTRATOR_ACTIVITIES must be a positive integer")
	}
	return Config{MaxConcurrentActivities: n, OfficeEmail: platform.Env("KIRJAAMO_OFFICE_EMAIL", "kirjaamo@localhost")}, nil
}

// Run serves workflows and collects results until ctx ends.
func Run(ctx context.Context, cfg Config, deps *platform.Deps) error {
	w := worker.New(deps.Temporal, request.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		WorkflowPanicPolicy:                worker.BlockWorkflow,
	})
	w.RegisterWorkflowWithOptions(request.Workflow, workflow.RegisterOptions{Name: request.WorkflowName})
	w.RegisterActivity(&request.Activities{
		Cases:     Cases{DB: deps.DB, OfficeEmail: cfg.OfficeEmail},
		Catalogue: Catalogue{DB: deps.DB},
		Tasks:     bus.Publisher{JS: deps.JS},
		Cancel:    Canceller{JS: deps.JS},
		Keys:      deps.Packages,
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("orchestrator: start worker: %w", err)
	}
	defer w.Stop()
	deps.Log.Info("orchestrator serving", "task_queue", request.TaskQueue)

	g, ctx := errgroup.WithContext(ctx)
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
func collect(ctx context.Context, deps *platform.Deps, r *contracts.Result) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return bus.ErrDrop
	}
	if _, _, followUp, _ := contracts.SplitTaskID(r.TaskID); followUp != "" {
		// A follow-up's answer (a lifted restriction) goes to the record; no workflow waits for it.
		return deps.DB.Audit(ctx, store.AuditEvent{Actor: "register " + r.RegisterID, Role: "register", Action: string(followUp),
			RequestID: r.RequestID, Detail: map[string]any{"status": r.Status, "affected": r.Affected}})
	}
	remaining, answered, err := deps.DB.RecordAnswer(ctx, r.RequestID, r.RegisterID, string(r.Status), raw)
	if err != nil {
		return err
	}
	if remaining > 0 {
		return nil
	}
	err = deps.Temporal.SignalWorkflow(ctx, request.WorkflowID(r.RequestID), "", request.SignalRegistersAnswered,
		request.Answered{Registers: answered})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// The request is closed or unknown: its record keeps the late answer; nothing waits for it.
		deps.Log.Warn("result for a request with no open workflow", "task", r.TaskID)
		return bus.ErrDrop
	}
	return err
}
