// Package flow connects services to Temporal with the platform's payload encryption, so that no
// client or worker can send a payload in clear text by forgetting an option.
package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"kirjaamo.dev/workflows/codec"
	"kirjaamo.dev/workflows/request"
)

// Config is how a service reaches Temporal.
type Config struct {
	HostPort  string
	Namespace string
	// PayloadKeys are the codec's keys, "id:base64,..." with the encrypting key first.
	PayloadKeys string
}

// Dial connects to Temporal with the encrypting data and failure converters.
func Dial(cfg Config, log *slog.Logger) (client.Client, error) {
	c, err := codec.ParseKeys(cfg.PayloadKeys)
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	cl, err := client.Dial(client.Options{
		HostPort:         cfg.HostPort,
		Namespace:        cfg.Namespace,
		DataConverter:    c.DataConverter(),
		FailureConverter: c.FailureConverter(),
		Logger:           tlog.NewStructuredLogger(quiet(log)),
	})
	if err != nil {
		return nil, fmt.Errorf("flow: dial %s: %w", cfg.HostPort, err)
	}
	return cl, nil
}

// quiet keeps the SDK's chatter (every worker start, every poll) out of the info log.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{log.Handler(), slog.LevelWarn}).With("component", "temporal")
}

// StartRequest starts a request's workflow, once: the request id is the workflow id, so a request
// sent again (the same idempotency key, a retried form) finds the workflow already started and
// changes nothing.
func StartRequest(ctx context.Context, c client.Client, in request.Input) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       request.WorkflowID(in.RequestID),
		TaskQueue:                request.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, request.WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("flow: start request %s: %w", in.RequestID, err)
	}
	return nil
}
