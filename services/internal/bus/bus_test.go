package bus

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

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

	nc, _, err := Connect(Config{URL: url, CAFile: pki.CA}, "test")
	if err != nil {
		t.Fatalf("with the cluster's CA: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not over TLS")
	}
	nc.Close()

	other := testpki.New(t, "127.0.0.1")
	if nc, _, err := Connect(Config{URL: url, CAFile: other.CA}, "test"); err == nil || !strings.Contains(err.Error(), "certificate") {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a server signed by another CA was trusted: %v", err)
	}
}
