package bench

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The bare engine: the same Temporal server running a workflow that fans out to m no-op activities
// and waits for them all. It is the floor the platform is measured against.
const bareTaskQueue = "kirjaamo-bench-bare"

// BareFanOut runs m no-op activities at once and waits for all of them.
func BareFanOut(ctx workflow.Context, m int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second}})
	futures := make([]workflow.Future, m)
	for i := range futures {
		futures[i] = workflow.ExecuteActivity(ctx, NoOp)
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// NoOp does nothing, at once.
func NoOp(context.Context) error { return nil }
