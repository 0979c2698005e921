// Command kirjaamo-temporal is the Temporal server of the production shape on this machine (make
// cluster), built from the go.temporal.io/server version in go.mod, with its state in PostgreSQL:
//
//	kirjaamo-temporal setup              create the databases and bring their schemas up to date (temporal-sql-tool)
//	kirjaamo-temporal start              run the server until SIGTERM or SIGINT
//	kirjaamo-temporal sql-tool ARGS...   Temporal's own temporal-sql-tool
//
// It reads KIRJAAMO_TEMPORAL_POSTGRES (host:port), _POSTGRES_USER, _POSTGRES_PASSWORD, _DATABASE
// (default temporal), _VISIBILITY_DATABASE (default temporal_visibility), and for start
// KIRJAAMO_TEMPORAL_HOST (where the frontend listens, default 127.0.0.1; 0.0.0.0 in a container),
// _PORT (default 7233; it and the seven ports after it), _NAMESPACE (default kirjaamo) and _SHARDS
// (default 4).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	sqltool "go.temporal.io/server/tools/sql"

	"kirjaamo.dev/services/devstack/temporaldev"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kirjaamo-temporal setup|start|sql-tool ARGS...")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kirjaamo-temporal:", err)
		os.Exit(1)
	}
}

func run(command string) error {
	pg := temporaldev.Postgres{Addr: os.Getenv("KIRJAAMO_TEMPORAL_POSTGRES"), User: os.Getenv("KIRJAAMO_TEMPORAL_POSTGRES_USER"),
		Password: os.Getenv("KIRJAAMO_TEMPORAL_POSTGRES_PASSWORD"), Database: env("KIRJAAMO_TEMPORAL_DATABASE", "temporal"),
		Visibility: env("KIRJAAMO_TEMPORAL_VISIBILITY_DATABASE", "temporal_visibility")}
	switch command {
	case "sql-tool":
		return sqltool.RunTool(append([]string{"temporal-sql-tool"}, os.Args[2:]...))
	case "setup":
		return temporaldev.SetupPostgres(pg)
	case "start":
	default:
		return fmt.Errorf("unknown command %q", command)
	}
	port, err := strconv.Atoi(env("KIRJAAMO_TEMPORAL_PORT", "7233"))
	if err != nil {
		return fmt.Errorf("KIRJAAMO_TEMPORAL_PORT: %w", err)
	}
	shards, err := strconv.Atoi(env("KIRJAAMO_TEMPORAL_SHARDS", "4"))
	if err != nil {
		return fmt.Errorf("KIRJAAMO_TEMPORAL_SHARDS: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv, err := temporaldev.Start(ctx, temporaldev.Options{Postgres: &pg, Shards: shards, Port: port, Host: os.Getenv("KIRJAAMO_TEMPORAL_HOST"),
		Namespace: env("KIRJAAMO_TEMPORAL_NAMESPACE", "kirjaamo"), Logger: log})
	if err != nil {
		return err
	}
	log.Info("temporal serving", "address", srv.HostPort(), "namespace", srv.Namespace())
	<-ctx.Done()
	return srv.Stop()
}

func env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
