package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"kirjaamo.dev/services/devstack"
	"kirjaamo.dev/services/internal/cli"
)

func dev(ctx context.Context, _ []string, stdout io.Writer) error {
	cfg, err := devstack.LoadConfig()
	if err != nil {
		return err
	}
	if os.Getenv("KIRJAAMO_LOG_FORMAT") == "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	} else {
		if cfg.Logger, err = cli.NewLogger(); err != nil {
			return err
		}
	}
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
Kirjaamo is running (data in %s).

  Citizen portal:     %s
  Registry office:    %s
  Dev mailbox:        %s/dev/mailbox
  Identity provider:  %s
  NATS:               %s (platform credentials: %s)
  Temporal:           %s
  OpenDSR processor:  %s/opendsr/v1 (demo controller's token in %s/opendsr/controller-token)

Press Ctrl-C to stop. Running make dev again resumes the same cases.
`, cfg.DataDir, stack.PortalURL, stack.OfficeURL, stack.OfficeURL, stack.IDPURL, stack.NATSURL, stack.NATSCredentials, stack.Temporal,
		stack.OpenDSR.URL, cfg.DataDir)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping…")
	stack.Stop()
	return stack.Err()
}
