// Package cluster runs Kirjaamo in its production shape on this machine, without Docker (make
// cluster): PostgreSQL; three NATS nodes built from the nats-server version in go.mod, with TLS on
// clients and mutual TLS on routes under a throwaway CA, the accounts of kirjaamo-nats-auth and every
// stream at three replicas; the Temporal server from go.temporal.io/server in go.mod, on PostgreSQL,
// its schemas set up by its own SQL tool; the catalogue, the notifier, the portal, the office and two
// orchestrators, each a process of the production binary; the five demo registers' adapters, each a
// process with its own NATS credentials; and the dev identity provider and mailbox, each a small
// command of its own. Every process runs under a supervisor that starts it again a second after it
// exits, as a container runtime would, so that a process killed on purpose comes back.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/devkit/pgcluster"
	"kirjaamo.dev/devkit/testpki"
	"kirjaamo.dev/services/devstack/devdata"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/natsauth"
	"kirjaamo.dev/services/office"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/workflows/codec"
)

// Binaries are the commands the cluster runs, built by make cluster into one directory.
var Binaries = []string{"kirjaamo", "kirjaamo-nats-auth", "nats-server", "kirjaamo-temporal", "kirjaamo-demo-adapter", "kirjaamo-devidp", "kirjaamo-mailbox"}

// Ports are where the cluster listens, all on 127.0.0.1.
type Ports struct {
	Portal, Office, Mailbox, IDP, Temporal int
	// NATS are the three nodes' client ports, Routes their cluster ports, Monitor their HTTP monitoring.
	NATS, Routes, Monitor [3]int
	// Ops is the first of the ports where each service and adapter serves its metrics and health, in
	// the order of Cluster.Ops.
	Ops int
}

// DefaultPorts are make cluster's: the sites where make dev has them.
var DefaultPorts = Ports{Portal: 8080, Office: 8081, Mailbox: 8082, IDP: 8090, Temporal: 7233,
	NATS: [3]int{4222, 4223, 4224}, Routes: [3]int{6222, 6223, 6224}, Monitor: [3]int{8222, 8223, 8224}, Ops: 9464}

// Options configure Up.
type Options struct {
	// Dir keeps the cluster's state: its PostgreSQL, the NATS nodes' streams, the certificates and
	// credentials, the keys, and each process's log in logs/.
	Dir string
	// Bin holds Binaries.
	Bin   string
	Ports Ports
	// Orchestrators is how many orchestrators run; default 2.
	Orchestrators int
	// RestartAfter is how long the supervisor waits before starting an exited process again;
	// default 1 s.
	RestartAfter time.Duration
	// FastPostgres turns off fsync, for throwaway test clusters.
	FastPostgres bool
	// Env is added to every service's environment, e.g. a load test's rate limits.
	Env    []string
	Logger *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	PortalURL, OfficeURL, MailboxURL, IDPURL string
	// NATSURL lists the three nodes; Temporal is the frontend's address.
	NATSURL, Temporal string
	// DatabaseURL is the platform's database, RegistersURL the demo registers' own.
	DatabaseURL, RegistersURL string
	// PortalClientSecret is the portal's secret at the identity provider, for tests that sign in.
	PortalClientSecret string
	// CA, PlatformCreds and RegisterCreds are what a client needs to reach NATS.
	CA, PlatformCreds string
	RegisterCreds     map[string]string
	// Ops maps each process with an ops server to its address.
	Ops map[string]string

	opts  Options
	pg    *pgcluster.Cluster
	mu    sync.Mutex
	procs map[string]*proc
	order []string
	down  bool
}

// Registers are the demo registers' ids.
func Registers() []string {
	var ids []string
	for _, reg := range devdata.Registers(nil) {
		ids = append(ids, reg.Declaration().RegisterID)
	}
	return ids
}

// Up starts the cluster and returns once every process is ready and every demo register is in force.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Orchestrators < 1 {
		opts.Orchestrators = 2
	}
	if opts.RestartAfter <= 0 {
		opts.RestartAfter = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var err error
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	if opts.Bin, err = filepath.Abs(opts.Bin); err != nil {
		return nil, err
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(opts.Bin, b)); err != nil {
			return nil, fmt.Errorf("cluster: %s is not built (make cluster builds it): %w", b, err)
		}
	}
	// PostgreSQL, run as its own user when the cluster runs as root, must reach its directory in Dir;
	// the secrets are in directories of their own.
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "pki", "nats"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	c := &Cluster{opts: opts, procs: map[string]*proc{}, Ops: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			c.Down()
		}
	}()
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	if err := c.startAll(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// prepare makes what the processes need once: certificates, credentials, keys, PostgreSQL and its
// databases, Temporal's schemas.
func (c *Cluster) prepare(ctx context.Context) error {
	o := c.opts
	pki := filepath.Join(o.Dir, "pki")
	if _, err := os.Stat(filepath.Join(pki, "ca.pem")); err != nil {
		if _, err := testpki.Make(pki, 365*24*time.Hour, "127.0.0.1", "localhost"); err != nil {
			return fmt.Errorf("cluster: certificates: %w", err)
		}
	}
	c.CA = filepath.Join(pki, "ca.pem")
	issued, err := natsauth.Issue(filepath.Join(o.Dir, "nats-auth"), Registers())
	if err != nil {
		return fmt.Errorf("cluster: NATS credentials: %w", err)
	}
	c.PlatformCreds, c.RegisterCreds = issued.PlatformCreds, issued.RegisterCreds
	if err := os.WriteFile(filepath.Join(o.Dir, "nats", "accounts.conf"), []byte(issued.ServerConfig), 0o600); err != nil {
		return err
	}
	var urls []string
	for i := range 3 {
		urls = append(urls, fmt.Sprintf("tls://127.0.0.1:%d", o.Ports.NATS[i]))
		if err := os.WriteFile(c.natsConf(i), []byte(c.natsConfig(i)), 0o600); err != nil {
			return err
		}
	}
	c.NATSURL = strings.Join(urls, ",")
	c.Temporal = fmt.Sprintf("127.0.0.1:%d", o.Ports.Temporal)
	c.PortalURL = fmt.Sprintf("http://127.0.0.1:%d", o.Ports.Portal)
	c.OfficeURL = fmt.Sprintf("http://127.0.0.1:%d", o.Ports.Office)
	c.MailboxURL = fmt.Sprintf("http://127.0.0.1:%d", o.Ports.Mailbox)
	c.IDPURL = fmt.Sprintf("http://127.0.0.1:%d", o.Ports.IDP)

	c.pg, err = pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(o.Dir, "postgres"), Fast: o.FastPostgres,
		Logger: o.Logger.With("component", "postgres")})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	for _, db := range []string{"kirjaamo", "registers"} {
		if err := c.pg.CreateDatabase(ctx, db); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	// The services connect as a role that owns no table; the tables' owner migrates them with the
	// production binary's kirjaamo migrate, as a deployment does before it starts the services.
	ownerPassword, err := c.kept("postgres-owner-password", randomSecret)
	if err != nil {
		return err
	}
	appPassword, err := c.kept("postgres-app-password", randomSecret)
	if err != nil {
		return err
	}
	ownerURL, appURL, err := store.SetUpRoles(ctx, c.pg.URL("kirjaamo"), store.DefaultRoles, ownerPassword, appPassword)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.DatabaseURL, c.RegistersURL = appURL, c.pg.URL("registers")
	if err := c.once(ctx, "migrate", []string{filepath.Join(o.Bin, "kirjaamo"), "migrate"}, []string{"KIRJAAMO_MIGRATE_DATABASE_URL=" + ownerURL,
		"KIRJAAMO_DATABASE_APP_ROLE=" + store.DefaultRoles.App}); err != nil {
		return err
	}
	return c.once(ctx, "temporal-setup", []string{filepath.Join(o.Bin, "kirjaamo-temporal"), "setup"}, c.temporalEnv())
}

// natsConfig is one node's configuration: the deploy/nats shape on 127.0.0.1.
func (c *Cluster) natsConfig(i int) string {
	o := c.opts
	pki := filepath.Join(o.Dir, "pki")
	var routes []string
	for _, p := range o.Ports.Routes {
		routes = append(routes, fmt.Sprintf("    nats-route://127.0.0.1:%d", p))
	}
	return fmt.Sprintf(`# Node %[1]d of make cluster's NATS cluster, written by the cluster at each start.
server_name: nats-%[1]d
listen: 127.0.0.1:%[2]d
http: 127.0.0.1:%[3]d
tls {
  cert_file: %[4]q
  key_file: %[5]q
  ca_file: %[6]q
  timeout: 2
}
jetstream {
  store_dir: %[7]q
}
cluster {
  name: kirjaamo
  listen: 127.0.0.1:%[8]d
  tls {
    cert_file: %[4]q
    key_file: %[5]q
    ca_file: %[6]q
    verify: true
    timeout: 2
  }
  routes: [
%[9]s
  ]
}
include ./accounts.conf
`, i+1, o.Ports.NATS[i], o.Ports.Monitor[i], filepath.Join(pki, "cert.pem"), filepath.Join(pki, "key.pem"), filepath.Join(pki, "ca.pem"),
		filepath.Join(o.Dir, "nats", fmt.Sprintf("nats-%d", i+1)), o.Ports.Routes[i], strings.Join(routes, "\n"))
}

func (c *Cluster) natsConf(i int) string {
	return filepath.Join(c.opts.Dir, "nats", fmt.Sprintf("nats-%d.conf", i+1))
}

func (c *Cluster) temporalEnv() []string {
	u, _ := url.Parse(c.pg.URL("postgres"))
	password, _ := u.User.Password()
	return []string{"KIRJAAMO_TEMPORAL_POSTGRES=" + u.Host, "KIRJAAMO_TEMPORAL_POSTGRES_USER=" + u.User.Username(),
		"KIRJAAMO_TEMPORAL_POSTGRES_PASSWORD=" + password, "KIRJAAMO_TEMPORAL_PORT=" + strconv.Itoa(c.opts.Ports.Temporal),
		"KIRJAAMO_TEMPORAL_NAMESPACE=kirjaamo"}
}

// kept reads a value kept in the cluster's directory, or makes and keeps one.
func (c *Cluster) kept(name string, make func() string) (string, error) {
	path := filepath.Join(c.opts.Dir, name)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v := make()
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// startAll starts the processes in the order they need each other, each once the ones before it
// are ready.
func (c *Cluster) startAll(ctx context.Context) error {
	o := c.opts
	bin := func(name string) string { return filepath.Join(o.Bin, name) }
	for i := range 3 {
		name := fmt.Sprintf("nats-%d", i+1)
		monitor := fmt.Sprintf("http://127.0.0.1:%d/healthz", o.Ports.Monitor[i])
		// The nodes start together: a node's JetStream is healthy only once the cluster has a leader.
		c.add(name, []string{bin("nats-server"), "-c", c.natsConf(i)}, nil, httpOK(monitor))
	}
	if err := c.waitReady(ctx, "nats-1", "nats-2", "nats-3"); err != nil {
		return err
	}
	c.add("temporal", []string{bin("kirjaamo-temporal"), "start"}, c.temporalEnv(), c.temporalReady)
	if err := c.waitReady(ctx, "temporal"); err != nil {
		return err
	}
	provision := append([]string{bin("kirjaamo-nats-auth"), "provision", "-url", c.NATSURL, "-creds", c.PlatformCreds, "-ca", c.CA,
		"-replicas", "3"}, Registers()...)
	if err := c.once(ctx, "provision", provision, nil); err != nil {
		return err
	}

	keys, err := c.kept("payload-keys", func() string { return codec.NewKey("cluster1") })
	if err != nil {
		return err
	}
	portalSecret, err := c.kept("portal-client-secret", randomSecret)
	if err != nil {
		return err
	}
	c.PortalClientSecret = portalSecret
	officeSecret, err := c.kept("office-client-secret", randomSecret)
	if err != nil {
		return err
	}
	platform := []string{"KIRJAAMO_DATABASE_URL=" + c.DatabaseURL, "KIRJAAMO_PAYLOAD_KEYS=" + keys, "KIRJAAMO_NATS_URL=" + c.NATSURL,
		"KIRJAAMO_NATS_CREDENTIALS=" + c.PlatformCreds, "KIRJAAMO_NATS_CA=" + c.CA, "KIRJAAMO_NATS_REPLICAS=3",
		"KIRJAAMO_TEMPORAL_ADDRESS=" + c.Temporal, "KIRJAAMO_TEMPORAL_NAMESPACE=kirjaamo", "KIRJAAMO_LOG_FORMAT=json"}
	ops := o.Ports.Ops
	service := func(name, svc string, env ...string) {
		addr := fmt.Sprintf("127.0.0.1:%d", ops)
		ops++
		c.Ops[name] = addr
		c.add(name, []string{bin("kirjaamo"), "serve", svc}, append(append(append(env, platform...), o.Env...), "KIRJAAMO_OPS_ADDR="+addr),
			httpOK("http://"+addr+"/readyz"))
	}
	service("catalogue", "catalogue", "KIRJAAMO_CATALOGUE_AUTO_APPROVE_AS=make cluster: demo registers approved on announcement")
	service("notifier", "notifier", "KIRJAAMO_PORTAL_URL="+c.PortalURL, "KIRJAAMO_OFFICE_URL="+c.OfficeURL,
		"KIRJAAMO_OFFICE_EMAIL="+devdata.OfficeEmail, "KIRJAAMO_NOTIFIER_EVERY=1s")
	var orchestrators []string
	for i := range o.Orchestrators {
		name := fmt.Sprintf("orchestrator-%d", i+1)
		orchestrators = append(orchestrators, name)
		service(name, "orchestrator")
	}
	service("portal", "portal", fmt.Sprintf("KIRJAAMO_PORTAL_ADDR=127.0.0.1:%d", o.Ports.Portal), "KIRJAAMO_PORTAL_URL="+c.PortalURL,
		"KIRJAAMO_PORTAL_OIDC_ISSUER="+c.IDPURL, "KIRJAAMO_PORTAL_OIDC_CLIENT_SECRET="+portalSecret)
	service("office", "office", fmt.Sprintf("KIRJAAMO_OFFICE_ADDR=127.0.0.1:%d", o.Ports.Office), "KIRJAAMO_OFFICE_URL="+c.OfficeURL,
		"KIRJAAMO_OFFICE_OIDC_ISSUER="+c.IDPURL, "KIRJAAMO_OFFICE_OIDC_CLIENT_SECRET="+officeSecret)
	c.add("idp", []string{bin("kirjaamo-devidp")}, []string{fmt.Sprintf("KIRJAAMO_DEVIDP_ADDR=127.0.0.1:%d", o.Ports.IDP),
		"KIRJAAMO_DEVIDP_ISSUER=" + c.IDPURL, "KIRJAAMO_DEVIDP_SIGNING_KEY_FILE=" + filepath.Join(o.Dir, "idp-signing-key.pem"),
		"KIRJAAMO_DEVIDP_PORTAL_SECRET=" + portalSecret, "KIRJAAMO_DEVIDP_PORTAL_REDIRECT=" + c.PortalURL + portal.CallbackPath,
		"KIRJAAMO_DEVIDP_OFFICE_SECRET=" + officeSecret, "KIRJAAMO_DEVIDP_OFFICE_REDIRECT=" + c.OfficeURL + office.CallbackPath},
		httpOK(c.IDPURL+"/.well-known/openid-configuration"))
	c.add("mailbox", []string{bin("kirjaamo-mailbox")}, []string{"KIRJAAMO_DATABASE_URL=" + c.DatabaseURL, "KIRJAAMO_PAYLOAD_KEYS=" + keys,
		fmt.Sprintf("KIRJAAMO_MAILBOX_ADDR=127.0.0.1:%d", o.Ports.Mailbox)}, httpOK(c.MailboxURL+"/"))
	// The catalogue first, so that the adapters' announcements find it.
	if err := c.waitReady(ctx, "catalogue"); err != nil {
		return err
	}
	for _, id := range Registers() {
		addr := fmt.Sprintf("127.0.0.1:%d", ops)
		ops++
		c.Ops[id] = addr
		c.add(id, []string{bin("kirjaamo-demo-adapter"), id}, []string{"KIRJAAMO_REGISTERS_DATABASE_URL=" + c.RegistersURL,
			"KIRJAAMO_NATS_URL=" + c.NATSURL, "KIRJAAMO_NATS_CREDENTIALS=" + c.RegisterCreds[id], "KIRJAAMO_NATS_CA=" + c.CA,
			"KIRJAAMO_ADAPTER_OPS_ADDR=" + addr}, httpOK("http://"+addr+"/readyz"))
	}
	if err := c.waitReady(ctx, append(append([]string{"notifier", "portal", "office", "idp", "mailbox"}, orchestrators...), Registers()...)...); err != nil {
		return err
	}
	return c.registersInForce(ctx)
}

// registersInForce waits until every demo register has a version in force.
func (c *Cluster) registersInForce(ctx context.Context) error {
	db, err := pgxpool.New(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for deadline := time.Now().Add(time.Minute); ; {
		var n int
		err := db.QueryRow(ctx, `SELECT count(DISTINCT register_id) FROM register_declarations WHERE approved_at IS NOT NULL`).Scan(&n)
		if err == nil && n >= len(Registers()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: the demo registers did not come into force (%d of %d, %v)", n, len(Registers()), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Summary is what make cluster prints: the same addresses as make dev.
func (c *Cluster) Summary() string {
	return fmt.Sprintf(`
Kirjaamo's cluster is running (state in %s, logs in %s).

  Citizen portal:     %s
  Registry office:    %s
  Dev mailbox:        %s
  Identity provider:  %s
  NATS:               %s (CA %s, platform credentials %s)
  Temporal:           %s (namespace kirjaamo, on PostgreSQL)
  Metrics:            %s

Stop it with make cluster-down.
`, c.opts.Dir, filepath.Join(c.opts.Dir, "logs"), c.PortalURL, c.OfficeURL, c.MailboxURL, c.IDPURL, c.NATSURL, c.CA, c.PlatformCreds,
		c.Temporal, c.metricsList())
}

func (c *Cluster) metricsList() string {
	var out []string
	for _, name := range c.order {
		if addr, ok := c.Ops[name]; ok {
			out = append(out, fmt.Sprintf("http://%s/metrics (%s)", addr, name))
		}
	}
	return strings.Join(out, "\n                      ")
}

func randomSecret() string {
	return strings.ReplaceAll(codec.NewKey("s"), "s:", "")
}

// httpOK is a readiness check: the URL answers 200.
func httpOK(u string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return nil
	}
}

// JetStreamLeader names the node that leads the cluster's JetStream metadata, from a live node's
// monitoring endpoint.
func (c *Cluster) JetStreamLeader(ctx context.Context) (string, error) {
	var lastErr error
	for _, port := range c.opts.Ports.Monitor {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/jsz", port), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		var jsz struct {
			Meta struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err == nil && jsz.Meta.Leader != "" {
			return jsz.Meta.Leader, nil
		}
		lastErr = fmt.Errorf("no leader yet (%v)", err)
	}
	return "", fmt.Errorf("cluster: JetStream leader: %w", lastErr)
}

// FreePorts picks free ports for a cluster beside others, as the tests run it.
func FreePorts() (Ports, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	next := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0
		}
		lns = append(lns, l)
		return l.Addr().(*net.TCPAddr).Port
	}
	p := Ports{Portal: next(), Office: next(), Mailbox: next(), IDP: next()}
	// Temporal's services take the frontend's port and the seven after it, below 32768 (its
	// PostgreSQL schema keeps them as smallint), where no ephemeral port is.
	for base := 20000 + int(time.Now().UnixNano()%1000)*8; p.Temporal == 0 && base < 32000; base += 8 {
		free := true
		var held []net.Listener
		for i := range 8 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				free = false
				break
			}
			held = append(held, l)
		}
		if free {
			p.Temporal = base
			lns = append(lns, held...)
		} else {
			for _, l := range held {
				_ = l.Close()
			}
		}
	}
	for i := range 3 {
		p.NATS[i], p.Routes[i], p.Monitor[i] = next(), next(), next()
	}
	// The ops ports are consecutive: look for a free run of them.
	for range 20 {
		base := next()
		free := true
		for i := 1; i < 16 && free; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				free = false
				continue
			}
			lns = append(lns, l)
		}
		if free {
			p.Ops = base
			return p, nil
		}
	}
	return p, errors.New("cluster: no free run of ports for the ops servers")
}
