package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/adapters/opendsr/demoprocessor"
	"kirjaamo.dev/adapters/opendsr/devcerts"
	"kirjaamo.dev/adapters/opendsr/forward"
)

// VendorRegisterID is the register of Kela's web analytics vendor: an external processor, reached
// over OpenDSR by the forwarding adapter, configured by adapters/opendsr/examples.
const VendorRegisterID = "kela-web-analytics-vendor"

// vendorDomain is the demo processor's OpenDSR domain, which its certificate is issued for.
const vendorDomain = "localhost"

// vendorVisitors are the page views the demo vendor holds, by the demo people's e-mail addresses:
// Aino and Matti used Kela's e-service with analytics allowed.
func vendorVisitors() map[string][]demoprocessor.Event {
	aino, matti := demo.People[0], demo.People[1]
	return map[string][]demoprocessor.Event{
		aino.Email:  {{Page: "/fi/opiskelijat/opintotuki", At: "2026-03-01T10:12:00Z"}, {Page: "/fi/asuminen", At: "2026-03-04T08:40:00Z"}},
		matti.Email: {{Page: "/fi/perheet", At: "2026-02-11T19:03:00Z"}},
	}
}

// vendor is the demo processor and the forwarding register in front of it.
type vendor struct {
	processor *demoprocessor.Processor
	ln        net.Listener
	register  *forward.Register
	// Callback is where the register's adapter takes the processor's callbacks.
	callback string
}

// startVendor makes the demo processor, with its own certificate from a CA of the data directory,
// and the forwarding register configured to reach it: the example configuration with the
// processor's address, its CA and token, and a callback endpoint on the loopback.
func startVendor(dataDir string, log *slog.Logger) (*vendor, error) {
	dir := filepath.Join(dataDir, "opendsr-vendor")
	certs, err := devcerts.Ensure(dir, vendorDomain)
	if err != nil {
		return nil, fmt.Errorf("devstack: vendor: %w", err)
	}
	token, err := keptSecret(filepath.Join(dir, "token"))
	if err != nil {
		return nil, err
	}
	p, err := demoprocessor.New(demoprocessor.Config{Domain: vendorDomain, Listen: "127.0.0.1:0", KeyFile: certs.Key, CertFile: certs.Cert,
		Token: token, ControllerID: "kela", Delay: 500 * time.Millisecond, Visitors: vendorVisitors(), Logger: log.With("component", "demo-vendor")})
	if err != nil {
		return nil, fmt.Errorf("devstack: vendor: %w", err)
	}
	ln, err := p.Listen()
	if err != nil {
		return nil, err
	}
	data, err := opendsr.Examples.ReadFile("examples/" + VendorRegisterID + ".json")
	if err != nil {
		return nil, err
	}
	cfg, err := forward.ParseConfig(data)
	if err != nil {
		return nil, err
	}
	cbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cbAddr := cbLn.Addr().String()
	_ = cbLn.Close()
	cfg.Processor = forward.Processor{URL: p.URL(), Domain: vendorDomain, CAFile: certs.CA, TokenFile: filepath.Join(dir, "token")}
	cfg.Callback = forward.Callback{Listen: cbAddr, URL: "http://" + cbAddr + "/opendsr/callbacks/" + VendorRegisterID}
	cfg.PollEvery = "1m"
	reg, err := forward.New(cfg, log.With("component", "adapter"))
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return &vendor{processor: p, ln: ln, register: reg, callback: cfg.Callback.URL}, nil
}

// serve runs the demo processor until ctx ends.
func (v *vendor) serve(ctx context.Context) error { return v.processor.Serve(ctx, v.ln) }

// asDemo is the forwarding register as the dev stack runs registers: it has no tables to set up.
type asDemo struct{ *forward.Register }

func (asDemo) Setup(context.Context) error { return nil }

// withVendor adds the vendor's register to the demo registers.
func withVendor(v *vendor) func(*pgxpool.Pool) []demo.Register {
	return func(db *pgxpool.Pool) []demo.Register { return append(demoRegisters(db), asDemo{v.register}) }
}
