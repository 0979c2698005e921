package retry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestUntilTriesAgainUntilItWorksOrCannot(t *testing.T) {
	p := Policy{First: time.Millisecond, Max: 4 * time.Millisecond}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tries := 0
	err := p.Until(context.Background(), log, "the test server", func(context.Context) error {
		if tries++; tries < 5 {
			return errors.New("connection refused")
		}
		return nil
	})
	if err != nil || tries != 5 {
		t.Fatalf("Until = %v after %d tries, want success on the fifth", err, tries)
	}
	if !strings.Contains(logs.String(), "cannot reach the test server yet; still trying") || !strings.Contains(logs.String(), "reached the test server") {
		t.Errorf("the wait was not told:\n%s", logs.String())
	}

	tries = 0
	refused := errors.New("password authentication failed")
	err = p.Until(context.Background(), log, "the test server", func(context.Context) error { tries++; return Permanent(refused) })
	if !errors.Is(err, refused) || tries != 1 {
		t.Errorf("a permanent error: %v after %d tries, want it at once", err, tries)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = p.Until(ctx, log, "the test server", func(context.Context) error { return errors.New("timeout") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a stop while waiting: %v", err)
	}
}
