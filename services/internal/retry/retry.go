// Package retry is how a service waits for its servers instead of dying: a step that needs
// PostgreSQL, NATS or Temporal is tried again with a growing pause until it succeeds, the service
// stops, or it fails in a way waiting cannot fix (a wrong password, a certificate of another CA). The
// service says what it waits for, once when it starts waiting, now and then while it still does, and
// once when it is through.
package retry

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Policy is how long to pause between tries: from First, doubling up to Max, each pause drawn
// from its upper half so that services started together do not try again in step.
type Policy struct {
	First, Max time.Duration
	// Attempt bounds one try; zero leaves it to the caller's context.
	Attempt time.Duration
}

// Servers is the policy for reaching a server at start: the first pause a fifth of a second, then
// up to five seconds, each try ten seconds at most.
var Servers = Policy{First: 200 * time.Millisecond, Max: 5 * time.Second, Attempt: 10 * time.Second}

// Publishes is the policy for messages JetStream has not confirmed: sent again within a second,
// each try five seconds at most.
var Publishes = Policy{First: 100 * time.Millisecond, Max: time.Second, Attempt: 5 * time.Second}

// remindEvery is how often a service still waiting says so again.
const remindEvery = 30 * time.Second

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks an error that trying again cannot fix: Until returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Until runs try until it returns nil, returns an error marked Permanent, or ctx ends; what names
// what is being waited for in the log ("NATS", "the NATS streams"). It returns the last error.
func (p Policy) Until(ctx context.Context, log *slog.Logger, what string, try func(context.Context) error) error {
	started := time.Now()
	pause := p.First
	var lastSaid time.Time
	for attempt := 1; ; attempt++ {
		err := p.once(ctx, try)
		switch {
		case err == nil:
			if attempt > 1 {
				log.Info("reached "+what, "attempts", attempt, "waited", time.Since(started).Round(time.Millisecond))
			}
			return nil
		case IsPermanent(err):
			return err
		case ctx.Err() != nil:
			return errors.Join(ctx.Err(), err)
		}
		if time.Since(lastSaid) >= remindEvery {
			log.Warn("cannot reach "+what+" yet; still trying", "error", err, "attempts", attempt,
				"waited", time.Since(started).Round(time.Millisecond))
			lastSaid = time.Now()
		}
		wait := pause/2 + rand.N(pause/2+1)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(wait):
		}
		pause = min(pause*2, p.Max)
	}
}

func (p Policy) once(ctx context.Context, try func(context.Context) error) error {
	if p.Attempt <= 0 {
		return try(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, p.Attempt)
	defer cancel()
	return try(actx)
}
