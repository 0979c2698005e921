package cases

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
)

// Key is a request's package key pair, its private half sealed.
type Key struct {
	RequestID        string
	PublicKey        []byte
	KeyID            string
	SealedPrivateKey []byte
}

// Key returns the request's key pair, storing k first if the request has none: the first key
// stored stands, so activities that race or retry all hand out the same public key.
func (r *Repo) Key(ctx context.Context, k Key) (Key, error) {
	_, err := r.db.Pool.Exec(ctx, `INSERT INTO case_keys (request_id, public_key, key_id, sealed_private_key)
		VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING`, k.RequestID, k.PublicKey, k.KeyID, k.SealedPrivateKey)
	if err != nil {
		return Key{}, fmt.Errorf("cases: key %s: %w", k.RequestID, err)
	}
	return r.StoredKey(ctx, k.RequestID)
}

// StoredKey returns the request's key pair, or store.ErrNotFound.
func (r *Repo) StoredKey(ctx context.Context, requestID string) (Key, error) {
	k := Key{RequestID: requestID}
	err := r.db.Pool.QueryRow(ctx, `SELECT public_key, key_id, sealed_private_key FROM case_keys WHERE request_id = $1`, requestID).
		Scan(&k.PublicKey, &k.KeyID, &k.SealedPrivateKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, store.ErrNotFound
	}
	if err != nil {
		return k, fmt.Errorf("cases: key %s: %w", requestID, err)
	}
	return k, nil
}
