// Package sessions keeps the sites' server-side session data.
package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
)

// Store keeps the sessions of the sites.
type Store struct{ db *store.DB }

// New is the session store of a database.
func New(db *store.DB) *Store { return &Store{db: db} }

// Sessions keep the sites' server-side session data. Only a hash of the session id is stored, so a
// copy of the table cannot be used to take over a session; and the data, which holds the signed-in
// person's identity (their name, identity code and contact details), is kept sealed, bound to that
// hash, so that the copy does not disclose it either.
func sessionKey(id string) []byte { h := sha256.Sum256([]byte(id)); return h[:] }

func binding(key []byte) string { return "sessions/" + hex.EncodeToString(key) }

// Load reads a session's data into v. It returns store.ErrNotFound for an unknown or expired id.
func (s *Store) Load(ctx context.Context, site, id string, v any) error {
	var data []byte
	key := sessionKey(id)
	err := s.db.Pool.QueryRow(ctx, `SELECT data FROM sessions WHERE id_hash = $1 AND site = $2 AND expires_at > now()`,
		key, site).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sessions: load session: %w", err)
	}
	if err := store.OpenJSON(s.db.Keys.Sessions, data, binding(key), v); err != nil {
		return fmt.Errorf("sessions: load session: %w", err)
	}
	return nil
}

// Save writes a session's data.
func (s *Store) Save(ctx context.Context, site, id string, v any, expires time.Time) error {
	key := sessionKey(id)
	data, err := store.SealJSON(s.db.Keys.Sessions, v, binding(key))
	if err != nil {
		return fmt.Errorf("sessions: save session: %w", err)
	}
	_, err = s.db.Pool.Exec(ctx, `INSERT INTO sessions (id_hash, site, data, expires_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`, key, site, data, expires)
	if err != nil {
		return fmt.Errorf("sessions: save session: %w", err)
	}
	return nil
}

// Delete ends a session, and with it any expired ones.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.db.Pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1 OR expires_at < now()`, sessionKey(id))
	if err != nil {
		return fmt.Errorf("sessions: delete session: %w", err)
	}
	return nil
}
