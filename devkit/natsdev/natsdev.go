// Package natsdev runs an embedded NATS server with JetStream on a file
// store, for `make dev` and integration tests. Streams and messages in
// StoreDir survive a restart.
//
// JetStream's file store writes every message to the OS at once but
// fsyncs only every couple of minutes by default (SyncInterval); callers
// that need to test power-loss durability can set SyncAlways in Configure.
package natsdev

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure Start.
type Options struct {
	// StoreDir holds JetStream state (required). Created if missing.
	StoreDir string
	// Host to listen on. Default 127.0.0.1.
	Host string
	// Port to listen on; 0 or -1 picks a free port. (Plain nats-server
	// reads 0 as the default 4222; here 0 means "any" like everywhere
	// else in devkit.)
	Port int
	// Configure, if set, edits the server options last, e.g. to add
	// accounts, users and permissions.
	Configure func(*server.Options)
	// Logger receives server logs. Default slog.Default().
	Logger *slog.Logger
	// LogLevel filters server logs. Default slog.LevelWarn: the server
	// prints a banner of notices on every start. Protocol tracing is never
	// enabled, because traces contain message payloads.
	LogLevel slog.Leveler
}

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("natsdev: Options.StoreDir is required")
	}
	storeDir, err := filepath.Abs(opts.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("natsdev: store dir: %w", err)
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}

	sopts := &server.Options{
		ServerName: "kirjaamo-dev",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   storeDir,
		// The embedding process owns signal handling.
		NoSigs: true,
	}
	if opts.Configure != nil {
		opts.Configure(sopts)
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsdev: new server: %w", err)
	}
	logger := slogAdapter{l: opts.Logger.With("component", "nats"), level: opts.LogLevel}
	srv.SetLoggerV2(logger, logger.enabled(slog.LevelDebug), false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("natsdev: server not ready within 30s (see its error log)")
	}
	opts.Logger.Info("nats started", "url", srv.ClientURL(), "store_dir", storeDir)
	return &Server{srv: srv}, nil
}

// ClientURL is the nats:// URL for clients.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// NATS is the underlying server, for what this package does not wrap.
func (s *Server) NATS() *server.Server { return s.srv }

// Shutdown stops the server and waits until it has (JetStream state is
// flushed to StoreDir).
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// slogAdapter implements server.Logger on slog.
type slogAdapter struct {
	l     *slog.Logger
	level slog.Leveler
}

func (a slogAdapter) enabled(level slog.Level) bool {
	return level >= a.level.Level() && a.l.Enabled(context.Background(), level)
}

func (a slogAdapter) logf(level slog.Level, format string, v []any) {
	if a.enabled(level) {
		a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

func (a slogAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.logf(slog.LevelWarn, format, v) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.logf(slog.LevelError, format, v) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.logf(slog.LevelDebug, format, v) }

// Fatalf is an error, not an exit: an embedded server must not end the
// process. The server returns after calling it, and Start then reports
// that it never became ready.
func (a slogAdapter) Fatalf(format string, v ...any) { a.logf(slog.LevelError, format, v) }

// Tracef is dropped: protocol traces carry message payloads.
func (a slogAdapter) Tracef(string, ...any) {}
