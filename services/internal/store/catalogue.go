package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeclarationVersion is one version of a register's declaration.
type DeclarationVersion struct {
	RegisterID   string          `json:"register_id"`
	Digest       string          `json:"digest"`
	Version      string          `json:"version"`
	Declaration  json.RawMessage `json:"declaration"`
	Capabilities json.RawMessage `json:"capabilities"`
	AnnouncedAt  time.Time       `json:"announced_at"`
	ApprovedBy   string          `json:"approved_by,omitempty"`
	ApprovedAt   *time.Time      `json:"approved_at,omitempty"`
}

const declarationColumns = `register_id, digest, version, declaration, capabilities, announced_at, coalesce(approved_by, ''), approved_at`

func scanDeclarations(rows pgx.Rows) ([]DeclarationVersion, error) {
	defer rows.Close()
	var out []DeclarationVersion
	for rows.Next() {
		var d DeclarationVersion
		if err := rows.Scan(&d.RegisterID, &d.Digest, &d.Version, &d.Declaration, &d.Capabilities, &d.AnnouncedAt, &d.ApprovedBy, &d.ApprovedAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// AddDeclaration stores an announced version unless it is already known, and says whether the
// version is in force (approved) or waiting for a DPO.
func (db *DB) AddDeclaration(ctx context.Context, d DeclarationVersion) (approved bool, err error) {
	_, err = db.Pool.Exec(ctx, `INSERT INTO register_declarations (register_id, digest, version, declaration, capabilities)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (register_id, digest) DO NOTHING`, d.RegisterID, d.Digest, d.Version, d.Declaration, d.Capabilities)
	if err != nil {
		return false, fmt.Errorf("store: add declaration: %w", err)
	}
	err = db.Pool.QueryRow(ctx, `SELECT approved_at IS NOT NULL FROM register_declarations WHERE register_id = $1 AND digest = $2`,
		d.RegisterID, d.Digest).Scan(&approved)
	if err != nil {
		return false, fmt.Errorf("store: add declaration: %w", err)
	}
	return approved, nil
}

// ApproveDeclaration puts a version in force from now on, and records who approved it.
func (db *DB) ApproveDeclaration(ctx context.Context, registerID, digest, dpo string) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE register_declarations SET approved_by = $3, approved_at = clock_timestamp()
			WHERE register_id = $1 AND digest = $2 AND approved_at IS NULL`, registerID, digest, dpo)
		if err != nil {
			return fmt.Errorf("store: approve declaration: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM register_declarations WHERE register_id = $1 AND digest = $2)`,
				registerID, digest).Scan(&exists); err != nil {
				return fmt.Errorf("store: approve declaration: %w", err)
			}
			if !exists {
				return ErrNotFound
			}
			return nil
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: dpo, Role: "dpo", Action: "declaration_approved",
			Detail: map[string]any{"register_id": registerID, "digest": digest}})
	})
}

// DeclarationsInForce returns, for each register, the approved version in force at a moment: the one
// most recently approved before it. Dispatch uses the moment of receipt.
func (db *DB) DeclarationsInForce(ctx context.Context, at time.Time) ([]DeclarationVersion, error) {
	rows, err := db.Pool.Query(ctx, `SELECT DISTINCT ON (register_id) `+declarationColumns+` FROM register_declarations
		WHERE approved_at IS NOT NULL AND approved_at <= $1 ORDER BY register_id, approved_at DESC`, at)
	if err != nil {
		return nil, fmt.Errorf("store: declarations in force: %w", err)
	}
	out, err := scanDeclarations(rows)
	if err != nil {
		return nil, fmt.Errorf("store: declarations in force: %w", err)
	}
	return out, nil
}

// Declaration returns one version of a declaration.
func (db *DB) Declaration(ctx context.Context, registerID, digest string) (DeclarationVersion, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+declarationColumns+` FROM register_declarations WHERE register_id = $1 AND digest = $2`, registerID, digest)
	if err != nil {
		return DeclarationVersion{}, fmt.Errorf("store: declaration: %w", err)
	}
	out, err := scanDeclarations(rows)
	if err != nil {
		return DeclarationVersion{}, fmt.Errorf("store: declaration: %w", err)
	}
	if len(out) == 0 {
		return DeclarationVersion{}, ErrNotFound
	}
	return out[0], nil
}

// DeclarationHistory lists every version of every register, newest first within a register.
func (db *DB) DeclarationHistory(ctx context.Context) ([]DeclarationVersion, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+declarationColumns+` FROM register_declarations ORDER BY register_id, announced_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: declaration history: %w", err)
	}
	return scanDeclarations(rows)
}

// Heartbeat records that a register's adapter is alive.
func (db *DB) Heartbeat(ctx context.Context, registerID, instance, digest string, at time.Time) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO register_liveness (register_id, instance, digest, last_seen) VALUES ($1,$2,$3,$4)
		ON CONFLICT (register_id) DO UPDATE SET instance = excluded.instance, digest = excluded.digest,
		last_seen = greatest(register_liveness.last_seen, excluded.last_seen)`, registerID, instance, digest, at)
	if err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	return nil
}

// LastSeen returns when each register's adapter was last heard from.
func (db *DB) LastSeen(ctx context.Context) (map[string]time.Time, error) {
	rows, err := db.Pool.Query(ctx, `SELECT register_id, last_seen FROM register_liveness`)
	if err != nil {
		return nil, fmt.Errorf("store: last seen: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}
