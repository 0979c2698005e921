// Package record is the record of who did what to which case, when and why: append-only, each
// entry chained to the one before it, so that an edit or a deletion shows.
package record

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
)

// Entry is one entry of the record: who did what to which case, when and why.
type Entry struct {
	Seq       int64          `json:"seq"`
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	Role      string         `json:"role"`
	Action    string         `json:"action"`
	RequestID string         `json:"request_id,omitempty"`
	Purpose   string         `json:"purpose,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// Record reads and writes the record.
type Record struct{ db *store.DB }

// New is the record of a database.
func New(db *store.DB) *Record { return &Record{db: db} }

// Write appends an entry to the record.
func (r *Record) Write(ctx context.Context, e Entry) error {
	return pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error { return Append(ctx, tx, e) })
}

// Append adds an entry to the record within a transaction, so that the entry is written with the
// step it records, or neither is. It chains each entry to the one before it: hash = SHA-256(previous hash, entry). Entries
// are appended one at a time under a transaction lock so the chain has no forks.
func Append(ctx context.Context, tx pgx.Tx, e Entry) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412119)`); err != nil {
		return fmt.Errorf("record: audit lock: %w", err)
	}
	prev := make([]byte, sha256.Size)
	if err := tx.QueryRow(ctx, `SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prev); err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("record: audit chain: %w", err)
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	e.At = e.At.Truncate(time.Microsecond)
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	hash, err := chainHash(prev, e)
	if err != nil {
		return err
	}
	var requestID any
	if e.RequestID != "" {
		requestID = e.RequestID
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (at, actor, actor_role, action, request_id, purpose, detail, prev_hash, hash)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, e.At, e.Actor, e.Role, e.Action, requestID, e.Purpose, e.Detail, prev, hash)
	if err != nil {
		return fmt.Errorf("record: append audit: %w", err)
	}
	return nil
}

func chainHash(prev []byte, e Entry) ([]byte, error) {
	e.Seq = 0
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("record: audit hash: %w", err)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return h.Sum(nil), nil
}

// Trail returns a case's record, oldest first.
func (r *Record) Trail(ctx context.Context, requestID string) ([]Entry, error) {
	rows, err := r.db.Pool.Query(ctx, `SELECT seq, at, actor, actor_role, action, coalesce(request_id::text, ''), purpose, detail
		FROM audit_log WHERE request_id = $1 ORDER BY seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("record: audit trail: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Action, &e.RequestID, &e.Purpose, &e.Detail); err != nil {
			return nil, fmt.Errorf("record: audit trail: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Verify recomputes the whole chain and returns the first entry that does not match.
func (r *Record) Verify(ctx context.Context) (brokenAt int64, err error) {
	rows, err := r.db.Pool.Query(ctx, `SELECT seq, at, actor, actor_role, action, coalesce(request_id::text, ''), purpose, detail, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("record: verify audit: %w", err)
	}
	defer rows.Close()
	prev := make([]byte, sha256.Size)
	for rows.Next() {
		var e Entry
		var storedPrev, stored []byte
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Action, &e.RequestID, &e.Purpose, &e.Detail, &storedPrev, &stored); err != nil {
			return 0, fmt.Errorf("record: verify audit: %w", err)
		}
		e.At = e.At.UTC()
		want, err := chainHash(prev, e)
		if err != nil {
			return 0, err
		}
		if string(storedPrev) != string(prev) || string(stored) != string(want) {
			return e.Seq, nil
		}
		prev = stored
	}
	return 0, rows.Err()
}
