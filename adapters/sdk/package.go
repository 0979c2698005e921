package sdk

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
)

// A lookup's records travel inline while they are small, and as a package otherwise
// (contracts/PROTOCOL.md, "Large results: packages"): JSON Lines, sealed to the case's key as they are
// written, streamed into the register's object store bucket. Nothing holds the whole package: a
// record goes from the register's code through the hash and the sealing into the bucket.

// PackageBucketConfig is the object store bucket into which a register's adapters stream packages:
// contracts.PackageBucket(registerID). Packages are sealed, so the bucket discloses nothing; they are
// kept long enough for the slowest request to fetch them, then expire.
func PackageBucketConfig(registerID string) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      contracts.PackageBucket(registerID),
		Description: "sealed packages of large results of register " + registerID + ", by task id",
		TTL:         180 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
	}
}

const (
	// maxInlineRecords is the most records a result carries (the result schema's limit), and
	// maxInlineBytes the most bytes of their JSON: what is left of NATS's default maximum message of
	// 1 MiB for the rest of the result.
	maxInlineRecords = 1000
	maxInlineBytes   = 900 << 10
	// objectChunkSize is the size of the object store's messages: a package is cut into chunks of
	// this size however the sealing cuts it.
	objectChunkSize = 128 << 10
	// publishAsyncMaxPending bounds the messages published but not yet acknowledged by the server.
	publishAsyncMaxPending = 16
)

// collector is the RecordWriter of one lookup: it keeps records inline until they outgrow the task's
// inline limit, then moves them into a package.
type collector struct {
	ctx     context.Context
	a       *adapter
	task    *contracts.Task
	limit   int
	records []contracts.Record
	size    int // of the JSON array of records
	written int64
	pkg     *packageWriter
	// err is the first error: every later Write returns it, so an Export handler that ignores one
	// still fails the task.
	err error
}

func (a *adapter) newCollector(ctx context.Context, task *contracts.Task) *collector {
	limit := maxInlineBytes
	if task.Package != nil {
		limit = min(task.Package.InlineLimit, maxInlineBytes)
	}
	return &collector{ctx: ctx, a: a, task: task, limit: limit, size: 1}
}

func (c *collector) Write(rec contracts.Record) error {
	if c.err == nil {
		c.err = c.write(rec)
	}
	return c.err
}

func (c *collector) write(rec contracts.Record) error {
	c.written++
	if err := contracts.Validate(&rec); err != nil {
		return contracts.ErrorFromValidation(contracts.ErrInternal,
			fmt.Errorf("record %d from the register's lookup is not valid, so the lookup is not answered: %w", c.written, err))
	}
	if c.pkg != nil {
		return c.pkg.write(&rec)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("sdk: encode a record: %w", err)
	}
	// Each record adds its JSON and a comma, or the closing bracket.
	if grown := c.size + len(data) + 1; len(c.records) < maxInlineRecords && grown <= c.limit {
		c.records, c.size = append(c.records, rec), grown
		return nil
	}
	if c.task.Package == nil {
		return &contracts.Error{Code: contracts.ErrInternal, Message: fmt.Sprintf("the register holds more on the subject "+
			"than a result carries inline (at most %d records and %d KiB), and the task names no package to stream "+
			"them into: send the lookup with package set", maxInlineRecords, maxInlineBytes>>10)}
	}
	if c.pkg, err = c.a.startPackage(c.ctx, c.task); err != nil {
		return err
	}
	for i := range c.records {
		if err := c.pkg.write(&c.records[i]); err != nil {
			return err
		}
	}
	c.records = nil
	return c.pkg.write(&rec)
}

// finish makes the lookup's result from what was written, once the register's code returned
// lookupErr. A package is referred to only once it is whole in the bucket.
func (c *collector) finish(lookupErr error) (*contracts.Result, error) {
	err := c.err
	if err == nil {
		err = lookupErr
	}
	if err != nil {
		if c.pkg != nil {
			c.pkg.abort(err)
		}
		return nil, err
	}
	switch {
	case c.pkg != nil:
		ref, err := c.pkg.close()
		if err != nil {
			return nil, Unavailable(err)
		}
		return &contracts.Result{Status: contracts.StatusFound, Package: ref}, nil
	case len(c.records) > 0:
		return &contracts.Result{Status: contracts.StatusFound, Records: c.records}, nil
	default:
		return &contracts.Result{Status: contracts.StatusNoData}, nil
	}
}

// packageWriter streams one package: each record's JSON line goes into the hash and the count, then
// through the sealing and a buffer of one object chunk into a pipe, which the object store's Put
// reads from as it publishes chunks.
type packageWriter struct {
	pipe    *io.PipeWriter
	chunks  *bufio.Writer
	sealer  *sealed.Writer
	hash    hash.Hash
	size    int64
	records int64
	enc     *json.Encoder
	put     chan error
	ref     contracts.PackageRef
}

func (a *adapter) startPackage(ctx context.Context, task *contracts.Task) (*packageWriter, error) {
	object := contracts.PackageObject(task.TaskID)
	raw, _ := base64.StdEncoding.DecodeString(task.Package.Key) // validated with the task
	key, err := sealed.ParsePublicKey(raw)
	if err != nil {
		return nil, &contracts.Error{Code: contracts.ErrInvalidMessage, Message: "package.key: not an X25519 public key",
			Fields: []contracts.FieldError{{Field: "package.key", Rule: "x25519", Message: "not an X25519 public key"}}}
	}
	pr, pw := io.Pipe()
	chunks := bufio.NewWriterSize(pw, objectChunkSize)
	sealer, err := sealed.NewWriter(chunks, key, object, sealed.DefaultChunkSize)
	if err != nil { // a low-order point, which gives no shared secret
		return nil, &contracts.Error{Code: contracts.ErrInvalidMessage, Message: "package.key: no key can be agreed with it: " + err.Error(),
			Fields: []contracts.FieldError{{Field: "package.key", Rule: "x25519", Message: "not a usable X25519 public key"}}}
	}
	p := &packageWriter{pipe: pw, chunks: chunks, sealer: sealer, hash: sha256.New(), put: make(chan error, 1)}
	p.enc = json.NewEncoder(io.MultiWriter(p.hash, (*counter)(&p.size), sealer))
	p.enc.SetEscapeHTML(false)
	p.ref = contracts.PackageRef{Bucket: contracts.PackageBucket(a.decl.RegisterID), Object: object, Format: contracts.PackageFormat,
		Sealing: contracts.Sealing{Scheme: contracts.SealingScheme, ChunkSize: sealed.DefaultChunkSize,
			EphemeralKey: base64.StdEncoding.EncodeToString(sealer.EphemeralKey())}}
	go func() {
		_, err := a.packages.Put(ctx, jetstream.ObjectMeta{Name: object, Opts: &jetstream.ObjectMetaOptions{ChunkSize: objectChunkSize}}, pr)
		// If Put stopped reading, the writer's next write returns its error instead of blocking.
		pr.CloseWithError(err)
		p.put <- err
	}()
	return p, nil
}

func (p *packageWriter) write(rec *contracts.Record) error {
	if err := p.enc.Encode(rec); err != nil {
		return Unavailable(fmt.Errorf("sdk: write the package: %w", err))
	}
	p.records++
	return nil
}

// close seals the last chunk and waits until the bucket holds the whole package.
func (p *packageWriter) close() (*contracts.PackageRef, error) {
	err := p.sealer.Close()
	if err == nil {
		err = p.chunks.Flush()
	}
	p.pipe.CloseWithError(err)
	if putErr := <-p.put; err == nil {
		err = putErr
	}
	if err != nil {
		return nil, fmt.Errorf("sdk: put the package: %w", err)
	}
	p.ref.Records, p.ref.Size, p.ref.SHA256 = p.records, p.size, hex.EncodeToString(p.hash.Sum(nil))
	return &p.ref, nil
}

// abort stops the upload; the object store removes the chunks already sent, and no result refers
// to them.
func (p *packageWriter) abort(cause error) {
	p.pipe.CloseWithError(cause)
	<-p.put
}

// counter counts the bytes written to it.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}
