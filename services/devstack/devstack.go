// Package devstack runs the whole platform in one process on embedded servers: a throwaway
// PostgreSQL cluster from the machine's binaries (or the database given), NATS with JetStream, the
// Temporal server on a SQLite file, a test identity provider with the demo people, every service and
// the five demo registers. State lives in one data directory, so a second start resumes the cases of
// the first. `make dev` runs it; the integration and browser tests start it too.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/opendsr/demoprocessor"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/devkit/pgcluster"
	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/catalogue"
	"kirjaamo.dev/services/devstack/devdata"
	"kirjaamo.dev/services/devstack/temporaldev"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/flow"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/services/notifier"
	"kirjaamo.dev/services/office"
	"kirjaamo.dev/services/opendsr"
	"kirjaamo.dev/services/orchestrator"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/services/processing"
	"kirjaamo.dev/workflows/codec"
)

// Config says where the stack keeps its state and where it listens. Zero ports pick free ones.
type Config struct {
	DataDir string `env:"DATA_DIR" default:".data" doc:"dev: where make dev keeps its state (its PostgreSQL cluster, NATS, Temporal, keys)"`
	// DatabaseURL, if set, is used instead of starting a PostgreSQL cluster. The stack creates its
	// two databases' schemas in it (platform tables and the demo registers' schemas).
	DatabaseURL  string `env:"DATABASE_URL" doc:"dev: a PostgreSQL to use instead of the throwaway cluster"`
	Host         string
	PortalPort   int `env:"DEV_PORTAL_PORT" default:"8080" doc:"dev: the portal's port"`
	OfficePort   int `env:"DEV_OFFICE_PORT" default:"8081" doc:"dev: the office's port"`
	IDPPort      int `env:"DEV_IDP_PORT" default:"8090" doc:"dev: the identity provider's port"`
	OpenDSRPort  int `env:"DEV_OPENDSR_PORT" default:"8082" doc:"dev: the OpenDSR processor endpoints' port"`
	NATSPort     int `env:"DEV_NATS_PORT" default:"4222" doc:"dev: the NATS server's port"`
	TemporalPort int `env:"DEV_TEMPORAL_PORT" default:"7233" doc:"dev: the Temporal server's port"`
	OpsPort      int `env:"DEV_OPS_PORT" default:"9464" doc:"dev: where the process serves /metrics, /healthz and /readyz"`
	// FastPostgres turns off fsync in a cluster the stack starts: for throwaway test stacks only.
	FastPostgres bool
	// Registers replaces the five demo registers, e.g. with the benchmark's registers. Each gets the
	// registers database.
	Registers func(db *pgxpool.Pool) []demo.Register
	// LiveViews is how often the demo Kanta processing log gets a made-up use of Aino's data, which
	// its adapter publishes as a processing event (demo.KantaProcessingLog.LiveViews): 0 is every
	// 5 s, a negative value never. Only with the demo registers.
	LiveViews time.Duration
	// Limits, if set, replaces the sites' rate limits, which are otherwise production's.
	Limits *Limits
	Logger *slog.Logger
}

// OfficeEmail, Staff, DemoRegisters and IDPPeople are the dev data (package devdata).
const OfficeEmail = devdata.OfficeEmail

// Staff are the dev identity provider's registry office accounts.
var Staff = devdata.Staff

// DemoRegisters are the five demo registers (devdata.Registers).
func DemoRegisters(db *pgxpool.Pool) []demo.Register { return devdata.Registers(db) }

// IDPPeople are the dev identity provider's accounts (devdata.People).
func IDPPeople() []devidp.Person { return devdata.People() }

// Check refuses a port that is not one.
func (c *Config) Check() error {
	for _, p := range []int{c.PortalPort, c.OfficePort, c.IDPPort, c.OpenDSRPort, c.NATSPort, c.TemporalPort, c.OpsPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("devstack: %d is not a port number", p)
		}
	}
	return nil
}

// Variables are the variables `kirjaamo dev` reads, for the README's table (cli.Variables): its own,
// and the sites' rate limits, which it reads under the sites' own names.
func Variables() config.Service {
	l := defaultLimits()
	vars := config.Describe("KIRJAAMO_", Config{})
	vars = append(vars, config.Describe(portal.ConfigPrefix, l.Portal)...)
	return config.Service{Name: "kirjaamo dev", Vars: append(vars, config.Describe(office.ConfigPrefix, l.Office)...)}
}

func defaultLimits() *Limits {
	return &Limits{Portal: portal.DefaultConfig().RequestLimits, Office: office.DefaultConfig().Limits}
}

// LoadConfig reads the dev stack's configuration from the environment, the sites' rate limits
// under the sites' own variables.
func LoadConfig() (Config, error) {
	cfg := Config{Host: "127.0.0.1", Limits: defaultLimits()}
	return cfg, errors.Join(config.Load("KIRJAAMO_", &cfg), config.Load(portal.ConfigPrefix, &cfg.Limits.Portal),
		config.Load(office.ConfigPrefix, &cfg.Limits.Office))
}

// Limits are the sites' rate limits, read by `kirjaamo dev` from the sites' own variables.
type Limits struct {
	Portal portal.RequestLimits
	Office web.Limits
}

// TestLimits are rate limits high enough for a test suite that sends everything from one address as
// a few demo people; the limits themselves are tested with their handlers and their counter.
var TestLimits = func() *Limits {
	calls := web.Limits{CallsPerMinute: 10_000, CallsPerAddressPerMinute: 100_000}
	return &Limits{Portal: portal.RequestLimits{Limits: calls, SubmissionsPerHour: 10_000, MaxOpenRequests: 10_000}, Office: calls}
}()

// Stack is a running platform.
type Stack struct {
	PortalURL string
	OfficeURL string
	IDPURL    string
	NATSURL   string
	Temporal  string
	// OpsURL serves the process's /metrics, /healthz and /readyz.
	OpsURL      string
	DatabaseURL string
	// RegistersURL is the database of the demo registers' own tables.
	RegistersURL string
	// OwnerURL is the platform's database as the role that owns its tables and migrates them;
	// AdminURL, as the cluster's superuser. The services connect as DatabaseURL's role, which owns
	// nothing. Tests that play an attacker with the database's keys use these.
	OwnerURL, AdminURL string
	// payloadKeys are the platform's payload keys, which every key it keeps data at rest with is
	// derived from.
	payloadKeys string
	// NATSCredentials is the platform's .creds file, for tools and tests that connect as the platform:
	// NATS takes no anonymous clients.
	NATSCredentials string
	// PortalClientSecret and OfficeClientSecret are the sites' OpenID client secrets at the dev
	// identity provider, for tests that call the APIs with an ID token of their own.
	PortalClientSecret string
	OfficeClientSecret string
	// Platform is the stack's connections and stores, for tests that look inside.
	Platform *platform.Platform

	// Vendor is the demo OpenDSR processor behind the Kela web analytics vendor's register, and
	// VendorCallback the register's adapter's endpoint for its callbacks; nil and "" when the
	// registers were replaced.
	Vendor         *demoprocessor.Processor
	VendorCallback string
	// OpenDSR is the platform as an OpenDSR processor, with the demo controller's token (opendsr.go).
	OpenDSR OpenDSREndpoint

	vendor    *vendor
	registers int // how many demo registers run
	natsAuth  *natsAuth
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	errMu     sync.Mutex
	err       error
	closers   []func()
}

// Start brings the platform up and returns once every service is serving.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: data dir: %w", err)
	}
	s := &Stack{}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	log := cfg.Logger
	// The metrics and health of the whole process, from the start: not ready until every service is.
	ready := &telemetry.Readiness{}
	opsLn, err := net.Listen("tcp", fmt.Sprintf("%s:%d", cfg.Host, cfg.OpsPort))
	if err != nil {
		return nil, fmt.Errorf("devstack: listen on port %d: %w", cfg.OpsPort, err)
	}
	s.OpsURL = "http://" + opsLn.Addr().String()
	opsSrv := &http.Server{Handler: telemetry.Handler(ready), ReadHeaderTimeout: 5 * time.Second}
	s.closers = append(s.closers, func() { _ = opsSrv.Close() })
	go func() { _ = opsSrv.Serve(opsLn) }()

	if err := s.startDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	demos := cfg.Registers == nil
	if demos {
		// The demo registers, and the web analytics vendor behind Kela's statistics: a demo OpenDSR
		// processor of its own, reached by the forwarding adapter (vendor.go).
		v, err := startVendor(cfg.DataDir, log)
		if err != nil {
			return nil, err
		}
		s.Vendor = v.processor
		s.VendorCallback = v.callback
		s.vendor = v
		cfg.Registers = withVendor(v)
	}
	auth, err := natsCredentials(cfg.DataDir, registerIDs(cfg.Registers)) // per-register NATS credentials (credentials.go)
	if err != nil {
		return nil, err
	}
	s.natsAuth, s.NATSCredentials = auth, auth.PlatformCreds
	nats, err := natsdev.Start(natsdev.Options{StoreDir: filepath.Join(cfg.DataDir, "nats"), Host: cfg.Host, Port: cfg.NATSPort, Logger: log.With("component", "nats"),
		Configure: auth.configure})
	if err != nil {
		return nil, fmt.Errorf("devstack: nats: %w", err)
	}
	s.closers = append(s.closers, nats.Shutdown)
	s.NATSURL = nats.ClientURL()

	tsrv, err := temporaldev.Start(ctx, temporaldev.Options{DBFile: filepath.Join(cfg.DataDir, "temporal.db"), Host: cfg.Host,
		Port: cfg.TemporalPort, Logger: slog.New(withoutKnownNoise{log.Handler()}).With("component", "temporal-server")})
	if err != nil {
		return nil, fmt.Errorf("devstack: temporal: %w", err)
	}
	s.closers = append(s.closers, func() { _ = tsrv.Stop() })
	s.Temporal = tsrv.HostPort()

	keys, err := payloadKeys(filepath.Join(cfg.DataDir, "payload-keys"))
	if err != nil {
		return nil, err
	}
	s.payloadKeys = keys
	pcfg := platform.Config{Base: platform.Base{DatabaseURL: s.DatabaseURL, PayloadKeys: keys},
		NATS: bus.Config{URL: s.NATSURL, CredentialsFile: s.NATSCredentials, Replicas: 1}, Temporal: flow.Config{HostPort: s.Temporal, Namespace: tsrv.Namespace()}}
	p, err := platform.Open(ctx, pcfg, "devstack", platform.Needs{NATS: true, Temporal: true}, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, p.Close)
	s.Platform = p
	p.Readiness(ready)
	if err := s.natsAuth.provision(ctx, p.JS); err != nil {
		return nil, err
	}

	portalLn, officeLn, idpLn, err := listen3(cfg)
	if err != nil {
		return nil, err
	}
	s.PortalURL, s.OfficeURL, s.IDPURL = "http://"+portalLn.Addr().String(), "http://"+officeLn.Addr().String(), "http://"+idpLn.Addr().String()
	portalSecret, err := keptSecret(filepath.Join(cfg.DataDir, "portal-client-secret"))
	if err != nil {
		return nil, err
	}
	officeSecret, err := keptSecret(filepath.Join(cfg.DataDir, "office-client-secret"))
	if err != nil {
		return nil, err
	}
	s.PortalClientSecret, s.OfficeClientSecret = portalSecret, officeSecret
	idp, err := devidp.New(devidp.Config{Issuer: s.IDPURL, SigningKeyFile: filepath.Join(cfg.DataDir, "idp-signing-key.pem"),
		Logger: log.With("component", "devidp"), People: IDPPeople(),
		Clients: []devidp.Client{
			{ID: "kirjaamo-portal", Secret: portalSecret, RedirectURIs: []string{s.PortalURL + portal.CallbackPath},
				PostLogoutRedirectURIs: []string{web.PostLogoutURL(s.PortalURL)}},
			{ID: "kirjaamo-office", Secret: officeSecret, RedirectURIs: []string{s.OfficeURL + office.CallbackPath},
				PostLogoutRedirectURIs: []string{web.PostLogoutURL(s.OfficeURL)}},
		}})
	if err != nil {
		return nil, fmt.Errorf("devstack: identity provider: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	idpSrv := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second}
	s.closers = append(s.closers, func() { _ = idpSrv.Close() })
	go func() { _ = idpSrv.Serve(idpLn) }()
	// The portal and office listen themselves; release the probed ports just before they do.
	portalAddr, officeAddr := portalLn.Addr().String(), officeLn.Addr().String()
	_ = portalLn.Close()
	_ = officeLn.Close()

	if s.vendor != nil {
		s.run(runCtx, "demo vendor", s.vendor.serve)
	}
	dsrCfg, err := s.setUpOpenDSR(cfg)
	if err != nil {
		return nil, err
	}
	s.run(runCtx, "opendsr", func(ctx context.Context) error { return p.RunOpenDSR(ctx, dsrCfg) })
	s.run(runCtx, "catalogue", func(ctx context.Context) error {
		return p.RunCatalogue(ctx, catalogue.Config{AutoApproveAs: "dev stack (make dev): demo registers approved on announcement"})
	})
	s.run(runCtx, "orchestrator", func(ctx context.Context) error {
		return p.RunOrchestrator(ctx, orchestrator.Config{MaxConcurrentActivities: 200, CheckpointEvery: 5 * time.Second})
	})
	s.run(runCtx, "notifier", func(ctx context.Context) error {
		return p.RunNotifier(ctx, notifier.Config{From: OfficeEmail, PortalURL: s.PortalURL, OfficeURL: s.OfficeURL, OfficeEmail: OfficeEmail,
			Every: time.Second})
	})
	s.run(runCtx, "portal", func(ctx context.Context) error {
		pcfg := portal.DefaultConfig()
		pcfg.SiteConfig = web.SiteConfig{Addr: portalAddr, PublicURL: s.PortalURL, OIDCIssuer: s.IDPURL, ClientID: "kirjaamo-portal", ClientSecret: portalSecret}
		pcfg.ContactEmail = OfficeEmail
		if l := cfg.Limits; l != nil {
			pcfg.RequestLimits = l.Portal
		}
		return p.RunPortal(ctx, pcfg)
	})
	s.run(runCtx, "office", func(ctx context.Context) error {
		ocfg := office.DefaultConfig()
		ocfg.SiteConfig = web.SiteConfig{Addr: officeAddr, PublicURL: s.OfficeURL, OIDCIssuer: s.IDPURL, ClientID: "kirjaamo-office", ClientSecret: officeSecret}
		if l := cfg.Limits; l != nil {
			ocfg.Limits = l.Office
		}
		return p.RunOffice(ctx, ocfg, true)
	})
	s.run(runCtx, "processing", func(ctx context.Context) error {
		pcfg := processing.DefaultConfig()
		pcfg.CheckpointEvery, pcfg.NoticeEvery = 2*time.Second, time.Second
		return p.RunProcessing(ctx, pcfg)
	})
	if err := s.startRegisters(ctx, runCtx, cfg, demos, log); err != nil {
		return nil, err
	}
	if err := s.waitRegistersInForce(ctx); err != nil {
		return nil, err
	}
	for _, u := range []string{s.PortalURL + "/static/portal.css", s.OfficeURL + "/static/site.css", s.OpenDSR.URL + opendsr.Base + "/discovery"} {
		if err := waitHTTP(ctx, u); err != nil {
			return nil, fmt.Errorf("devstack: %w (first failure: %v)", err, s.Err())
		}
	}
	ready.Started()
	ok = true
	return s, nil
}

func (s *Stack) startDatabase(ctx context.Context, cfg Config) error {
	base := cfg.DatabaseURL
	if base == "" {
		cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(cfg.DataDir, "postgres"), Fast: cfg.FastPostgres,
			Logger: cfg.Logger.With("component", "postgres")})
		if err != nil {
			return fmt.Errorf("devstack: postgres: %w", err)
		}
		s.closers = append(s.closers, func() { _ = cl.Stop() })
		for _, db := range []string{"kirjaamo", "registers"} {
			if err := cl.CreateDatabase(ctx, db); err != nil {
				return fmt.Errorf("devstack: postgres: %w", err)
			}
		}
		// The services connect as a role that owns no table; the tables' owner migrates them, as in
		// production (store.Roles).
		ownerPassword, err := keptSecret(filepath.Join(cfg.DataDir, "postgres-owner-password"))
		if err != nil {
			return err
		}
		appPassword, err := keptSecret(filepath.Join(cfg.DataDir, "postgres-app-password"))
		if err != nil {
			return err
		}
		s.AdminURL, s.RegistersURL = cl.URL("kirjaamo"), cl.URL("registers")
		if s.OwnerURL, s.DatabaseURL, err = store.SetUpRoles(ctx, s.AdminURL, store.DefaultRoles, ownerPassword, appPassword); err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		return store.Migrate(ctx, s.OwnerURL, store.DefaultRoles.App)
	}
	// With a database given, the demo registers keep their schemas beside the platform's tables, and
	// its one role both migrates and runs the services.
	s.DatabaseURL, s.RegistersURL, s.OwnerURL, s.AdminURL = base, base, base, base
	return store.Migrate(ctx, base, "")
}

func (s *Stack) startRegisters(ctx, runCtx context.Context, cfg Config, demos bool, log *slog.Logger) error {
	pcfg, err := pgxpool.ParseConfig(s.RegistersURL)
	if err != nil {
		return fmt.Errorf("devstack: registers database: %w", err)
	}
	pcfg.ConnConfig.Tracer = store.Tracer{} // the registers' own statements, in their tasks' traces
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("devstack: registers database: %w", err)
	}
	s.closers = append(s.closers, pool.Close)
	regs := cfg.Registers(pool)
	s.registers = len(regs)
	for _, reg := range regs {
		if err := reg.Setup(ctx); err != nil {
			return err
		}
		s.run(runCtx, "register "+reg.Declaration().RegisterID, func(ctx context.Context) error {
			return sdk.Run(ctx, reg, sdk.Config{NATSURL: s.NATSURL, CredentialsFile: s.natsAuth.RegisterCreds[reg.Declaration().RegisterID],
				Logger: log.With("component", "adapter")})
		})
	}
	if demos && cfg.LiveViews >= 0 {
		every := cfg.LiveViews
		if every == 0 {
			every = 5 * time.Second
		}
		s.run(runCtx, "kanta live views", func(ctx context.Context) error { return demo.KantaProcessingLog{DB: pool}.LiveViews(ctx, every) })
	}
	return nil
}

// waitRegistersInForce returns once every demo register has announced itself and has a version in
// force, so that a request sent as soon as Start returns reaches all five.
func (s *Stack) waitRegistersInForce(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		inForce, err := s.Platform.Declarations.VersionsInForce(ctx, time.Now())
		if err == nil && len(inForce) >= s.registers {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devstack: the demo registers did not come into force (first failure: %v)", s.Err())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// run starts a service; the first service to fail is reported by Err and Wait.
func (s *Stack) run(ctx context.Context, name string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.errMu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("%s: %w", name, err)
			}
			s.errMu.Unlock()
		}
	}()
}

// Env is the environment a kirjaamo command needs to work on this stack as its services do (kirjaamo
// audit verify, say): the database as the services' role, the payload keys and NATS.
func (s *Stack) Env() map[string]string {
	return map[string]string{"KIRJAAMO_DATABASE_URL": s.DatabaseURL, "KIRJAAMO_PAYLOAD_KEYS": s.payloadKeys,
		"KIRJAAMO_NATS_URL": s.NATSURL, "KIRJAAMO_NATS_CREDENTIALS": s.NATSCredentials}
}

// Err returns the first service failure, if any.
func (s *Stack) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Stop stops the services, then the servers, in the reverse order of their start.
func (s *Stack) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// LowAssurance is the dev identity provider's person below the portal's minimum level of assurance
// (devdata.LowAssurance).
var LowAssurance = devdata.LowAssurance

// payloadKeys keeps the codec key in the data directory: without it, a restarted stack could not
// read the history of the workflows it had started.
func payloadKeys(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key := codec.NewKey("dev1")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("devstack: payload key: %w", err)
	}
	return key, nil
}

// keptSecret reads a secret from the data directory, or makes and keeps one, so that a restarted
// stack is the same OpenID client as before.
func keptSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	secret := randomSecret()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("devstack: keep secret: %w", err)
	}
	return secret, nil
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func listen3(cfg Config) (portalLn, officeLn, idpLn net.Listener, err error) {
	var lns []net.Listener
	for _, port := range []int{cfg.PortalPort, cfg.OfficePort, cfg.IDPPort} {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", cfg.Host, port))
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, nil, nil, fmt.Errorf("devstack: listen on port %d: %w", port, err)
		}
		lns = append(lns, ln)
	}
	return lns[0], lns[1], lns[2], nil
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not come up", url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
