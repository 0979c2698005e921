package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

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
	log, err := NewLogger()
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, cfg, strings.Join(args, "+"), needs, log)
	if err != nil {
		return err
	}
	defer p.Close()
	g, ctx := errgroup.WithContext(ctx)
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

func serviceNames() []string {
	return slices.Sorted(maps.Keys(platform.Services))
}
