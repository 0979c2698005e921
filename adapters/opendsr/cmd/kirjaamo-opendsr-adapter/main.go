// Command kirjaamo-opendsr-adapter serves a register whose data an OpenDSR processor holds, from a
// configuration file (see package kirjaamo.dev/adapters/opendsr/forward):
//
//	kirjaamo-opendsr-adapter -config kela-web-analytics-vendor.json
//
// NATS is configured from the environment as for every adapter (sdk.LoadConfig: KIRJAAMO_NATS_URL,
// KIRJAAMO_NATS_CREDENTIALS ...); the processor and the callback endpoint from the file. SIGINT or
// SIGTERM drains: no new tasks are taken, and those waiting on the processor are left to be
// redelivered, when they find their request at the processor again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kirjaamo.dev/adapters/opendsr/forward"
	"kirjaamo.dev/adapters/sdk"
)

func main() {
	configFile := flag.String("config", "", "the register's configuration file (JSON)")
	flag.Parse()
	if *configFile == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kirjaamo-opendsr-adapter -config FILE")
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
	cfg, err := forward.ReadConfig(configFile)
	if err != nil {
		return err
	}
	natsCfg, err := sdk.LoadConfig()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	natsCfg.Logger = log
	reg, err := forward.New(cfg, log)
	if err != nil {
		return err
	}
	return sdk.Run(ctx, reg, natsCfg)
}
