// Package declarations is the register catalogue's store: every version of every register's
// declaration, which of them a DPO approved and when, and when each register's adapter was last
// heard from.
package declarations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/workflows/request"
)

// Store keeps the catalogue. It is also the request workflow's view of it (request.Catalogue).
type Store struct{ db *store.DB }

// New is the catalogue of a database.
func New(db *store.DB) *Store { return &Store{db: db} }

// Version is one version of a register's declaration.
type Version struct {
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

func scanDeclarations(rows pgx.Rows) ([]Version, error) {
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var d Version
		if err := rows.Scan(&d.RegisterID, &d.Digest, &d.Version, &d.Declaration, &d.Capabilities, &d.AnnouncedAt, &d.ApprovedBy, &d.ApprovedAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Add stores an announced version unless it is already known, and says whether the
// version is in force (approved) or waiting for a DPO.
func (s *Store) Add(ctx context.Context, d Version) (approved bool, err error) {
	_, err = s.db.Pool.Exec(ctx, `INSERT INTO register_declarations (register_id, digest, version, declaration, capabilities)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (register_id, digest) DO NOTHING`, d.RegisterID, d.Digest, d.Version, d.Declaration, d.Capabilities)
	if err != nil {
		return false, fmt.Errorf("declarations: add: %w", err)
	}
	err = s.db.Pool.QueryRow(ctx, `SELECT approved_at IS NOT NULL FROM register_declarations WHERE register_id = $1 AND digest = $2`,
		d.RegisterID, d.Digest).Scan(&approved)
	if err != nil {
		return false, fmt.Errorf("declarations: add: %w", err)
	}
	return approved, nil
}

// Approve puts a version in force from now on, and records who approved it.
func (s *Store) Approve(ctx context.Context, registerID, digest, dpo string) error {
	return pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE register_declarations SET approved_by = $3, approved_at = clock_timestamp()
			WHERE register_id = $1 AND digest = $2 AND approved_at IS NULL`, registerID, digest, dpo)
		if err != nil {
			return fmt.Errorf("declarations: approve: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM register_declarations WHERE register_id = $1 AND digest = $2)`,
				registerID, digest).Scan(&exists); err != nil {
				return fmt.Errorf("declarations: approve: %w", err)
			}
			if !exists {
				return store.ErrNotFound
			}
			return nil
		}
		return record.Append(ctx, tx, s.db, record.Entry{Actor: dpo, Role: "dpo", Action: "declaration_approved",
			Detail: map[string]any{"register_id": registerID, "digest": digest}})
	})
}

// VersionsInForce returns, for each register, the approved version in force at a moment: the one
// most recently approved before it. Dispatch uses the moment of receipt.
func (s *Store) VersionsInForce(ctx context.Context, at time.Time) ([]Version, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT DISTINCT ON (register_id) `+declarationColumns+` FROM register_declarations
		WHERE approved_at IS NOT NULL AND approved_at <= $1 ORDER BY register_id, approved_at DESC`, at)
	if err != nil {
		return nil, fmt.Errorf("declarations: in force: %w", err)
	}
	out, err := scanDeclarations(rows)
	if err != nil {
		return nil, fmt.Errorf("declarations: in force: %w", err)
	}
	return out, nil
}

// Get returns one version of a declaration.
func (s *Store) Get(ctx context.Context, registerID, digest string) (Version, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+declarationColumns+` FROM register_declarations WHERE register_id = $1 AND digest = $2`, registerID, digest)
	if err != nil {
		return Version{}, fmt.Errorf("declarations: get: %w", err)
	}
	out, err := scanDeclarations(rows)
	if err != nil {
		return Version{}, fmt.Errorf("declarations: get: %w", err)
	}
	if len(out) == 0 {
		return Version{}, store.ErrNotFound
	}
	return out[0], nil
}

// History lists every version of every register, newest first within a register.
func (s *Store) History(ctx context.Context) ([]Version, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+declarationColumns+` FROM register_declarations ORDER BY register_id, announced_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("declarations: history: %w", err)
	}
	return scanDeclarations(rows)
}

// Heartbeat records that a register's adapter is alive.
func (s *Store) Heartbeat(ctx context.Context, registerID, instance, digest string, at time.Time) error {
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO register_liveness (register_id, instance, digest, last_seen) VALUES ($1,$2,$3,$4)
		ON CONFLICT (register_id) DO UPDATE SET instance = excluded.instance, digest = excluded.digest,
		last_seen = greatest(register_liveness.last_seen, excluded.last_seen)`, registerID, instance, digest, at)
	if err != nil {
		return fmt.Errorf("declarations: heartbeat: %w", err)
	}
	return nil
}

// LastSeen returns when each register's adapter was last heard from.
func (s *Store) LastSeen(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT register_id, last_seen FROM register_liveness`)
	if err != nil {
		return nil, fmt.Errorf("declarations: last seen: %w", err)
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

// Parse reads the declaration a version holds.
func (v Version) Parse() (contracts.Declaration, error) {
	var d contracts.Declaration
	if err := json.Unmarshal(v.Declaration, &d); err != nil {
		return d, fmt.Errorf("register %s: declaration %s: %w", v.RegisterID, v.Digest, err)
	}
	return d, nil
}

// Version returns one version of a register's declaration by its digest (request.Catalogue).
func (s *Store) Version(ctx context.Context, registerID, digest string) (contracts.Declaration, error) {
	v, err := s.Get(ctx, registerID, digest)
	if err != nil {
		return contracts.Declaration{}, err
	}
	return v.Parse()
}

// InForce returns the declarations in force at a moment, each with its digest (request.Catalogue).
func (s *Store) InForce(ctx context.Context, at time.Time) ([]request.Declared, error) {
	versions, err := s.VersionsInForce(ctx, at)
	if err != nil {
		return nil, err
	}
	out := make([]request.Declared, len(versions))
	for i, v := range versions {
		out[i].Digest = v.Digest
		if out[i].Declaration, err = v.Parse(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
