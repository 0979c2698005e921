// Command kirjaamo-sql-adapter serves a register from a configuration file (see package
// kirjaamo.dev/adapters/sqladapter): kirjaamo-sql-adapter -config register.json.
//
// NATS is configured from the environment as for every adapter (sdk.LoadConfig: KIRJAAMO_NATS_URL,
// KIRJAAMO_NATS_CREDENTIALS ...); the database from the configuration file. SIGINT or SIGTERM drains:
// no new tasks are taken, those under way finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sqladapter"
)

func main() {
	configFile := flag.String("config", "", "the register's configuration file (JSON)")
	flag.Parse()
	if *configFile == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kirjaamo-sql-adapter -config FILE")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configFile); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, configFile string) error {
	cfg, err := sqladapter.ReadConfig(configFile)
	if err != nil {
		return err
	}
	natsCfg, err := sdk.LoadConfig()
	if err != nil {
		return err
	}
	url, err := cfg.DatabaseURL()
	if err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("kirjaamo-sql-adapter: database: %w", err)
	}
	defer db.Close()
	reg := sqladapter.New(cfg, db)
	if err := reg.Setup(ctx); err != nil {
		return err
	}
	return sdk.Run(ctx, reg, natsCfg)
}
