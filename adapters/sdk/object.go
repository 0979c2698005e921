package sdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrObjectIncomplete means an object read from a bucket did not arrive as it was stored: fewer or
// more bytes, or a different digest.
var ErrObjectIncomplete = errors.New("the object did not arrive as it was stored")

// ReadObject streams an object of an object store bucket, chunk by chunk, with a pull consumer: it
// holds a few chunks at a time however slowly the object is read, where the object store's own Get
// pushes the whole object as fast as the server sends it and buffers what the reader has not taken.
// At the end it checks the object's size and SHA-256 digest; Read returns ErrObjectIncomplete
// instead of io.EOF if they differ. The platform reads packages with it, and so does the kit.
func ReadObject(ctx context.Context, js jetstream.JetStream, bucket, name string) (io.ReadCloser, error) {
	obs, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("sdk: bucket %s: %w", bucket, err)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sdk: object %s: %w", name, err)
	}
	want, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("sdk: object %s: digest: %w", name, err)
	}
	r := &objectReader{left: info.Chunks, size: info.Size, digest: want, sum: sha256.New()}
	if info.Chunks == 0 {
		return r, nil
	}
	cons, err := js.OrderedConsumer(ctx, "OBJ_"+bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + bucket + ".C." + info.NUID},
	})
	if err != nil {
		return nil, fmt.Errorf("sdk: read %s: %w", name, err)
	}
	if r.it, err = cons.Messages(jetstream.PullMaxMessages(8)); err != nil {
		return nil, fmt.Errorf("sdk: read %s: %w", name, err)
	}
	return r, nil
}

type objectReader struct {
	it     jetstream.MessagesContext
	left   uint32
	size   uint64
	read   uint64
	digest []byte
	sum    hash.Hash
	buf    []byte
	err    error
	// exhausted: the stream holds no more chunks of the object than those delivered, so a read
	// still short of the object's chunk count ends with an error instead of waiting for ever.
	exhausted bool
}

func (o *objectReader) Read(p []byte) (int, error) {
	for len(o.buf) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.left == 0 || o.exhausted {
			o.err = o.verify()
			continue
		}
		msg, err := o.it.Next()
		if err != nil {
			o.err = fmt.Errorf("sdk: next chunk: %w", err)
			continue
		}
		o.buf, o.left = msg.Data(), o.left-1
		if md, err := msg.Metadata(); err == nil && md.NumPending == 0 {
			o.exhausted = true
		}
		o.read += uint64(len(o.buf))
		o.sum.Write(o.buf)
	}
	n := copy(p, o.buf)
	o.buf = o.buf[n:]
	return n, nil
}

func (o *objectReader) verify() error {
	if o.left > 0 || o.read != o.size || !bytes.Equal(o.sum.Sum(nil), o.digest) {
		return fmt.Errorf("sdk: %w: %d of %d bytes", ErrObjectIncomplete, o.read, o.size)
	}
	return io.EOF
}

func (o *objectReader) Close() error {
	if o.it != nil {
		o.it.Stop()
	}
	return nil
}
