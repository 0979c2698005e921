package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is the platform's signed statement that a log's entry Seq has the link Head, made at
// At: every entry up to Seq is fixed by it, since each link covers the one before it. Published
// outside the database, a checkpoint lets a verifier tell that entries up to it were changed,
// removed or cut off the end, even by someone who can rewrite the whole table.
type Checkpoint struct {
	Log       string    `json:"log"`
	Seq       int64     `json:"seq"`
	Head      []byte    `json:"head"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
}

// signed is what the signature covers.
func (c Checkpoint) signed() []byte {
	return fmt.Appendf(nil, "kirjaamo checkpoint v1\n%s\n%d\n%x\n%s\n%s\n", c.Log, c.Seq, c.Head,
		c.At.UTC().Format(time.RFC3339Nano), c.KeyID)
}

// PublicKeys check checkpoints' signatures, by key id. An auditor given the platform's public keys
// (kirjaamo audit keys) checks a checkpoint without any secret.
type PublicKeys map[string]ed25519.PublicKey

// Check reports whether the checkpoint carries a valid signature by the key it names.
func (p PublicKeys) Check(c Checkpoint) error {
	pub, ok := p[c.KeyID]
	if !ok {
		return fmt.Errorf("ledger: the checkpoint of entry %d is signed with key %q, which is not the platform's", c.Seq, c.KeyID)
	}
	if !ed25519.Verify(pub, c.signed(), c.Signature) {
		return fmt.Errorf("ledger: the checkpoint of entry %d does not carry the platform's signature", c.Seq)
	}
	return nil
}

// Signer signs checkpoints with Ed25519 keys made from derived secrets, the active one signing.
type Signer struct {
	active string
	keys   map[string]ed25519.PrivateKey
}

// NewSigner makes the checkpoint signing keys from derived secrets (codec.DeriveSecrets), each the
// seed of an Ed25519 key.
func NewSigner(active string, seeds map[string][]byte) (*Signer, error) {
	s := &Signer{active: active, keys: map[string]ed25519.PrivateKey{}}
	for id, seed := range seeds {
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("ledger: signing seed %q is not %d bytes", id, ed25519.SeedSize)
		}
		s.keys[id] = ed25519.NewKeyFromSeed(seed)
	}
	if _, ok := s.keys[active]; !ok {
		return nil, errors.New("ledger: the active signing key is missing")
	}
	return s, nil
}

// Sign fills in the checkpoint's key id and signature.
func (s *Signer) Sign(c *Checkpoint) {
	c.At = c.At.UTC()
	c.KeyID = s.active
	c.Signature = ed25519.Sign(s.keys[s.active], c.signed())
}

// Public is the public halves of the signing keys.
func (s *Signer) Public() PublicKeys {
	out := PublicKeys{}
	for id, k := range s.keys {
		out[id] = k.Public().(ed25519.PublicKey)
	}
	return out
}
