// Package ledger makes an append-only log prove itself, the way Certificate Transparency's logs do,
// with a keyed chain in place of a Merkle tree: each entry is linked to the one before it by an
// HMAC under a key only the platform holds, over a canonical encoding of the entry that survives
// PostgreSQL's jsonb; and the platform signs checkpoints (an entry's sequence number, its link and
// the time, Ed25519) that it publishes outside the database, to a JetStream stream that refuses
// deletion and purging. Verify walks a log against its checkpoints and names the first entry that
// is not as it was written.
//
// What that proves, and what it does not, is in the README ("A record that proves itself"). The
// record of who did what (store/record) is one such log; the processing logs of registers are to be
// another, chained and checkpointed with this package.
package ledger

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
)

// LinkSize is the size of a link: an HMAC-SHA256.
const LinkSize = sha256.Size

// Genesis is the link before a log's first entry.
var Genesis = make([]byte, LinkSize)

// Canonical encodes v's JSON in one canonical form, so that a value stored in jsonb and read back
// encodes to the same bytes as when it was written, although jsonb reorders object keys (by length,
// then bytes), drops white space and rewrites numbers (1e2 becomes 100): objects' keys sorted by
// their bytes, no white space, strings as encoding/json writes them (without HTML escaping), and
// numbers as exact fractions (1.50 and 1.5 both become 3/2, 1e2 becomes 100). It is what a link
// covers, not JSON to be read: a fraction is not a JSON number.
func Canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("ledger: canonical: %w", err)
	}
	return CanonicalJSON(raw)
}

// CanonicalJSON re-encodes one JSON value in Canonical's form.
func CanonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("ledger: canonical: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("ledger: canonical: more than one JSON value")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeCanonical(b *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		r, ok := new(big.Rat).SetString(string(t))
		if !ok {
			return fmt.Errorf("ledger: canonical: number %q", string(t))
		}
		b.WriteString(r.RatString())
	case string:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // the encoder's newline
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeCanonical(b, t[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("ledger: canonical: unexpected %T", v)
	}
	return nil
}

// Keys are the secrets that key a log's links, by id; the active one links new entries, and the
// others check what they linked before a rotation.
type Keys struct {
	active  string
	secrets map[string][]byte
}

// NewKeys makes a log's link keys from derived secrets (codec.DeriveSecrets).
func NewKeys(active string, secrets map[string][]byte) (*Keys, error) {
	if len(secrets[active]) < 32 {
		return nil, errors.New("ledger: the active link key is missing or shorter than 32 bytes")
	}
	return &Keys{active: active, secrets: secrets}, nil
}

// Active is the id of the key that links new entries.
func (k *Keys) Active() string { return k.active }

// Link is an entry's link: HMAC-SHA256 under the key keyID of the previous entry's link followed by
// the entry's canonical encoding. Without the key, nobody can make a link that checks: an entry
// edited and its link recomputed by plain hashing shows.
func (k *Keys) Link(keyID string, prev, body []byte) ([]byte, error) {
	secret, ok := k.secrets[keyID]
	if !ok {
		return nil, fmt.Errorf("ledger: no link key %q", keyID)
	}
	if len(prev) != LinkSize {
		return nil, fmt.Errorf("ledger: a previous link of %d bytes", len(prev))
	}
	m := hmac.New(sha256.New, secret)
	m.Write(prev)
	m.Write(body)
	return m.Sum(nil), nil
}
