package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/services/catalogue"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/notifier"
	"kirjaamo.dev/services/office"
	"kirjaamo.dev/services/orchestrator"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/workflows/codec"
)

// services maps a service name to a function that loads its configuration and runs it.
var services = map[string]func(ctx context.Context, deps *platform.Deps) error{
	"portal": func(ctx context.Context, deps *platform.Deps) error {
		cfg, err := portal.LoadConfig()
		if err != nil {
			return err
		}
		return portal.Run(ctx, cfg, deps)
	},
	"office": func(ctx context.Context, deps *platform.Deps) error {
		cfg, err := office.LoadConfig()
		if err != nil {
			return err
		}
		return office.Run(ctx, cfg, deps)
	},
	"orchestrator": func(ctx context.Context, deps *platform.Deps) error {
		cfg, err := orchestrator.LoadConfig()
		if err != nil {
			return err
		}
		return orchestrator.Run(ctx, cfg, deps)
	},
	"catalogue": func(ctx context.Context, deps *platform.Deps) error {
		cfg, err := catalogue.LoadConfig()
		if err != nil {
			return err
		}
		return catalogue.Run(ctx, cfg, deps)
	},
	"notifier": func(ctx context.Context, deps *platform.Deps) error {
		cfg, err := notifier.LoadConfig()
		if err != nil {
			return err
		}
		return notifier.Run(ctx, cfg, deps)
	},
}

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
	for _, name := range args {
		if _, ok := services[name]; !ok {
			return fmt.Errorf("%w: unknown service %q (have %s)", errUsage, name, strings.Join(serviceNames(), ", "))
		}
	}
	cfg, err := platform.LoadConfig()
	if err != nil {
		return err
	}
	log := NewLogger()
	deps, err := platform.Connect(ctx, cfg, strings.Join(args, "+"), log)
	if err != nil {
		return err
	}
	defer deps.Close()
	g, ctx := errgroup.WithContext(ctx)
	for _, name := range args {
		run := services[name]
		g.Go(func() error {
			if err := run(ctx, deps); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func serviceNames() []string {
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
