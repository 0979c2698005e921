package orchestrator

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/workflows/request"
)

// Canceller cancels a withdrawn request's tasks through each register's effect record with the
// SDK's sdk.CancelTask, as contracts/PROTOCOL.md ("The effect record, claims and cancellation")
// describes: if no adapter instance had claimed the task, it will never be carried out; otherwise
// its result comes as usual.
type Canceller struct{ JS jetstream.JetStream }

// withdrawnReason is the cancellation's message, which staff read: no personal data.
const withdrawnReason = "the data subject withdrew the request"

func (c Canceller) Cancel(ctx context.Context, registerID, taskID string) (request.CancelState, error) {
	cancelled, err := sdk.CancelTask(ctx, c.JS, registerID, taskID, withdrawnReason)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		// No effect record: the register does not speak the protocol's cancellation here, so the
		// task may still be carried out; its answer, if one comes, is recorded as usual.
		return request.CancelUnderWay, nil
	case err != nil:
		return "", fmt.Errorf("cancel %s: %w", taskID, err)
	case cancelled:
		return request.CancelDone, nil
	}
	return request.CancelUnderWay, nil
}
