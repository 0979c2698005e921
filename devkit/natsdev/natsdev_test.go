package natsdev_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/devkit/natsdev"
)

func start(t *testing.T, opts natsdev.Options) *natsdev.Server {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	s, err := natsdev.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func js(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	j, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, j
}

func TestStreamSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	s := start(t, natsdev.Options{StoreDir: dir})
	if s.NATS().JetStreamEnabled() != true {
		t.Fatal("JetStream not enabled")
	}
	nc, j := js(t, s.ClientURL())
	ctx := t.Context()
	if _, err := j.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two"} {
		if _, err := j.Publish(ctx, "events.test", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	s.Shutdown()

	s = start(t, natsdev.Options{StoreDir: dir})
	defer s.Shutdown()
	nc, j = js(t, s.ClientURL())
	defer nc.Close()
	stream, err := j.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("messages after restart = %d, want 2", n)
	}
	msg, err := stream.GetMsg(ctx, 2)
	if err != nil || string(msg.Data) != "two" {
		t.Fatalf("message 2 = %v, %v", msg, err)
	}
}

func TestConfigure(t *testing.T) {
	s := start(t, natsdev.Options{
		StoreDir: t.TempDir(),
		Configure: func(o *server.Options) {
			o.Username, o.Password = "svc", "secret"
		},
	})
	defer s.Shutdown()
	if nc, err := nats.Connect(s.ClientURL(), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("svc", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
