package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/workflows/codec"
)

func init() {
	commands["serve"] = Command{
		Summary: "run services against external PostgreSQL, NATS and Temporal: serve portal|office|orchestrator|catalogue|notifier...",
		Run:     serve,
	}
	commands["keygen"] = Command{
		Summary: "print a new payload encryption key for KIRJAAMO_PAYLOAD_KEYS: keygen [ID]",
		Run: func(_ context.Context, args []string, stdout io.Writer) error {
			id := "k1"
			if len(args) > 0 {
				id = args[0]
			}
			fmt.Fprintln(stdout, codec.NewKey(id))
			return nil
		},
	}
}

func serve(ctx context.Context, args []string, _ io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name one or more services: %s", errUsage, strings.Join(serviceNames(), ", "))
	}
	var needs platform.Needs
	for _, name := range args {
		s, ok := platform.Services[name]
		if !ok {
			return fmt.Errorf("%w: unknown service %q (have %s)", errUsage, name, strings.Join(serviceNames(), ", "))
		}
		needs.NATS, needs.Temporal = needs.NATS || s.Needs.NATS, needs.Temporal || s.Needs.Temporal
	}
	cfg, err := platform.LoadConfig(needs)
	if err != nil {
		return err
	}
	var ops OpsConfig
	if err := config.Load(platform.Prefix, &ops); err != nil {
		return err
	}
	log, err := NewLogger()
	if err != nil {
		return err
	}
	process := strings.Join(args, "+")
	flush, err := telemetry.Setup(ctx, "kirjaamo-"+process)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = flush(fctx)
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	// The ops server answers from the start: while the process still waits for its servers it is
	// alive but not ready, and says what it misses.
	ready := &telemetry.Readiness{}
	if ops.Addr != "" {
		g.Go(func() error { return telemetry.Serve(ctx, ops.Addr, ready, log) })
	}
	p, err := platform.Open(ctx, cfg, process, needs, log)
	if err != nil {
		cancel()
		return errors.Join(err, ignoreCanceled(g.Wait()))
	}
	defer p.Close()
	p.Readiness(ready)
	ready.Started()
	for _, name := range args {
		run := platform.Services[name].Run
		g.Go(func() error {
			if err := run(ctx, p); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// OpsConfig is where a process shows its metrics and health.
type OpsConfig struct {
	Addr string `env:"OPS_ADDR" default:"127.0.0.1:9464" doc:"where the process serves /metrics (Prometheus), /healthz and /readyz, host:port; empty: nowhere. Traces go over OTLP when the standard OTEL_ variables say where"`
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func serviceNames() []string {
	return slices.Sorted(maps.Keys(platform.Services))
}
