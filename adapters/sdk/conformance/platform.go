package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// platform is the kit playing the platform's side of the protocol for one register: the catalogue's
// answer to announcements, the task publisher and a reader of results.
type platform struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	tasks   jetstream.Stream
	results *resultLog
	// events are the processing events the adapter published while the kit ran.
	events *eventLog
	// announcements carries the announcements made on the register's subject or with its id.
	announcements chan announcement

	mu   sync.Mutex
	sent map[string]contracts.Task // by task id
	// published are the stream sequences of every task the kit sent; answered, of those answered.
	published []uint64
	answered  map[uint64]string
}

func connect(ctx context.Context, cfg Config) (*platform, error) {
	opts := []nats.Option{nats.Name("kirjaamo-conformance-" + cfg.RegisterID)}
	if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("conformance: connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("conformance: jetstream: %w", err)
	}
	p := &platform{cfg: cfg, log: cfg.Logger.With("register", cfg.RegisterID), nc: nc, js: js,
		results: newResultLog(), events: newEventLog(), announcements: make(chan announcement, 16),
		sent: map[string]contracts.Task{}, answered: map[uint64]string{}}
	if err := p.ensureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	// A plain subscription, not a JetStream consumer, sees every result the adapter publishes,
	// including a repeated answer that the stream drops as a duplicate of the first: that repeat is
	// what shows whether a redelivered task applied its effect again.
	if _, err := nc.Subscribe(contracts.ResultSubject(cfg.RegisterID), p.results.take); err != nil {
		nc.Close()
		return nil, fmt.Errorf("conformance: subscribe to results: %w", err)
	}
	if _, err := nc.Subscribe(contracts.ProcessingSubject(cfg.RegisterID), p.events.take); err != nil {
		nc.Close()
		return nil, fmt.Errorf("conformance: subscribe to processing events: %w", err)
	}
	if _, err := nc.Subscribe(contracts.AllAnnouncementsSubject, p.answerAnnouncement); err != nil {
		nc.Close()
		return nil, fmt.Errorf("conformance: subscribe to announcements: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("conformance: subscribe: %w", err)
	}
	return p, nil
}

func (p *platform) close() {
	p.removeOwnTasks()
	p.removeOwnResults()
	p.nc.Close()
}

// removeOwnTasks deletes the kit's tasks that no adapter took, so that an adapter started later does
// not carry out a check's erasure long after the check.
func (p *platform) removeOwnTasks() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.mu.Lock()
	seqs := slices.Clone(p.published)
	p.mu.Unlock()
	for _, seq := range seqs {
		if err := p.tasks.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			p.log.Warn("a task of the kit's is left in the stream", "sequence", seq, "error", err)
		}
	}
}

// ensureStreams creates the task, result and processing streams, and the register's effect record and package
// bucket, as the platform does, if they are missing. An existing stream is left as it is: it may be
// the platform's.
func (p *platform) ensureStreams(ctx context.Context) error {
	for _, cfg := range []jetstream.StreamConfig{
		// As the platform: a task or result re-published within a day is dropped, an event within a minute.
		{Name: contracts.TasksStream, Subjects: []string{contracts.AllTasksSubject}, Description: "tasks sent to registers", Duplicates: 24 * time.Hour},
		{Name: contracts.ResultsStream, Subjects: []string{contracts.AllResultsSubject}, Description: "results sent by registers", Duplicates: 24 * time.Hour},
		{Name: contracts.ProcessingStream, Subjects: []string{contracts.AllProcessingSubject}, Description: "processing events sent by registers",
			Duplicates: time.Minute},
	} {
		cfg.Retention = jetstream.WorkQueuePolicy
		cfg.Storage = jetstream.FileStorage
		s, err := p.js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = p.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another kit made it meanwhile
				s, err = p.js.Stream(ctx, cfg.Name)
			}
		}
		if err != nil {
			return fmt.Errorf("conformance: stream %s: %w", cfg.Name, err)
		}
		if cfg.Name == contracts.TasksStream {
			p.tasks = s
		}
	}
	// The register's effect record and package bucket are the platform's to provision, since a
	// register's own credentials may not create streams; the Go SDK creates them itself only where
	// it may.
	bucket := sdk.DoneBucketConfig(p.cfg.RegisterID)
	_, err := p.js.KeyValue(ctx, bucket.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = p.js.CreateKeyValue(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketExists) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("conformance: effect record bucket: %w", err)
	}
	packages := sdk.PackageBucketConfig(p.cfg.RegisterID)
	_, err = p.js.ObjectStore(ctx, packages.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = p.js.CreateObjectStore(ctx, packages)
		if errors.Is(err, jetstream.ErrBucketExists) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("conformance: package bucket: %w", err)
	}
	return nil
}

// announcement is one announcement made for the register under check.
type announcement struct {
	subject string
	body    contracts.Announcement
	// problem is why the kit refused it, as the catalogue would have; nil if it was accepted.
	problem *contracts.Error
}

// answerAnnouncement answers as the register catalogue does (services/catalogue): the same
// validation, the same reply. Other registers' announcements are left alone.
func (p *platform) answerAnnouncement(msg *nats.Msg) {
	var a contracts.Announcement
	decodeErr := json.Unmarshal(msg.Data, &a)
	fromSubject := contracts.RegisterIDFromSubject(msg.Subject)
	if fromSubject != p.cfg.RegisterID && a.Declaration.RegisterID != p.cfg.RegisterID {
		return
	}
	reply := contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce, Digest: a.Declaration.Digest()}
	if decodeErr != nil {
		reply = contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInvalidMessage, "announcement is not valid JSON: %v", decodeErr)}
	} else if err := a.Validate(); err != nil {
		code := contracts.ErrInvalidMessage
		if _, ok := contracts.AsValidationError(err); ok {
			code = contracts.ErrDeclarationRefused
		}
		reply = contracts.AnnounceReply{Error: contracts.ErrorFromValidation(code, err)}
	} else if fromSubject != a.Declaration.RegisterID {
		reply = contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInvalidMessage,
			"announced on the subject of register %q but declares register %q", fromSubject, a.Declaration.RegisterID)}
	}
	data, _ := json.Marshal(reply)
	if err := msg.Respond(data); err != nil {
		p.log.Warn("could not answer the announcement", "error", err)
	}
	select {
	case p.announcements <- announcement{subject: msg.Subject, body: a, problem: reply.Error}:
	default: // the check takes the first; an adapter retrying is not news
	}
}

// newTask builds a task as the orchestrator would, for a request of the kit's own.
func (p *platform) newTask(op contracts.Operation, ids []contracts.Identifier) contracts.Task {
	requestID := newUUID()
	now := time.Now().UTC()
	return contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(requestID, p.cfg.RegisterID),
		RequestID: requestID, RegisterID: p.cfg.RegisterID, Operation: op, Right: rightFor(op),
		Identifiers: ids, ReceivedAt: now, Deadline: now.Add(30 * 24 * time.Hour)}
}

// publish sends a task. msgID is the task id for a first dispatch, as the platform sends it; empty
// for a redelivery, which the stream must not drop as a duplicate. It returns the stream sequence,
// which is gone from the work-queue stream once the adapter acknowledged the task.
func (p *platform) publish(ctx context.Context, task contracts.Task, msgID string) (uint64, error) {
	data, err := json.Marshal(task)
	if err != nil {
		return 0, fmt.Errorf("conformance: encode task: %w", err)
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	p.mu.Lock()
	p.sent[task.TaskID] = task
	p.mu.Unlock()
	ack, err := p.js.Publish(ctx, contracts.TaskSubject(task.RegisterID), data, opts...)
	if err != nil {
		return 0, fmt.Errorf("conformance: publish task: %w", err)
	}
	p.mu.Lock()
	p.published = append(p.published, ack.Sequence)
	p.mu.Unlock()
	p.log.Debug("task sent", "task", task.TaskID, "operation", task.Operation)
	return ack.Sequence, nil
}

// ask sends a task as the platform would and waits for its first answer.
func (p *platform) ask(ctx context.Context, task contracts.Task) (observed, bool, error) {
	seq, err := p.publish(ctx, task, task.TaskID)
	if err != nil {
		return observed{}, false, err
	}
	got, ok := p.results.wait(ctx, task.TaskID, 1, p.cfg.Timeout)
	if !ok {
		return observed{}, false, nil
	}
	p.noteAnswered(seq, task.TaskID)
	return got[0], true, nil
}

func (p *platform) noteAnswered(seq uint64, taskID string) {
	p.mu.Lock()
	p.answered[seq] = taskID
	p.mu.Unlock()
}

func (p *platform) sentTask(taskID string) (contracts.Task, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.sent[taskID]
	return t, ok
}

// acknowledged reports whether the adapter acknowledged the task at a stream sequence: a work-queue
// stream removes a message once its consumer acknowledged it.
func (p *platform) acknowledged(ctx context.Context, seq uint64) (bool, error) {
	_, err := p.tasks.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("conformance: look up task %d: %w", seq, err)
	}
	return false, nil
}

// waitAcknowledged waits until every task of seqs is acknowledged, and returns those that are not.
func (p *platform) waitAcknowledged(ctx context.Context, seqs []uint64, within time.Duration) ([]uint64, error) {
	deadline := time.Now().Add(within)
	for {
		var open []uint64
		for _, seq := range seqs {
			done, err := p.acknowledged(ctx, seq)
			if err != nil {
				return nil, err
			}
			if !done {
				open = append(open, seq)
			}
		}
		if len(open) == 0 || time.Now().After(deadline) {
			return open, nil
		}
		select {
		case <-ctx.Done():
			return open, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// removeOwnResults takes the kit's results out of the work-queue stream, so that the stream is left
// as the kit found it. Where another consumer already takes the register's results (the platform's
// orchestrator), the server refuses a second one, and those results are left to it.
func (p *platform) removeOwnResults() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := p.js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
		FilterSubject: contracts.ResultSubject(p.cfg.RegisterID), AckPolicy: jetstream.AckExplicitPolicy,
		InactiveThreshold: time.Minute})
	if err != nil {
		p.log.Info("the kit's results are left in the stream", "reason", err)
		return
	}
	defer func() { _ = p.js.DeleteConsumer(ctx, contracts.ResultsStream, cons.CachedInfo().Name) }()
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			return
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var r struct {
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal(msg.Data(), &r) == nil {
				if _, ours := p.sentTask(r.TaskID); ours {
					_ = msg.Ack()
				}
			}
		}
		if n == 0 {
			return
		}
	}
}

// observed is one result message as it arrived on the register's result subject.
type observed struct {
	TaskID    string
	Result    contracts.Result
	DecodeErr error
	// MsgID is the message's Nats-Msg-Id header, by which the stream drops a repeated answer.
	MsgID string
}

// resultLog keeps every result message, in order, and wakes those waiting for one.
type resultLog struct {
	mu      sync.Mutex
	all     []observed
	changed chan struct{}
}

func newResultLog() *resultLog { return &resultLog{changed: make(chan struct{})} }

func (l *resultLog) take(msg *nats.Msg) {
	o := observed{MsgID: msg.Header.Get(jetstream.MsgIDHeader)}
	var id struct {
		TaskID string `json:"task_id"`
	}
	_ = json.Unmarshal(msg.Data, &id)
	o.TaskID = id.TaskID
	o.DecodeErr = json.Unmarshal(msg.Data, &o.Result)
	l.mu.Lock()
	l.all = append(l.all, o)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *resultLog) snapshot() []observed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// forTask returns the answers to a task so far.
func (l *resultLog) forTask(taskID string) []observed {
	var out []observed
	for _, o := range l.snapshot() {
		if o.TaskID == taskID {
			out = append(out, o)
		}
	}
	return out
}

// wait waits for the n-th answer to a task and returns the first n; ok is false if they did not come.
func (l *resultLog) wait(ctx context.Context, taskID string, n int, within time.Duration) ([]observed, bool) {
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if got := l.forTask(taskID); len(got) >= n {
			return got[:n], true
		}
		select {
		case <-changed:
		case <-timer.C:
			return l.forTask(taskID), false
		case <-ctx.Done():
			return l.forTask(taskID), false
		}
	}
}

// newUUID returns a random (version 4) UUID, for the kit's request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// rightFor is the right a task of an operation is sent for.
func rightFor(op contracts.Operation) contracts.Right {
	switch op {
	case contracts.OpRectify:
		return contracts.RightRectification
	case contracts.OpErase:
		return contracts.RightErasure
	case contracts.OpRestrict, contracts.OpLiftRestriction:
		return contracts.RightRestriction
	case contracts.OpObject:
		return contracts.RightObjection
	case contracts.OpLookup, contracts.OpListRecipients:
		return contracts.RightAccess
	}
	return contracts.RightAccess // an operation this kit does not know yet goes as an access task
}
