package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sealed is how a sealed value is kept in a jsonb column: the id of the key that sealed it, and the
// ciphertext, bound to the row it belongs to, so that it opens nowhere else.
type Sealed struct {
	V1 *SealedValue `json:"sealed_v1"`
}

// SealedValue is a ciphertext and the id of its key.
type SealedValue struct {
	Key  string `json:"key"`
	Data []byte `json:"data"`
}

// SealJSON seals v's JSON for the row binding names, as a jsonb value.
func SealJSON(s Sealer, v any, binding string) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: seal %s: %w", binding, err)
	}
	key, data, err := s.Seal(plain, []byte(binding))
	if err != nil {
		return nil, fmt.Errorf("store: seal %s: %w", binding, err)
	}
	return json.Marshal(Sealed{V1: &SealedValue{Key: key, Data: data}})
}

// ErrNotSealed: the stored value is not a sealed one.
var ErrNotSealed = errors.New("store: not sealed")

// OpenJSON opens what SealJSON sealed for the same row into v. A stored value that is not sealed
// is ErrNotSealed.
func OpenJSON(s Sealer, stored []byte, binding string, v any) error {
	var sv Sealed
	if len(stored) == 0 || json.Unmarshal(stored, &sv) != nil || sv.V1 == nil {
		return ErrNotSealed
	}
	plain, err := s.Open(sv.V1.Key, sv.V1.Data, []byte(binding))
	if err != nil {
		return fmt.Errorf("store: open %s: %w", binding, err)
	}
	return json.Unmarshal(plain, v)
}
