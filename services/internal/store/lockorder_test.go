package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/workflows/request"
)

// TestEveryPathLocksTheCaseBeforeItsRegisters: transactions that write a case and its registers
// take the case's row first, all of them, so that two on the same case queue instead of
// deadlocking (an answer stored while its dispatch was being marked did, under load). Each path is
// run while another transaction holds the case's register rows: it must be waiting for them with
// the case's row already in hand. A path that touched case_registers first would wait without it.
func TestEveryPathLocksTheCaseBeforeItsRegisters(t *testing.T) {
	registers := []string{"kanta-client-register", "koronavilkku"}
	paths := map[string]func(ctx context.Context, s stores) error{
		"MarkDispatched": func(ctx context.Context, s stores) error {
			return s.cases.MarkDispatched(ctx, requestID, registers)
		},
		"RecordAnswer": func(ctx context.Context, s stores) error {
			_, _, _, err := s.cases.RecordAnswer(ctx, requestID, registers[0], contracts.StatusNoData, []byte(`{"status":"no_data"}`))
			return err
		},
		"SaveReview": func(ctx context.Context, s stores) error {
			return s.cases.SaveReview(ctx, requestID, []rules.Outcome{{RegisterID: registers[0], Code: rules.CodeDispatch}})
		},
		"Replan": func(ctx context.Context, s stores) error {
			return s.cases.Replan(ctx, requestID, []request.PlannedRegister{plan(registers[1], "d2", true)}, request.StatusDispatched)
		},
		"Withdrawn": func(ctx context.Context, s stores) error {
			return s.cases.Withdrawn(ctx, request.WithdrawInput{RequestID: requestID, Channel: request.ChannelWeb},
				request.WithdrawResult{Cancelled: registers})
		},
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if err := s.cases.Record(ctx, aino()); err != nil {
				t.Fatal(err)
			}
			if err := s.cases.SavePlan(ctx, requestID, []request.PlannedRegister{plan(registers[0], "d1", true), plan(registers[1], "d2", true)}); err != nil {
				t.Fatal(err)
			}
			holder, err := s.db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback(ctx)
			if _, err := holder.Exec(ctx, `SELECT 1 FROM case_registers WHERE request_id = $1 FOR UPDATE`, requestID); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- path(ctx, s) }()
			waitForALockWait(t, s)

			probe, err := s.db.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = probe.Exec(ctx, `SELECT 1 FROM cases WHERE request_id = $1 FOR NO KEY UPDATE NOWAIT`, requestID)
			_ = probe.Rollback(ctx)
			var pg *pgconn.PgError
			if !errors.As(err, &pg) || pg.Code != "55P03" {
				t.Errorf("%s waits for the case's registers without holding the case's row (probe: %v)", name, err)
			}
			_ = holder.Rollback(ctx)
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
}

// waitForALockWait returns once a session of the test's database waits for a row lock.
func waitForALockWait(t *testing.T, s stores) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
	}
	t.Fatal("the path never waited for the rows another transaction held")
}
