package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/contracts"
)

// Service is what a register may run beside its handlers for as long as its adapter runs: an
// adapter that forwards its tasks to an external processor serves the processor's callbacks, say.
// A Register that implements it has Serve called once the adapter is announced; Serve returns when
// ctx ends, which is when the adapter stops, and an error from it stops the adapter.
type Service interface {
	Serve(ctx context.Context, platform Platform) error
}

// Platform is what the SDK offers a Service of the platform.
type Platform interface {
	// Report writes an event to the platform's record (contracts.Event): what the adapter saw that
	// is no task's answer, such as a callback it refused. It returns once the record holds it, and
	// retries while the platform does not answer, until ctx ends. The SDK fills in the protocol,
	// the register and, if it is zero, the time.
	Report(ctx context.Context, e contracts.Event) error
}

// ErrEventRefused is returned by Report when the platform refuses an event as invalid.
var ErrEventRefused = errors.New("event refused by the platform")

// Report sends an event to the catalogue, which answers once the record holds it.
func (a *adapter) Report(ctx context.Context, e contracts.Event) error {
	e.Protocol, e.RegisterID = contracts.EventProtocol, a.decl.RegisterID
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("sdk: event: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sdk: event: %w", err)
	}
	for wait := 200 * time.Millisecond; ; wait = min(wait*2, 30*time.Second) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := a.nc.RequestWithContext(rctx, contracts.EventSubject(a.decl.RegisterID), data)
		cancel()
		if err == nil {
			var ans contracts.EventReply
			if err := json.Unmarshal(reply.Data, &ans); err != nil {
				return fmt.Errorf("sdk: event reply: %w", err)
			}
			if !ans.Recorded {
				if ans.Error != nil {
					return fmt.Errorf("sdk: %w: %w", ErrEventRefused, ans.Error)
				}
				return fmt.Errorf("sdk: %w", ErrEventRefused)
			}
			return nil
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("sdk: event: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sdk: event not recorded: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}
