package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CaseKey is a request's package key pair, its private half sealed.
type CaseKey struct {
	RequestID        string
	PublicKey        []byte
	KeyID            string
	SealedPrivateKey []byte
}

// CaseKey returns the request's key pair, storing k first if the request has none: the first key
// stored stands, so activities that race or retry all hand out the same public key.
func (db *DB) CaseKey(ctx context.Context, k CaseKey) (CaseKey, error) {
	_, err := db.Pool.Exec(ctx, `INSERT INTO case_keys (request_id, public_key, key_id, sealed_private_key)
		VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING`, k.RequestID, k.PublicKey, k.KeyID, k.SealedPrivateKey)
	if err != nil {
		return CaseKey{}, fmt.Errorf("store: case key %s: %w", k.RequestID, err)
	}
	return db.StoredCaseKey(ctx, k.RequestID)
}

// StoredCaseKey returns the request's key pair, or ErrNotFound.
func (db *DB) StoredCaseKey(ctx context.Context, requestID string) (CaseKey, error) {
	k := CaseKey{RequestID: requestID}
	err := db.Pool.QueryRow(ctx, `SELECT public_key, key_id, sealed_private_key FROM case_keys WHERE request_id = $1`, requestID).
		Scan(&k.PublicKey, &k.KeyID, &k.SealedPrivateKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ErrNotFound
	}
	if err != nil {
		return k, fmt.Errorf("store: case key %s: %w", requestID, err)
	}
	return k, nil
}
