// Package embeddednats starts a NATS server with JetStream inside a test's process, for the SDK's and
// the conformance kit's tests to play the platform against. It is the SDK module's own, on
// nats-server's server package, so that the module needs nothing of the platform's test kit
// (kirjaamo.dev/devkit) and a register owner can build and test it alone.
package embeddednats

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start starts a server on a free port of the loopback interface, with its JetStream store in a
// temporary directory of t, and shuts it down when t ends. A test may shut it down sooner, to see
// what an adapter does when NATS is gone.
func Start(t testing.TB) *server.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a NATS server; skipped by -short (make test-short)")
	}
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true, // the test process owns its signals
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("embeddednats: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		t.Fatal("embeddednats: the server did not accept connections within 30 s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}
