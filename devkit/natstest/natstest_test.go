package natstest_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/devkit/natstest"
)

func TestNew(t *testing.T) {
	a, b := natstest.New(t), natstest.New(t)
	if a.ClientURL() == b.ClientURL() {
		t.Fatal("two tests share a server")
	}
	nc, err := nats.Connect(a.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("ping")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5e9); err != nil {
		t.Fatal(err)
	}
}
