// Package packages is the platform's side of large results: it gives each request its own X25519
// key pair, whose public half goes to the registers in lookup tasks, and it opens the sealed packages
// the registers stream into their buckets, checking as it reads that each arrives whole. A package
// is streamed chunk by chunk from JetStream to whoever reads it, so its size does not show in memory.
package packages

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/workflows/codec"
)

// keyPurpose names the key derived from the payload keys that seals each case's private key.
const keyPurpose = "case package keys v1"

// ErrIncomplete means a package did not arrive whole: it is shorter or longer than its result said,
// its checksum differs, or a chunk does not open. The reader must discard what it read.
var ErrIncomplete = errors.New("packages: the package did not arrive whole")

// Store holds the case keys and opens packages.
type Store struct {
	keys *cases.Repo
	js   jetstream.JetStream
	wrap *codec.Codec
}

// New makes a Store whose case keys are sealed under a key derived from the payload keys.
func New(keys *cases.Repo, js jetstream.JetStream, payloadKeys *codec.Codec) (*Store, error) {
	wrap, err := payloadKeys.Derive(keyPurpose)
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	return &Store{keys: keys, js: js, wrap: wrap}, nil
}

// PublicKey returns the request's public key, standard base64, making its key pair on first use.
// The case must be recorded first.
func (s *Store) PublicKey(ctx context.Context, requestID string) (string, error) {
	if k, err := s.keys.StoredKey(ctx, requestID); err == nil {
		return base64.StdEncoding.EncodeToString(k.PublicKey), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	priv, err := sealed.NewKey()
	if err != nil {
		return "", fmt.Errorf("packages: new case key: %w", err)
	}
	id, wrapped, err := s.wrap.Seal(priv.Bytes(), []byte(requestID))
	if err != nil {
		return "", fmt.Errorf("packages: seal case key: %w", err)
	}
	k, err := s.keys.Key(ctx, cases.Key{RequestID: requestID, PublicKey: priv.PublicKey().Bytes(), KeyID: id, SealedPrivateKey: wrapped})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k.PublicKey), nil
}

func (s *Store) privateKey(ctx context.Context, requestID string) (*ecdh.PrivateKey, error) {
	k, err := s.keys.StoredKey(ctx, requestID)
	if err != nil {
		return nil, err
	}
	raw, err := s.wrap.Open(k.KeyID, k.SealedPrivateKey, []byte(requestID))
	if err != nil {
		return nil, fmt.Errorf("packages: case key of %s: %w", requestID, err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("packages: case key of %s: %w", requestID, err)
	}
	return priv, nil
}

// Open streams the package a register delivered for a request, opened. The reader returns
// ErrIncomplete instead of io.EOF if the package is not exactly what ref describes; Close releases
// the stream and must be called.
func (s *Store) Open(ctx context.Context, requestID, registerID string, ref contracts.PackageRef) (io.ReadCloser, error) {
	if ref.Bucket != contracts.PackageBucket(registerID) || ref.Object != contracts.PackageObject(contracts.TaskID(requestID, registerID)) {
		return nil, fmt.Errorf("packages: %s/%s is not the package of %s at %s", ref.Bucket, ref.Object, requestID, registerID)
	}
	priv, err := s.privateKey(ctx, requestID)
	if err != nil {
		return nil, err
	}
	ephemeral, err := base64.StdEncoding.DecodeString(ref.Sealing.EphemeralKey)
	if err != nil {
		return nil, fmt.Errorf("packages: ephemeral key: %w", err)
	}
	chunks, err := sdk.ReadObject(ctx, s.js, ref.Bucket, ref.Object)
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	plain, err := sealed.NewReader(chunks, priv, ephemeral, ref.Object, ref.Sealing.ChunkSize)
	if err != nil {
		chunks.Close()
		return nil, fmt.Errorf("packages: %w", err)
	}
	return &checked{r: plain, closer: chunks, ref: ref, sum: sha256.New()}, nil
}

// checked counts, hashes and counts lines of what passes through, and at the end compares them with
// what the register's result promised.
type checked struct {
	r      io.Reader
	closer io.Closer
	ref    contracts.PackageRef
	sum    hash.Hash
	size   int64
	lines  int64
	last   byte
	err    error
}

var newline = []byte{'\n'}

func (c *checked) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.size += int64(n)
	c.sum.Write(p[:n])
	c.lines += int64(bytes.Count(p[:n], newline))
	if n > 0 {
		c.last = p[n-1]
	}
	if c.size > c.ref.Size {
		c.err = fmt.Errorf("%w: longer than its %d bytes", ErrIncomplete, c.ref.Size)
		return n, c.err
	}
	switch {
	case errors.Is(err, io.EOF):
		c.err = c.verify()
		return n, c.err
	case errors.Is(err, sealed.ErrTampered), errors.Is(err, sdk.ErrObjectIncomplete):
		c.err = fmt.Errorf("%w: %v", ErrIncomplete, err)
		return n, c.err
	case err != nil:
		c.err = err
	}
	return n, err
}

func (c *checked) verify() error {
	if c.size > 0 && c.last != '\n' {
		c.lines++ // JSON Lines may leave out the last line's end
	}
	switch {
	case c.size != c.ref.Size:
		return fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, c.size, c.ref.Size)
	case hex.EncodeToString(c.sum.Sum(nil)) != c.ref.SHA256:
		return fmt.Errorf("%w: the SHA-256 differs", ErrIncomplete)
	case c.lines != c.ref.Records:
		return fmt.Errorf("%w: %d of %d records", ErrIncomplete, c.lines, c.ref.Records)
	}
	return io.EOF
}

func (c *checked) Close() error { return c.closer.Close() }
