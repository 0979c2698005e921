// Package codec encrypts every Temporal payload with AES-256-GCM before it leaves the process, so
// that the Temporal server, its database and its history never hold a subject's data in clear text.
//
// Keys come from configuration as "id:base64key" pairs. The first key encrypts; all keys decrypt, so
// a key is rotated by putting a new one first and keeping the old one until no open workflow's
// history still needs it.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

const (
	metadataEncoding = "encoding"
	metadataKeyID    = "encryption-key-id"
	encodingName     = "binary/encrypted-aes256gcm"
)

// Codec is a converter.PayloadCodec that encrypts and decrypts payloads.
type Codec struct {
	activeID string
	keys     map[string][]byte
	aeads    map[string]cipher.AEAD
}

// ParseKeys reads a key list such as "k2:BASE64,k1:BASE64". Each key is 32 random bytes.
func ParseKeys(spec string) (*Codec, error) {
	c := &Codec{keys: map[string][]byte{}, aeads: map[string]cipher.AEAD{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" {
			return nil, errors.New("codec: a key must be written id:base64")
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", id, err)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("codec: key %s: want 32 bytes, got %d", id, len(key))
		}
		if _, dup := c.aeads[id]; dup {
			return nil, fmt.Errorf("codec: key id %s given twice", id)
		}
		if err := c.add(id, key); err != nil {
			return nil, err
		}
	}
	if c.activeID == "" {
		return nil, errors.New("codec: no payload key configured")
	}
	return c, nil
}

func (c *Codec) add(id string, key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("codec: key %s: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("codec: key %s: %w", id, err)
	}
	c.keys[id], c.aeads[id] = key, aead
	if c.activeID == "" {
		c.activeID = id
	}
	return nil
}

// Derive returns a codec for another purpose, such as wrapping each case's private key, whose keys
// are derived from these by HKDF-SHA256 with the purpose as info. One configured secret serves every
// purpose, no key is used for two, and rotation works the same: the derived keys keep their ids.
func (c *Codec) Derive(purpose string) (*Codec, error) {
	d := &Codec{keys: map[string][]byte{}, aeads: map[string]cipher.AEAD{}}
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range append([]string{c.activeID}, ids...) {
		if _, done := d.keys[id]; done {
			continue
		}
		key, err := hkdf.Key(sha256.New, c.keys[id], nil, "kirjaamo "+purpose, 32)
		if err != nil {
			return nil, fmt.Errorf("codec: derive %s: %w", purpose, err)
		}
		if err := d.add(id, key); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// DeriveSecrets returns, for a purpose that needs raw keys rather than encryption (an HMAC, a
// signing key's seed), one 32-byte secret per payload key, derived by HKDF-SHA256 like Derive's, by
// key id, with the id of the active key. What was made with an older key stays checkable while that
// key stays listed.
func (c *Codec) DeriveSecrets(purpose string) (active string, secrets map[string][]byte, err error) {
	secrets = make(map[string][]byte, len(c.keys))
	for id, key := range c.keys {
		if secrets[id], err = hkdf.Key(sha256.New, key, nil, "kirjaamo "+purpose, 32); err != nil {
			return "", nil, fmt.Errorf("codec: derive %s: %w", purpose, err)
		}
	}
	return c.activeID, secrets, nil
}

// Seal encrypts plain with the active key, binding aad, and returns the key's id with the
// ciphertext (nonce first).
func (c *Codec) Seal(plain, aad []byte) (keyID string, sealed []byte, err error) {
	aead := c.aeads[c.activeID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("codec: nonce: %w", err)
	}
	return c.activeID, aead.Seal(nonce, nonce, plain, aad), nil
}

// Open decrypts what Seal returned, with the key of that id.
func (c *Codec) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := c.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("codec: encrypted with unknown key %q", keyID)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("codec: ciphertext too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("codec: decrypt with key %s: %w", keyID, err)
	}
	return plain, nil
}

// NewKey returns a fresh key in the form ParseKeys reads, for setting up a deployment.
func NewKey(id string) string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

// Encode encrypts each payload, whole: its metadata, which names its encoding, is sealed with it.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("codec: encode: %w", err)
		}
		id, sealed, err := c.Seal(plain, []byte(c.activeID))
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metadataEncoding: []byte(encodingName), metadataKeyID: []byte(id)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode decrypts payloads this codec encrypted and passes others through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metadataEncoding]) != encodingName {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metadataKeyID])
		plain, err := c.Open(id, p.GetData(), []byte(id))
		if err != nil {
			return nil, err
		}
		var decoded commonpb.Payload
		if err := decoded.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("codec: decode: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter wraps the default converter with encryption.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter encrypts error messages and stack traces too, since an error can quote data.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporalFailureConverter(c.DataConverter())
}
