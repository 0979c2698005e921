package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/devkit/testpki"
	"kirjaamo.dev/services/natsauth"
)

// TestProvisionTrustsTheClustersCA: a production cluster serves NATS over TLS with its own CA, and
// provision is told that CA; without it, the server is not trusted.
func TestProvisionTrustsTheClustersCA(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a NATS server; skipped by -short (make test-short)")
	}
	dir := t.TempDir()
	issued, err := natsauth.Issue(filepath.Join(dir, "auth"), []string{"koronavilkku"})
	if err != nil {
		t.Fatal(err)
	}
	configure, err := natsauth.ServerOptions(issued.ServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	pki := testpki.New(t, "127.0.0.1")
	srv, err := natsdev.Start(natsdev.Options{StoreDir: filepath.Join(dir, "nats"), Port: -1, Configure: func(o *server.Options) {
		configure(o)
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

	if err := provision([]string{"-url", url, "-creds", issued.PlatformCreds, "-replicas", "1", "koronavilkku"}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("provision without the CA: %v, want a certificate error", err)
	}
	if err := provision([]string{"-url", url, "-creds", issued.PlatformCreds, "-ca", pki.CA, "-replicas", "1", "koronavilkku"}); err != nil {
		t.Fatalf("provision with the CA: %v", err)
	}
	nc, err := nats.Connect(url, nats.UserCredentials(issued.PlatformCreds), nats.RootCAs(pki.CA))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.KeyValue(context.Background(), contracts.DoneBucket("koronavilkku")); err != nil {
		t.Errorf("the effect record was not made: %v", err)
	}
}
