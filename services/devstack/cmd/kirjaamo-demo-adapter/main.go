// Command kirjaamo-demo-adapter runs one demo register's adapter as its own process, as a register
// owner would (make cluster): kirjaamo-demo-adapter REGISTER-ID. The register's tables live in
// KIRJAAMO_REGISTERS_DATABASE_URL; everything else is the SDK's configuration (sdk.LoadConfig: its
// own NATS credentials, the cluster's CA, KIRJAAMO_ADAPTER_OPS_ADDR ...).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/services/devstack/devdata"
	"kirjaamo.dev/services/internal/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kirjaamo-demo-adapter:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: kirjaamo-demo-adapter REGISTER-ID")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := sdk.LoadConfig()
	if err != nil {
		return err
	}
	flush, err := telemetry.Setup(ctx, "kirjaamo-adapter-"+os.Args[1])
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = flush(fctx)
	}()
	pcfg, err := pgxpool.ParseConfig(os.Getenv("KIRJAAMO_REGISTERS_DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("KIRJAAMO_REGISTERS_DATABASE_URL: %w", err)
	}
	pcfg.ConnConfig.Tracer = store.Tracer{} // the register's own statements, in the task's trace
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, reg := range devdata.Registers(db) {
		if reg.Declaration().RegisterID != os.Args[1] {
			continue
		}
		if err := reg.Setup(ctx); err != nil {
			return err
		}
		return sdk.Run(ctx, reg, cfg)
	}
	return fmt.Errorf("no demo register %q", os.Args[1])
}
