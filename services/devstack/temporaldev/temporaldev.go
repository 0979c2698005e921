// Package temporaldev runs an embedded Temporal server for `make dev` and
// integration tests. Persistence is SQLite: a file, so workflows survive a
// restart of the dev stack, or memory for throwaway test servers. For the
// production shape on this machine (make cluster) it keeps its state in
// PostgreSQL instead, as production does (Options.Postgres, SetupPostgres).
//
// Only one Server may use a DBFile at a time; a lock file next to it
// enforces that across processes.
//
// The server's SQLite plugin keeps one connection per database open for the
// life of the process, even after Stop (upstream pools connections and
// never closes them). Restarting on the same file within one process
// therefore reuses that connection; a new process opens the file afresh.
package temporaldev

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

const clusterName = "active"

// Options configure Start.
type Options struct {
	// DBFile is the SQLite database file. Empty means an in-memory database
	// that is gone after Stop. The parent directory is created if needed.
	DBFile string
	// Namespace is registered on every start (a no-op if it exists).
	// Default "default".
	Namespace string
	// Host is the frontend listen address. Default 127.0.0.1. The internal
	// services (history, matching, worker) always bind 127.0.0.1.
	Host string
	// Port is the frontend gRPC port; 0 picks a free one.
	Port int
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// LogLevel filters server logs before they reach Logger. Default
	// slog.LevelWarn: the server logs a lot at info.
	LogLevel slog.Leveler
	// DynamicConfig overrides server dynamic config, keyed by setting name
	// (e.g. "limit.maxIDLength").
	DynamicConfig map[string]any
	// Postgres, if set, keeps the server's state in PostgreSQL instead of
	// SQLite (DBFile is then unused): its databases must have their
	// schemas (SetupPostgres). Only one server may use them at a time.
	Postgres *Postgres
	// Shards is the number of history shards of a new cluster; default 1.
	// It cannot change once the cluster has run.
	Shards int
}

// Postgres is where a Temporal server keeps its state in PostgreSQL.
type Postgres struct {
	Addr, User, Password string
	// Database holds the workflows, Visibility the search index.
	Database, Visibility string
}

func (p *Postgres) sql(database string) *config.SQL {
	return &config.SQL{PluginName: postgresql.PluginName, DatabaseName: database, ConnectAddr: p.Addr, ConnectProtocol: "tcp",
		User: p.User, Password: p.Password, MaxConns: 20, MaxIdleConns: 20}
}

// SetupPostgres creates the server's two databases if they are missing and
// brings their schemas to the version of this server, with Temporal's own
// SQL tool (temporal-sql-tool, built from the same module) and the schemas
// embedded in it. Running it again changes nothing.
func SetupPostgres(p Postgres) error {
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return fmt.Errorf("temporaldev: postgres address: %w", err)
	}
	for _, db := range []struct{ name, schema string }{
		{p.Database, "postgresql/v12/temporal"},
		{p.Visibility, "postgresql/v12/visibility"},
	} {
		base := []string{"temporal-sql-tool", "--plugin", postgresql.PluginName, "--ep", host, "-p", port, "-u", p.User,
			"--pw", p.Password, "--db", db.name}
		for _, cmd := range [][]string{{"create-database"}, {"setup-schema", "-v", "0.0"}, {"update-schema", "--schema-name", db.schema}} {
			if err := sqltool.RunTool(append(slices.Clone(base), cmd...)); err != nil {
				return fmt.Errorf("temporaldev: %s %s: %w", cmd[0], db.name, err)
			}
		}
	}
	return nil
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string
	lock      *os.File
}

// Start starts the server and returns once the frontend serves the
// namespace.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}
	logger := slogAdapter{l: opts.Logger.With("component", "temporal"), level: opts.LogLevel}

	s := &Server{namespace: opts.Namespace}
	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	var visibilityCfg *config.SQL
	if opts.Postgres != nil {
		sqlCfg, visibilityCfg = opts.Postgres.sql(opts.Postgres.Database), opts.Postgres.sql(opts.Postgres.Visibility)
		if err := forgetMembership(sqlCfg); err != nil {
			return nil, err
		}
	} else if opts.DBFile == "" {
		// A random name keeps several in-memory servers in one test binary
		// apart; shared cache lets the server's connections see one DB.
		sqlCfg.DatabaseName = "temporaldev-" + rand.Text()
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		path, err := filepath.Abs(opts.DBFile)
		if err != nil {
			return nil, fmt.Errorf("temporaldev: db file: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("temporaldev: db dir: %w", err)
		}
		if s.lock, err = lockFile(path + ".lock"); err != nil {
			return nil, err
		}
		sqlCfg.DatabaseName = path
		sqlCfg.ConnectAttributes = map[string]string{
			"mode": "rwc",
			// WAL lets readers run beside the single writer; normal sync
			// in WAL mode is still crash-safe for the database, it may
			// only lose the last transactions on power loss.
			"journal_mode": "wal",
			"synchronous":  "normal",
		}
		if err := setupSchema(sqlCfg, path); err != nil {
			s.unlock()
			return nil, err
		}
		if err := forgetMembership(sqlCfg); err != nil {
			s.unlock()
			return nil, err
		}
	}

	if opts.Postgres == nil {
		nsCfg, err := sqlite.NewNamespaceConfig(clusterName, opts.Namespace, false, nil)
		if err != nil {
			s.unlock()
			return nil, fmt.Errorf("temporaldev: namespace config: %w", err)
		}
		// Upstream checks for the name first, so this is idempotent on restart.
		if err := sqlite.CreateNamespaces(sqlCfg, nsCfg); err != nil {
			s.unlock()
			return nil, fmt.Errorf("temporaldev: create namespace: %w", err)
		}
	}

	ports, err := freePorts(8)
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("temporaldev: ports: %w", err)
	}
	if opts.Postgres != nil {
		// The PostgreSQL schema keeps the services' membership ports as smallint: they must be
		// below 32768, where the ephemeral ports freePorts finds are not. The seven after the
		// frontend's are used, as Temporal's own defaults (7233-7239) are.
		if opts.Port == 0 || opts.Port+7 > 32767 {
			s.unlock()
			return nil, fmt.Errorf("temporaldev: on PostgreSQL the frontend's port must be given, and it and the seven after it below 32768")
		}
		for i := range 7 {
			ports[i] = opts.Port + 1 + i
		}
	}
	frontendPort := opts.Port
	if frontendPort == 0 {
		frontendPort = ports[7]
	} else if l, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(frontendPort))); err != nil {
		// Checked here because the server reports a failed listen through
		// Logger.Fatal, which would panic instead of returning an error.
		s.unlock()
		return nil, fmt.Errorf("temporaldev: port %d: %w", frontendPort, err)
	} else {
		l.Close()
	}
	clientHost := opts.Host
	if ip := net.ParseIP(clientHost); ip != nil && ip.IsUnspecified() {
		clientHost = "127.0.0.1"
	}
	s.hostPort = net.JoinHostPort(clientHost, strconv.Itoa(frontendPort))

	cfg := serverConfig(sqlCfg, visibilityCfg, int32(max(opts.Shards, 1)), opts.Host, frontendPort, s.hostPort, ports)
	dc := dynamicconfig.StaticClient{
		// Lets tests see new search attributes immediately.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
	}
	for k, v := range opts.DynamicConfig {
		dc[dynamicconfig.MakeKey(k)] = v
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("temporaldev: new server: %w", err)
	}
	// Start returns once all services have started (it only blocks for
	// good when InterruptOn is set).
	if err := srv.Start(); err != nil {
		_ = srv.Stop()
		s.unlock()
		return nil, fmt.Errorf("temporaldev: start: %w", err)
	}
	s.srv = srv
	if opts.Postgres != nil {
		if err := s.registerNamespace(ctx); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	opts.Logger.Info("temporal started", "address", s.hostPort, "namespace", s.namespace, "persistent", opts.DBFile != "")
	return s, nil
}

// setupSchema creates the schema when the database file is new. A failed
// setup removes the file again, so the next start does not mistake a
// half-built schema for a usable one.
func setupSchema(sqlCfg *config.SQL, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("temporaldev: db file: %w", err)
	}
	if err := sqlite.SetupSchema(sqlCfg); err != nil {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			_ = os.Remove(p)
		}
		return fmt.Errorf("temporaldev: setup schema: %w", err)
	}
	return nil
}

// forgetMembership deletes the previous run's cluster membership rows. The
// server seeds its ring from hosts that heartbeated in the last 20 seconds;
// after a quick restart those are the dead previous services, and the new
// ones then cannot reach each other ("Not enough hosts to serve the
// request") for about a minute. The file lock guarantees no other server
// uses this database, so every row is stale.
func forgetMembership(sqlCfg *config.SQL) error {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, sqlCfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("temporaldev: open db: %w", err)
	}
	defer db.Close()
	if err := db.Exec("DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("temporaldev: reset membership: %w", err)
	}
	return nil
}

func serverConfig(sqlCfg, visibilityCfg *config.SQL, shards int32, host string, frontendPort int, hostPort string, ports []int) *config.Config {
	const local = "127.0.0.1"
	svc := func(grpcPort, membershipPort int, bind string) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: membershipPort, BindOnIP: bind}}
	}
	persistence := config.Persistence{
		DefaultStore:     sqlCfg.PluginName,
		VisibilityStore:  sqlCfg.PluginName,
		NumHistoryShards: shards,
		DataStores:       map[string]config.DataStore{sqlCfg.PluginName: {SQL: sqlCfg}},
	}
	if visibilityCfg != nil {
		persistence.VisibilityStore = "visibility"
		persistence.DataStores["visibility"] = config.DataStore{SQL: visibilityCfg}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: local},
			// Metrics stay nil (a no-op handler) and PProf port 0 (off):
			// a dev server should not open listeners nobody asked for.
		},
		Persistence: persistence,
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": svc(frontendPort, ports[0], host),
			"history":  svc(ports[1], ports[2], local),
			"matching": svc(ports[3], ports[4], local),
			"worker":   svc(ports[5], ports[6], local),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The server's internal worker service dials the frontend here.
		PublicClient: config.PublicClient{HostPort: hostPort},
	}
}

// waitReady polls the frontend until it answers for the namespace: Start
// returning does not mean the namespace registry has loaded.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := s.describeNamespace(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporaldev: wait for frontend: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registerNamespace registers the namespace on a server kept in PostgreSQL,
// once its frontend answers; a namespace that exists is left as it is.
func (s *Server) registerNamespace(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		nc, err := client.NewNamespaceClient(client.Options{HostPort: s.hostPort,
			Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: s.namespace,
				WorkflowExecutionRetentionPeriod: durationpb.New(7 * 24 * time.Hour)})
			nc.Close()
			var exists *serviceerror.NamespaceAlreadyExists
			if err == nil || errors.As(err, &exists) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporaldev: register namespace %s: %w (last error: %v)", s.namespace, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) describeNamespace(ctx context.Context) error {
	nc, err := client.NewNamespaceClient(client.Options{
		HostPort: s.hostPort,
		// Failed probes are expected while the server comes up.
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Describe(ctx, s.namespace)
	return err
}

// HostPort is the frontend address for client.Options.HostPort.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace is the namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the server and releases the database file lock.
func (s *Server) Stop() error {
	defer s.unlock()
	if s.srv == nil {
		return nil
	}
	srv := s.srv
	s.srv = nil
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("temporaldev: stop: %w", err)
	}
	return nil
}

func (s *Server) unlock() {
	if s.lock != nil {
		_ = s.lock.Close() // closing drops the flock
		s.lock = nil
	}
}

// lockFile takes an exclusive flock so two dev stacks cannot run one
// Temporal database at once; SQLite alone would let them both write.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("temporaldev: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("temporaldev: lock %s: database in use by another process: %w", path, err)
	}
	return f, nil
}

// freePorts reserves n distinct free ports on 127.0.0.1 by listening on
// port 0 and closing all listeners at the end. Another process may grab one
// in between; for a dev server that race is acceptable.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
