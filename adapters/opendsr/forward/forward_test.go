package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/adapters/opendsr/demoprocessor"
	"kirjaamo.dev/adapters/opendsr/devcerts"
	"kirjaamo.dev/adapters/opendsr/forward"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
)

const (
	known   = "aino.virtanen@example.fi"
	token   = "demo-vendor-token"
	domain  = "localhost"
	vendors = "kela-web-analytics-vendor"
)

var quiet = slog.New(slog.DiscardHandler)

// vendor starts the demo processor, holding three page views of the known address.
func vendor(t *testing.T, delay time.Duration) (*demoprocessor.Processor, devcerts.Files) {
	t.Helper()
	certs, err := devcerts.Ensure(t.TempDir(), domain)
	if err != nil {
		t.Fatal(err)
	}
	p, err := demoprocessor.New(demoprocessor.Config{Domain: domain, Listen: "127.0.0.1:0", KeyFile: certs.Key, CertFile: certs.Cert,
		Token: token, ControllerID: "kela", Delay: delay, Logger: quiet,
		Visitors: map[string][]demoprocessor.Event{known: {{Page: "/fi/opiskelijat", At: "2026-03-01T10:00:00Z"},
			{Page: "/fi/perheet", At: "2026-03-02T11:00:00Z"}, {Page: "/fi/asuminen", At: "2026-03-03T12:00:00Z"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, certs
}

// config is the example configuration, pointed at the demo processor.
func config(t *testing.T, p *demoprocessor.Processor, certs devcerts.Files) forward.Config {
	t.Helper()
	data, err := opendsr.Examples.ReadFile("examples/kela-web-analytics-vendor.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := forward.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg.Processor = forward.Processor{URL: p.URL(), Domain: domain, CAFile: certs.CA, TokenFile: tokenFile}
	cfg.Callback = forward.Callback{Listen: addr, URL: "http://" + addr + "/opendsr/callbacks/" + vendors}
	cfg.PollEvery = "1h" // only callbacks complete a task here
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTheForwardingRegisterPassesTheConformanceKit: the kit register owners run checks the
// OpenDSR-forwarding register like any other, against the demo processor: lookups come back with
// the processor's results (in a sealed package when the kit asks for one), an unknown person has no
// data held, an erasure is applied once however often it is delivered, a cancelled task is not
// forwarded, and a stop drains.
func TestTheForwardingRegisterPassesTheConformanceKit(t *testing.T) {
	srv := natstest.New(t)
	p, certs := vendor(t, 20*time.Millisecond)
	reg, err := forward.New(config(t, p, certs), quiet)
	if err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: vendors, Timeout: 15 * time.Second, Logger: quiet,
		Known: conformance.Subject{Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: known}}},
		Adapter: func(ctx context.Context) error {
			return sdk.Run(ctx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second, Logger: quiet})
		}})
	if n := p.Holds(known); n != 0 {
		t.Errorf("the vendor still holds %d events on the known address after the kit's erasure", n)
	}
}

// platform plays the platform's side for one adapter: streams, the catalogue's answers to its
// announcement and its events, tasks sent and results taken.
type platform struct {
	t       *testing.T
	url     string
	js      jetstream.JetStream
	results chan contracts.Result
	events  chan contracts.Event
}

func newPlatform(t *testing.T) *platform {
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	for name, subject := range map[string]string{contracts.TasksStream: contracts.AllTasksSubject, contracts.ResultsStream: contracts.AllResultsSubject} {
		if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy}); err != nil {
			t.Fatal(err)
		}
	}
	p := &platform{t: t, url: srv.ClientURL(), js: js, results: make(chan contracts.Result, 10), events: make(chan contracts.Event, 10)}
	_, _ = nc.Subscribe(contracts.AllAnnouncementsSubject, func(m *nats.Msg) {
		data, _ := json.Marshal(contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce})
		_ = m.Respond(data)
	})
	_, _ = nc.Subscribe(contracts.AllEventsSubject, func(m *nats.Msg) {
		var e contracts.Event
		_ = json.Unmarshal(m.Data, &e)
		p.events <- e
		data, _ := json.Marshal(contracts.EventReply{Recorded: true})
		_ = m.Respond(data)
	})
	_, _ = nc.Subscribe(contracts.AllResultsSubject, func(m *nats.Msg) {
		var r contracts.Result
		_ = json.Unmarshal(m.Data, &r)
		p.results <- r
	})
	_ = nc.Flush()
	return p
}

var requests atomic.Int32

func (p *platform) send(op contracts.Operation, right contracts.Right, email string) contracts.Task {
	rid := fmt.Sprintf("0195d5c8-8d3e-7c1a-9f00-%012d", requests.Add(1))
	now := time.Now().UTC()
	task := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(rid, vendors), RequestID: rid, RegisterID: vendors,
		Operation: op, Right: right, ReceivedAt: now, Deadline: now.Add(30 * 24 * time.Hour),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: email}}}
	data, _ := json.Marshal(task)
	if _, err := p.js.Publish(p.t.Context(), contracts.TaskSubject(vendors), data); err != nil {
		p.t.Fatal(err)
	}
	return task
}

func (p *platform) result(within time.Duration) contracts.Result {
	p.t.Helper()
	select {
	case r := <-p.results:
		return r
	case <-time.After(within):
		p.t.Fatal("no result")
	}
	return contracts.Result{}
}

func (p *platform) event(kind contracts.EventKind, within time.Duration) contracts.Event {
	p.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-p.events:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			p.t.Fatalf("no %s event", kind)
		}
	}
}

func (p *platform) run(reg *forward.Register) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.Run(ctx, reg, sdk.Config{NATSURL: p.url, AckWait: 3 * time.Second, Logger: quiet}) }()
	p.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			p.t.Errorf("the adapter: %v", err)
		}
	})
}

// TestAnErasureReachesTheProcessorAndItsSignedCallbackAnswers: the erasure is forwarded with the
// address hashed as the processor takes it, the signed receipt goes to the record, and the signed
// callback that says completed makes the register's answer, with the processor's count.
func TestAnErasureReachesTheProcessorAndItsSignedCallbackAnswers(t *testing.T) {
	plat := newPlatform(t)
	p, certs := vendor(t, 50*time.Millisecond)
	reg, err := forward.New(config(t, p, certs), quiet)
	if err != nil {
		t.Fatal(err)
	}
	plat.run(reg)
	task := plat.send(contracts.OpErase, contracts.RightErasure, "Aino.Virtanen@example.fi")
	fwd := plat.event(contracts.EventForwarded, 15*time.Second)
	if fwd.TaskID != task.TaskID || fwd.Detail["receipt_signature"] != "verified" || fwd.Detail["subject_request_id"] != forward.SubjectRequestID(task.TaskID) {
		t.Errorf("the forwarded event: %+v", fwd)
	}
	res := plat.result(15 * time.Second)
	if res.Status != contracts.StatusApplied || res.Affected != 3 {
		t.Fatalf("answer %s, affected %d; want applied to the vendor's 3 events", res.Status, res.Affected)
	}
	for end := time.Now().Add(5 * time.Second); p.Callbacks() < 2 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if p.Holds(known) != 0 || p.Callbacks() < 2 {
		t.Errorf("after the erasure the vendor holds %d events and made %d callbacks", p.Holds(known), p.Callbacks())
	}
}

// TestACallbackThatIsNotTheProcessorsIsRefusedAndRecorded: a callback with no signature, with a
// signature that does not verify over the body (tampered on the way), or signed for another domain
// is refused before it is read, nothing it says is taken, and each refusal reaches the record, on
// the case of the request it claims to be about.
func TestACallbackThatIsNotTheProcessorsIsRefusedAndRecorded(t *testing.T) {
	plat := newPlatform(t)
	p, certs := vendor(t, time.Hour) // the processor itself never calls back here
	cfg := config(t, p, certs)
	reg, err := forward.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	plat.run(reg)
	task := plat.send(contracts.OpErase, contracts.RightErasure, known)
	plat.event(contracts.EventForwarded, 15*time.Second)
	count := 3
	body, _ := json.Marshal(opendsr.Callback{ControllerID: "kela", StatusCallbackURL: cfg.Callback.URL,
		SubjectRequestID: forward.SubjectRequestID(task.TaskID), RequestStatus: opendsr.StatusCompleted, ResultsCount: &count,
		ExpectedCompletionTime: time.Now()})
	tampered := bytes.Replace(body, []byte(`"results_count":3`), []byte(`"results_count":0`), 1)
	for name, c := range map[string]struct {
		body           []byte
		domain, sig    string
		status         int
		reasonContains string
	}{
		"unsigned":              {body, domain, "", http.StatusForbidden, "unsigned"},
		"tampered":              {tampered, domain, p.Sign(body), http.StatusForbidden, "does not verify"},
		"signed for elsewhere":  {body, "evil.example", p.Sign(body), http.StatusUnauthorized, "another domain"},
		"garbage for signature": {body, domain, "bm90IGEgc2lnbmF0dXJl", http.StatusForbidden, "does not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, cfg.Callback.URL, bytes.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(opendsr.HeaderProcessorDomain, c.domain)
			if c.sig != "" {
				req.Header.Set(opendsr.HeaderSignature, c.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("answered %d, want %d", resp.StatusCode, c.status)
			}
			e := plat.event(contracts.EventCallbackRefused, 15*time.Second)
			if !strings.Contains(e.Detail["reason"], c.reasonContains) || e.TaskID != task.TaskID || e.RequestID != task.RequestID {
				t.Errorf("the record's event: %+v", e)
			}
		})
	}
	select {
	case r := <-plat.results:
		t.Fatalf("a refused callback answered the task: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	// The real one, signed over the body as sent, is taken.
	req, _ := http.NewRequest(http.MethodPost, cfg.Callback.URL, bytes.NewReader(body))
	req.Header.Set(opendsr.HeaderProcessorDomain, domain)
	req.Header.Set(opendsr.HeaderSignature, p.Sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the processor's own callback: %v %v", resp, err)
	}
	if res := plat.result(15 * time.Second); res.Status != contracts.StatusApplied || res.Affected != 3 {
		t.Errorf("answer %s, affected %d; want applied to 3", res.Status, res.Affected)
	}
}

// TestAWithdrawnRequestIsCancelledAtTheProcessor: while the processor still has the erasure pending,
// the subject's withdrawal reaches the adapter through the effect record, the adapter cancels it at
// the processor (DELETE), and answers with a cancellation: nothing was done.
func TestAWithdrawnRequestIsCancelledAtTheProcessor(t *testing.T) {
	plat := newPlatform(t)
	p, certs := vendor(t, time.Hour)
	reg, err := forward.New(config(t, p, certs), quiet)
	if err != nil {
		t.Fatal(err)
	}
	plat.run(reg)
	task := plat.send(contracts.OpErase, contracts.RightErasure, known)
	plat.event(contracts.EventForwarded, 15*time.Second)
	if cancelled, err := sdk.CancelTask(t.Context(), plat.js, vendors, task.TaskID, "the data subject withdrew the request"); err != nil || cancelled {
		t.Fatalf("CancelTask: %v %v; want the task under way", cancelled, err)
	}
	res := plat.result(15 * time.Second)
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrCancelled {
		t.Fatalf("answer %+v, want a cancellation", res)
	}
	if st := p.Status(forward.SubjectRequestID(task.TaskID)); st != opendsr.StatusCancelled || p.Holds(known) != 3 {
		t.Errorf("at the processor the request is %q and %d events are held; want cancelled, all 3 kept", st, p.Holds(known))
	}
}
