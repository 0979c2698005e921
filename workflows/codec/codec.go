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
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
	aeads    map[string]cipher.AEAD
}

// ParseKeys reads a key list such as "k2:BASE64,k1:BASE64". Each key is 32 random bytes.
func ParseKeys(spec string) (*Codec, error) {
	c := &Codec{aeads: map[string]cipher.AEAD{}}
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
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", id, err)
		}
		if _, dup := c.aeads[id]; dup {
			return nil, fmt.Errorf("codec: key id %s given twice", id)
		}
		c.aeads[id] = aead
		if c.activeID == "" {
			c.activeID = id
		}
	}
	if c.activeID == "" {
		return nil, errors.New("codec: no payload key configured")
	}
	return c, nil
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
	aead := c.aeads[c.activeID]
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("codec: encode: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metadataEncoding: []byte(encodingName), metadataKeyID: []byte(c.activeID)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(c.activeID)),
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
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("codec: payload encrypted with unknown key %q", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("codec: payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypt with key %s: %w", id, err)
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
