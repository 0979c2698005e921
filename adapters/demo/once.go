package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// applyOnce runs an effect and records its task id in the same transaction, in the register's own
// schema. A task redelivered after a crash finds its id and gets the first answer back instead of
// applying the effect a second time: the SDK's own record cannot cover the moment between the
// effect and its note, the register's transaction can.
func applyOnce(ctx context.Context, db *pgxpool.Pool, schema, taskID string, effect func(pgx.Tx) (int, error)) (int, error) {
	var affected int
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO `+schema+`.applied_tasks (task_id) VALUES ($1)
			ON CONFLICT (task_id) DO NOTHING RETURNING 0`, taskID).Scan(&affected)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT affected FROM `+schema+`.applied_tasks WHERE task_id = $1`, taskID).Scan(&affected)
		}
		if err != nil {
			return err
		}
		if affected, err = effect(tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE `+schema+`.applied_tasks SET affected = $2 WHERE task_id = $1`, taskID, affected)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: apply %s: %w", schema, taskID, err)
	}
	return affected, nil
}

// appliedTasksDDL is the table every register with effects keeps beside its data.
func appliedTasksDDL(schema string) string {
	return `CREATE TABLE IF NOT EXISTS ` + schema + `.applied_tasks (task_id text PRIMARY KEY, affected int NOT NULL DEFAULT 0,
		applied_at timestamptz NOT NULL DEFAULT now());`
}
