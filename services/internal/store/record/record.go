// Package record is the record of who did what to which case, when and why: append-only (the
// services' database role may only insert into it and read it), each entry linked to the one before
// it by an HMAC under a key only the platform holds, and checkpointed outside the database
// (ledger), so that an edit, a removal or a cut-off end shows.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store"
)

// Log is the record's name among the platform's logs (its checkpoints' subject).
const Log = "record"

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

// linked is what an entry's link covers, in the canonical encoding (ledger.Canonical): every column
// but the links themselves. Detail is the JSON as stored, for reading back.
type linked struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Role      string    `json:"role"`
	Action    string    `json:"action"`
	RequestID string    `json:"request_id"`
	Purpose   string    `json:"purpose"`
	Detail    any       `json:"detail"`
}

// Record reads and writes the record.
type Record struct{ db *store.DB }

// New is the record of a database.
func New(db *store.DB) *Record { return &Record{db: db} }

// Write appends an entry to the record.
func (r *Record) Write(ctx context.Context, e Entry) error {
	return pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error { return Append(ctx, tx, r.db, e) })
}

// WriteOnce appends an entry unless an entry the same in everything but its time (actor, role,
// action, case, purpose and detail, which for a view names the session) was written within the
// window: a page reloaded, or read again, for the same purpose by the same session is one view.
// It reports whether it wrote.
func (r *Record) WriteOnce(ctx context.Context, e Entry, within time.Duration) (bool, error) {
	wrote := false
	err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		if e.Detail == nil {
			e.Detail = map[string]any{}
		}
		var seen bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE actor = $1 AND actor_role = $2 AND action = $3
			AND request_id IS NOT DISTINCT FROM $4::uuid AND purpose = $5 AND detail = $6::jsonb AND at > now() - $7::interval)`,
			e.Actor, e.Role, e.Action, nullUUID(e.RequestID), e.Purpose, e.Detail, fmt.Sprintf("%d milliseconds", within.Milliseconds())).Scan(&seen)
		if err != nil || seen {
			return err
		}
		wrote = true
		return Append(ctx, tx, r.db, e)
	})
	return wrote, err
}

func lock(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412119)`); err != nil {
		return fmt.Errorf("record: lock: %w", err)
	}
	return nil
}

func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// Append adds an entry to the record within a transaction, so that the entry is written with the
// step it records, or neither is. Entries are appended one at a time under a transaction lock, so
// that the chain has no forks: each is linked to the last one written (ledger.Keys.Link).
func Append(ctx context.Context, tx pgx.Tx, db *store.DB, e Entry) error {
	if err := lock(ctx, tx); err != nil {
		return err
	}
	prev := ledger.Genesis
	if err := tx.QueryRow(ctx, `SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&prev); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("record: chain: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))`).Scan(&e.Seq); err != nil {
		return fmt.Errorf("record: chain: %w", err)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	if e.RequestID != "" {
		// As PostgreSQL writes a uuid back, so that the link is made from what is read back.
		id, err := uuid.Parse(e.RequestID)
		if err != nil {
			return fmt.Errorf("record: request id: %w", err)
		}
		e.RequestID = id.String()
	}
	keys := db.Keys.Record
	body, err := ledger.Canonical(linked{Seq: e.Seq, At: e.At, Actor: e.Actor, Role: e.Role, Action: e.Action, RequestID: e.RequestID,
		Purpose: e.Purpose, Detail: e.Detail})
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	hash, err := keys.Link(keys.Active(), prev, body)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, actor_role, action, request_id, purpose, detail, prev_hash, hash, key_id)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, e.Seq, e.At, e.Actor, e.Role, e.Action, nullUUID(e.RequestID), e.Purpose, e.Detail,
		prev, hash, keys.Active())
	if err != nil {
		return fmt.Errorf("record: append: %w", err)
	}
	return nil
}

// Trail returns a case's record, oldest first.
func (r *Record) Trail(ctx context.Context, requestID string) ([]Entry, error) {
	rows, err := r.db.Pool.Query(ctx, `SELECT seq, at, actor, actor_role, action, coalesce(request_id::text, ''), purpose, detail
		FROM audit_log WHERE request_id = $1 ORDER BY seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("record: trail: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Action, &e.RequestID, &e.Purpose, &e.Detail); err != nil {
			return nil, fmt.Errorf("record: trail: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Head is the record's last entry: its sequence number and link, or 0 for an empty record.
func (r *Record) Head(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := r.db.Pool.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("record: head: %w", err)
	}
	return seq, hash, nil
}

// Links reads the whole record, oldest first, as the ledger verifies it: each entry's link made
// again from what is stored now.
func (r *Record) Links(ctx context.Context) iter.Seq2[ledger.Link, error] {
	return func(yield func(ledger.Link, error) bool) {
		rows, err := r.db.Pool.Query(ctx, `SELECT seq, at, actor, actor_role, action, coalesce(request_id::text, ''), purpose, detail::text,
			prev_hash, hash, coalesce(key_id, '') FROM audit_log ORDER BY seq`)
		if err != nil {
			yield(ledger.Link{}, fmt.Errorf("record: read: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var l ledger.Link
			var e linked
			var detail string
			if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Action, &e.RequestID, &e.Purpose, &detail, &l.Prev, &l.Hash, &l.KeyID); err != nil {
				yield(l, fmt.Errorf("record: read: %w", err))
				return
			}
			e.At = e.At.UTC()
			e.Detail = json.RawMessage(detail)
			if l.Body, err = ledger.Canonical(e); err != nil {
				yield(l, fmt.Errorf("record: entry %d: %w", e.Seq, err))
				return
			}
			l.Seq = e.Seq
			if !yield(l, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(ledger.Link{}, fmt.Errorf("record: read: %w", err))
		}
	}
}
