package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/devkit/testpki"
)

// TestATLSClusterIsReachedOnlyWithItsCA: production serves NATS over TLS, since tasks carry identity
// codes; the platform connects with the cluster's CA, and a server it cannot verify is refused.
func TestATLSClusterIsReachedOnlyWithItsCA(t *testing.T) {
	pki := testpki.New(t, "127.0.0.1")
	srv, err := natsdev.Start(natsdev.Options{StoreDir: t.TempDir(), Port: -1, Configure: func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.Cert, KeyFile: pki.Key})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS = tc, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	url := strings.Replace(srv.ClientURL(), "nats://", "tls://", 1)

	nc, _, err := Connect(t.Context(), Config{URL: url, CAFile: pki.CA}, "test", slog.Default())
	if err != nil {
		t.Fatalf("with the cluster's CA: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not over TLS")
	}
	nc.Close()

	other := testpki.New(t, "127.0.0.1")
	if nc, _, err := Connect(t.Context(), Config{URL: url, CAFile: other.CA}, "test", slog.Default()); err == nil || !strings.Contains(err.Error(), "certificate") {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a server signed by another CA was trusted: %v", err)
	}
}

// TestAServiceWaitsForNATSInsteadOfExiting: a service started before NATS (or while its cluster
// elects a leader) says it cannot reach it, keeps trying, and goes on once it can.
func TestAServiceWaitsForNATSInsteadOfExiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	started := make(chan *natsdev.Server, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		srv, err := natsdev.Start(natsdev.Options{StoreDir: t.TempDir(), Port: port})
		if err != nil {
			t.Error(err)
		}
		started <- srv
	}()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}, "test", log)
	if srv := <-started; srv != nil {
		defer srv.Shutdown()
	}
	if err != nil {
		t.Fatalf("the service gave up on NATS: %v", err)
	}
	defer nc.Close()
	if err := EnsureStreams(ctx, js, 1, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "cannot reach NATS yet; still trying") || !strings.Contains(logs.String(), "reached NATS") {
		t.Errorf("the service did not say it was waiting for NATS, and when it reached it:\n%s", logs.String())
	}
	// A second service finds the streams as they should be and leaves them alone.
	before, _ := js.Stream(ctx, contracts.TasksStream)
	if err := EnsureStreams(ctx, js, 1, log); err != nil {
		t.Fatal(err)
	}
	after, _ := js.Stream(ctx, contracts.TasksStream)
	if !before.CachedInfo().Created.Equal(after.CachedInfo().Created) {
		t.Error("the task stream was made anew")
	}
}

// TestAResultADeadOrchestratorHeldComesBackQuickly: a result delivered to an orchestrator that died
// before acknowledging it is delivered again within the results' ack wait, well inside the
// recovery tail of ten seconds, and a slow store does not make it come back twice.
func TestAResultADeadOrchestratorHeldComesBackQuickly(t *testing.T) {
	srv, err := natsdev.Start(natsdev.Options{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx := t.Context()
	nc, js, err := Connect(ctx, Config{URL: srv.ClientURL()}, "test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := EnsureStreams(ctx, js, 1, slog.Default()); err != nil {
		t.Fatal(err)
	}
	res := contracts.Result{Protocol: contracts.ResultProtocol, TaskID: "0195d5c8-8d3e-7c1a-9f00-000000000001/kanta-client-register/lookup",
		RequestID: "0195d5c8-8d3e-7c1a-9f00-000000000001", RegisterID: "kanta-client-register", Operation: contracts.OpLookup,
		Status: contracts.StatusNoData, FinishedAt: time.Now().UTC()}
	if err := res.Validate(); err != nil {
		t.Fatalf("the test's result: %v", err)
	}
	data, _ := json.Marshal(res)

	// The first orchestrator takes the result and dies holding it.
	deadCtx, die := context.WithCancel(ctx)
	taken := make(chan time.Time, 1)
	deadDone := make(chan error, 1)
	go func() {
		deadDone <- ConsumeResults(deadCtx, js, slog.Default(), func(ctx context.Context, r *contracts.Result) error {
			taken <- time.Now()
			<-ctx.Done() // never answers
			return ctx.Err()
		})
	}()
	if _, err := js.Publish(ctx, contracts.ResultSubject(res.RegisterID), data); err != nil {
		t.Fatal(err)
	}
	var heldAt time.Time
	select {
	case heldAt = <-taken:
	case <-time.After(10 * time.Second):
		t.Fatal("the result was never delivered")
	}
	nc.Close() // the process dies: no ack, no nak, no more progress
	die()
	<-deadDone

	nc2, js2, err := Connect(ctx, Config{URL: srv.ClientURL()}, "test-2", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	again := make(chan time.Time, 4)
	liveCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = ConsumeResults(liveCtx, js2, slog.Default(), func(ctx context.Context, r *contracts.Result) error {
			again <- time.Now()
			time.Sleep(2 * ResultsAckWait) // a slow store: kept in progress, not redelivered meanwhile
			return nil
		})
	}()
	select {
	case at := <-again:
		if tail := at.Sub(heldAt); tail > ResultsAckWait+3*time.Second {
			t.Errorf("the result came back %s after its orchestrator died", tail.Round(time.Millisecond))
		} else {
			t.Logf("the result came back %s after its orchestrator took it", tail.Round(time.Millisecond))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the result never came back")
	}
	select {
	case <-again:
		t.Error("a result being stored was delivered again")
	case <-time.After(2*ResultsAckWait + time.Second):
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
