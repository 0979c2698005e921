package cli

import (
	"context"
	"fmt"
	"io"

	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store"
)

// MigrateConfig is what `kirjaamo migrate` reads: the database as the tables' owner, and the role
// the services connect as, which it grants what they may do.
type MigrateConfig struct {
	OwnerURL string `env:"MIGRATE_DATABASE_URL" required:"" doc:"PostgreSQL as the role that owns the tables, for kirjaamo migrate only; the services connect with _DATABASE_URL as a role that owns nothing"`
	AppRole  string `env:"DATABASE_APP_ROLE" default:"kirjaamo_app" doc:"the role the services connect as: migrate grants it what it may do (read and write the cases, only insert into and read the record)"`
}

func init() {
	commands["migrate"] = Command{
		Summary: "bring the database's schema up to date, as the tables' owner (KIRJAAMO_MIGRATE_DATABASE_URL), before the services start",
		Run: func(ctx context.Context, _ []string, stdout io.Writer) error {
			var cfg MigrateConfig
			if err := config.Load("KIRJAAMO_", &cfg); err != nil {
				return err
			}
			if err := store.Migrate(ctx, cfg.OwnerURL, cfg.AppRole); err != nil {
				return err
			}
			_, err := fmt.Fprintln(stdout, "the schema is up to date; granted to", cfg.AppRole)
			return err
		},
	}
}
