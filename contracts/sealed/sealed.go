// Package sealed is the sealing of packages in protocol v1 (scheme
// "x25519-hkdf-sha256-aes256gcm-stream/v1"): an adapter seals a large result to the case's public key
// as it streams it out, and only the platform, which holds the case's private key, can open it. It is
// small on purpose, so that an adapter in another language can implement it from this comment:
//
//  1. The sender makes a fresh X25519 key pair (the ephemeral key) and computes the shared secret
//     X25519(ephemeral private, case public).
//  2. The key is HKDF-SHA256 (RFC 5869) of the shared secret, with salt = ephemeral public || case
//     public (64 bytes) and info = "kirjaamo package v1" || 0x00 || object name, 32 bytes long. Binding
//     the object name (the task id) means a package cannot be passed off as another task's.
//  3. The plaintext is cut into chunks of chunk_size bytes; the last chunk may be shorter, or empty if
//     the plaintext is. Chunk i (from 0) is sealed with AES-256-GCM, no additional data, under the
//     12-byte nonce 0x000000 || uint64 big-endian i || f, where f is 0x01 for the last chunk and 0x00
//     for every other (the STREAM construction). A sealed chunk is its chunk plus a 16-byte tag.
//  4. The package is the sealed chunks one after another. The reader knows a chunk is the last when
//     the stream ends after it, and opens it with f = 0x01; so a dropped, reordered or cut-off chunk
//     fails to open.
//
// testdata/vector.json is a worked example with fixed keys, for checking another implementation.
package sealed

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Overhead is what sealing adds to each chunk: the GCM tag.
const Overhead = 16

// DefaultChunkSize is the chunk size the Go SDK seals with.
const DefaultChunkSize = 64 << 10

// ErrTampered means a chunk failed to open: the package was changed, reordered, cut off, or sealed
// to another key or object.
var ErrTampered = errors.New("sealed: the package does not open: changed, truncated or not sealed to this key and object")

// NewKey makes a case's key pair.
func NewKey() (*ecdh.PrivateKey, error) { return ecdh.X25519().GenerateKey(rand.Reader) }

// ParsePublicKey reads a 32-byte X25519 public key.
func ParsePublicKey(b []byte) (*ecdh.PublicKey, error) {
	k, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("sealed: public key: %w", err)
	}
	return k, nil
}

func deriveAEAD(private *ecdh.PrivateKey, peer *ecdh.PublicKey, ephemeral, recipient []byte, object string) (cipher.AEAD, error) {
	shared, err := private.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("sealed: key agreement: %w", err)
	}
	salt := append(append([]byte{}, ephemeral...), recipient...)
	key, err := hkdf.Key(sha256.New, shared, salt, "kirjaamo package v1\x00"+object, 32)
	if err != nil {
		return nil, fmt.Errorf("sealed: key derivation: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonce(buf []byte, i uint64, last bool) []byte {
	clear(buf[:3])
	binary.BigEndian.PutUint64(buf[3:11], i)
	buf[11] = 0
	if last {
		buf[11] = 1
	}
	return buf[:12]
}

// Writer seals what is written to it, chunk by chunk, into the underlying writer. Close seals the
// last chunk and must be called.
type Writer struct {
	dst       io.Writer
	aead      cipher.AEAD
	ephemeral []byte
	chunk     []byte // plaintext not yet sealed, at most chunkSize
	chunkSize int
	sealed    []byte
	n         uint64
	nonce     [12]byte
	closed    bool
}

// NewWriter seals to the case's public key, for the named object, with a fresh ephemeral key.
func NewWriter(dst io.Writer, caseKey *ecdh.PublicKey, object string, chunkSize int) (*Writer, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return newWriter(dst, caseKey, eph, object, chunkSize)
}

func newWriter(dst io.Writer, caseKey *ecdh.PublicKey, eph *ecdh.PrivateKey, object string, chunkSize int) (*Writer, error) {
	if chunkSize < 1 {
		return nil, errors.New("sealed: chunk size must be positive")
	}
	aead, err := deriveAEAD(eph, caseKey, eph.PublicKey().Bytes(), caseKey.Bytes(), object)
	if err != nil {
		return nil, err
	}
	return &Writer{dst: dst, aead: aead, ephemeral: eph.PublicKey().Bytes(), chunkSize: chunkSize,
		chunk: make([]byte, 0, chunkSize), sealed: make([]byte, 0, chunkSize+Overhead)}, nil
}

// EphemeralKey is the writer's one-time public key, which the reader needs.
func (w *Writer) EphemeralKey() []byte { return w.ephemeral }

// Write buffers p and seals each chunk that fills, once more data shows it is not the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("sealed: write after close")
	}
	written := 0
	for len(p) > 0 {
		if len(w.chunk) == w.chunkSize {
			if err := w.seal(false); err != nil {
				return written, err
			}
		}
		n := copy(w.chunk[len(w.chunk):w.chunkSize], p)
		w.chunk = w.chunk[:len(w.chunk)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

func (w *Writer) seal(last bool) error {
	w.sealed = w.aead.Seal(w.sealed[:0], nonce(w.nonce[:], w.n, last), w.chunk, nil)
	w.n++
	w.chunk = w.chunk[:0]
	_, err := w.dst.Write(w.sealed)
	return err
}

// Close seals the last chunk. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.seal(true)
}

// Reader opens a sealed package as it is read.
type Reader struct {
	src       *bufio.Reader
	aead      cipher.AEAD
	chunkSize int
	sealed    []byte
	plain     []byte // opened, not yet read
	n         uint64
	nonce     [12]byte
	done      bool
	err       error
}

// NewReader opens a package sealed to caseKey for the named object by the holder of ephemeralKey.
func NewReader(src io.Reader, caseKey *ecdh.PrivateKey, ephemeralKey []byte, object string, chunkSize int) (*Reader, error) {
	if chunkSize < 1 {
		return nil, errors.New("sealed: chunk size must be positive")
	}
	eph, err := ParsePublicKey(ephemeralKey)
	if err != nil {
		return nil, err
	}
	aead, err := deriveAEAD(caseKey, eph, ephemeralKey, caseKey.PublicKey().Bytes(), object)
	if err != nil {
		return nil, err
	}
	return &Reader{src: bufio.NewReaderSize(src, chunkSize+Overhead+1), aead: aead, chunkSize: chunkSize,
		sealed: make([]byte, chunkSize+Overhead)}, nil
}

// Read returns opened plaintext; ErrTampered if a chunk does not open or the stream is cut off.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

func (r *Reader) next() error {
	n, err := io.ReadFull(r.src, r.sealed)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		// A short read is the last chunk; an empty one means the stream ended without a last chunk.
		if n < Overhead {
			return ErrTampered
		}
		return r.open(r.sealed[:n], true)
	case err != nil:
		return fmt.Errorf("sealed: read: %w", err)
	}
	_, peekErr := r.src.Peek(1)
	if peekErr != nil && !errors.Is(peekErr, io.EOF) {
		return fmt.Errorf("sealed: read: %w", peekErr)
	}
	return r.open(r.sealed, peekErr != nil)
}

func (r *Reader) open(sealed []byte, last bool) error {
	plain, err := r.aead.Open(sealed[:0], nonce(r.nonce[:], r.n, last), sealed, nil)
	if err != nil {
		return ErrTampered
	}
	r.n++
	r.plain, r.done = plain, last
	return nil
}
