// Package natstest gives a test its own embedded NATS server with
// JetStream.
package natstest

import (
	"log/slog"
	"testing"

	"kirjaamo.dev/devkit/natsdev"
)

// New starts a server on a temp store dir and shuts it down when t ends.
func New(t testing.TB) *natsdev.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a NATS server; skipped by -short (make test-short)")
	}
	s, err := natsdev.Start(natsdev.Options{
		StoreDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}
