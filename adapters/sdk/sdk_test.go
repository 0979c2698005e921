package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
)

// The tests play the platform against the SDK's adapter on a real embedded NATS server.

const knownEmail = "aino.virtanen@example.org"

// platform is the platform's side: the streams, the catalogue's answer, a publisher of tasks and a
// plain subscription that sees every result, a repeated one included.
type platform struct {
	t       *testing.T
	srv     *server.Server
	url     string
	js      jetstream.JetStream
	results chan contracts.Result
	logs    *syncBuffer
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	srv := embeddednats.Start(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for name, subject := range map[string]string{contracts.TasksStream: contracts.AllTasksSubject, contracts.ResultsStream: contracts.AllResultsSubject} {
		if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{subject},
			Retention: jetstream.WorkQueuePolicy, Duplicates: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Subscribe(contracts.AllAnnouncementsSubject, func(m *nats.Msg) {
		data, _ := json.Marshal(contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce})
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	p := &platform{t: t, srv: srv, url: srv.ClientURL(), js: js, results: make(chan contracts.Result, 100), logs: &syncBuffer{}}
	if _, err := nc.Subscribe(contracts.AllResultsSubject, func(m *nats.Msg) {
		var res contracts.Result
		if err := json.Unmarshal(m.Data, &res); err != nil {
			t.Errorf("a result that is not JSON: %v", err)
		}
		p.results <- res
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return p
}

// run serves reg until the test ends.
func (p *platform) run(reg sdk.Register, ackWait time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sdk.Run(ctx, reg, sdk.Config{NATSURL: p.url, AckWait: ackWait, Logger: p.logger()})
	}()
	p.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			p.t.Errorf("the adapter: %v", err)
		}
	})
}

// logger writes the adapter's log where waitLog reads it.
func (p *platform) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var requests int

func (p *platform) task(op contracts.Operation, right contracts.Right) contracts.Task {
	requests++
	rid := fmt.Sprintf("0195d5c8-8d3e-7c1a-9f00-%012d", requests)
	now := time.Now().UTC()
	return contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(rid, "test-invitations"), RequestID: rid,
		RegisterID: "test-invitations", Operation: op, Right: right, ReceivedAt: now, Deadline: now.Add(30 * 24 * time.Hour),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: knownEmail}}}
}

// send publishes a task; msgID "" publishes it as a redelivery would, past the duplicate window.
func (p *platform) send(task contracts.Task, msgID string) {
	p.t.Helper()
	data, _ := json.Marshal(task)
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := p.js.Publish(p.t.Context(), contracts.TaskSubject(task.RegisterID), data, opts...); err != nil {
		p.t.Fatal(err)
	}
}

// result waits for the next answer to a task.
func (p *platform) result(taskID string, within time.Duration) contracts.Result {
	p.t.Helper()
	timeout := time.After(within)
	for {
		select {
		case res := <-p.results:
			if res.TaskID != taskID {
				continue
			}
			if err := res.Validate(); err != nil {
				p.t.Errorf("the result does not validate: %v", err)
			}
			return res
		case <-timeout:
			p.t.Fatalf("no answer to %s within %s; the adapter's log:\n%s", taskID, within, p.logs)
		}
	}
}

// waitLog waits until the adapter logs a line that holds s.
func (p *platform) waitLog(s string) {
	p.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.logs.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("the adapter never logged %q:\n%s", s, p.logs)
		}
	}
}

func declaration(t testing.TB) contracts.Declaration {
	t.Helper()
	data, err := os.ReadFile("conformance/testdata/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	var d contracts.Declaration
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// syncBuffer keeps what the adapter under test logged, written from its goroutines and read by the
// test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func wantFailed(t *testing.T, res contracts.Result, code contracts.ErrorCode, hints ...string) {
	t.Helper()
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != code || res.Error.Retryable {
		t.Fatalf("result %s %+v, want failed %s, not retryable", res.Status, res.Error, code)
	}
	for _, h := range hints {
		if !strings.Contains(res.Error.Message, h) {
			t.Errorf("the error %q does not say %q", res.Error.Message, h)
		}
	}
	if res.Package != nil || len(res.Records) > 0 {
		t.Errorf("a failed result carries records or a package: %+v", res.Package)
	}
}
