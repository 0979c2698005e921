package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointStream is the JetStream stream of every log's checkpoints. It refuses the deletion of a
// message and purging, so that a checkpoint, once published, stays; auditors read it.
const CheckpointStream = "KIRJAAMO_CHECKPOINTS"

// CheckpointSubject is where a log's checkpoints are published.
func CheckpointSubject(log string) string { return "kirjaamo.checkpoints." + log }

// EnsureStream creates the checkpoint stream, or brings its configuration up to date.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        CheckpointStream,
		Description: "signed checkpoints of the platform's logs (ledger): never deleted",
		Subjects:    []string{CheckpointSubject(">")},
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		DenyDelete:  true,
		DenyPurge:   true,
		// Several processes may checkpoint the same entry; the first one's stands.
		Duplicates: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("ledger: checkpoint stream: %w", err)
	}
	return nil
}

// Checkpoints publishes and reads checkpoints on JetStream.
type Checkpoints struct{ JS jetstream.JetStream }

// Publish publishes a signed checkpoint, once per log and entry.
func (p Checkpoints) Publish(ctx context.Context, c Checkpoint) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = p.JS.Publish(ctx, CheckpointSubject(c.Log), data, jetstream.WithMsgID(c.Log+"/"+strconv.FormatInt(c.Seq, 10)))
	if err != nil {
		return fmt.Errorf("ledger: publish checkpoint: %w", err)
	}
	return nil
}

// Latest returns a log's latest checkpoint, or nil if it has none.
func (p Checkpoints) Latest(ctx context.Context, log string) (*Checkpoint, error) {
	stream, err := p.JS.Stream(ctx, CheckpointStream)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint stream: %w", err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, CheckpointSubject(log))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: latest checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(msg.Data, &c); err != nil {
		return nil, fmt.Errorf("ledger: checkpoint %d: %w", msg.Sequence, err)
	}
	return &c, nil
}

// All returns every checkpoint of a log, oldest first.
func (p Checkpoints) All(ctx context.Context, log string) ([]Checkpoint, error) {
	stream, err := p.JS.Stream(ctx, CheckpointStream)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint stream: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(CheckpointSubject(log)))
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint stream: %w", err)
	}
	want := info.State.Subjects[CheckpointSubject(log)]
	out := make([]Checkpoint, 0, want)
	if want == 0 {
		return out, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{CheckpointSubject(log)}})
	if err != nil {
		return nil, fmt.Errorf("ledger: read checkpoints: %w", err)
	}
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("ledger: read checkpoints: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var c Checkpoint
			if err := json.Unmarshal(msg.Data(), &c); err != nil {
				return nil, fmt.Errorf("ledger: read checkpoints: %w", err)
			}
			out = append(out, c)
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("ledger: read checkpoints: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("ledger: read checkpoints: %d of %d arrived", len(out), want)
		}
	}
	return out, nil
}

// Head is a log's last entry: its sequence number and link.
type Head func(ctx context.Context) (seq int64, link []byte, err error)

// Checkpointer signs and publishes a log's checkpoint whenever the log has grown.
type Checkpointer struct {
	Log    string
	Head   Head
	Signer *Signer
	Out    Checkpoints
	Every  time.Duration
	Logger *slog.Logger
	last   int64
}

// Once publishes a checkpoint of the log's head if no checkpoint names it yet, and returns it.
func (c *Checkpointer) Once(ctx context.Context) (*Checkpoint, error) {
	seq, link, err := c.Head(ctx)
	if err != nil || seq == 0 || seq == c.last {
		return nil, err
	}
	cp := Checkpoint{Log: c.Log, Seq: seq, Head: link, At: time.Now()}
	c.Signer.Sign(&cp)
	if err := c.Out.Publish(ctx, cp); err != nil {
		return nil, err
	}
	c.last = seq
	return &cp, nil
}

// Run checkpoints the log every so often until ctx ends; a failure is logged and tried again.
func (c *Checkpointer) Run(ctx context.Context) error {
	every := c.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := c.Once(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("checkpoint not published; will try again", "log", c.Log, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
