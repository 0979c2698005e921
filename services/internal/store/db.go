// Package store opens Kirjaamo's PostgreSQL database and keeps its schema. The state itself is
// split by aggregate, each in its own package with only the queries it owns: cases (the requests,
// what the rules planned and the registers answered, and each request's package key), declarations
// (the register catalogue), record (the append-only record of who did what), outbox (messages to
// send), sessions and challenges (one-time codes). Every write that must happen with another happens
// in one transaction: an aggregate takes the others' transaction-scoped functions, such as
// record.Append and outbox.Enqueue.
//
// The tables belong to an owner role that only Migrate connects as; the services connect as a role
// that owns nothing, and may only insert into and read the record (roles.go).
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/services/internal/retry"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// DB is the platform's database, with the keys that seal and index what it keeps.
type DB struct {
	Pool *pgxpool.Pool
	Keys *Keyring
}

// Permanent reports whether PostgreSQL refused a statement for its data: a data exception (class
// 22, such as a NUL in text or invalid UTF-8) or an integrity constraint violation (class 23).
// Sending the same data again cannot succeed.
func Permanent(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23"))
}

// Open connects, as the role the services run as, and checks that the schema is up to date: the
// services never migrate it themselves (Migrate does, as the tables' owner). keys seal and index
// what is kept at rest, and key the record's chain. While PostgreSQL does not answer, Open keeps
// trying and says so in log, until ctx ends; what PostgreSQL refuses (a wrong password, a schema
// not migrated) ends it at once.
func Open(ctx context.Context, url string, keys *Keyring, log *slog.Logger) (*DB, error) {
	if keys == nil {
		return nil, errors.New("store: open: no keys")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	cfg.ConnConfig.Tracer = Tracer{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	var have int
	err = retry.Servers.Until(ctx, log, "PostgreSQL", func(ctx context.Context) error {
		err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have)
		if isUndefinedTable(err) {
			return nil
		}
		var pg *pgconn.PgError
		if errors.As(err, &pg) && !strings.HasPrefix(pg.Code, "08") && !strings.HasPrefix(pg.Code, "57") {
			// PostgreSQL answered and refused: not a server still starting (class 57, e.g. the
			// database system is starting up) or a lost connection (class 08).
			return retry.Permanent(err)
		}
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	want, err := latestMigration()
	if err != nil {
		pool.Close()
		return nil, err
	}
	if have != want {
		pool.Close()
		return nil, fmt.Errorf("store: the schema is at version %d and this build needs %d: run `kirjaamo migrate` as the tables' owner first", have, want)
	}
	return &DB{Pool: pool, Keys: keys}, nil
}

func isUndefinedTable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "42P01"
}

// Close releases the pool.
func (db *DB) Close() { db.Pool.Close() }

func migrationFiles() ([]string, error) {
	entries, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(entries)
	return entries, nil
}

func migrationVersion(name string) (int, error) {
	base := strings.TrimPrefix(name, "migrations/")
	version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
	if err != nil {
		return 0, fmt.Errorf("store: migration %s: name must start with its number", base)
	}
	return version, nil
}

func latestMigration() (int, error) {
	entries, err := migrationFiles()
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	return migrationVersion(entries[len(entries)-1])
}

// Migrate brings the schema up to date, connected as the role that owns the tables, and grants the
// services' role (app; none if empty, for a test database with one role) what it may do: read and
// write the cases and what goes with them, but only insert into and read the record, and only read
// the migrations. Several processes may migrate at once: a transaction-scoped advisory lock lets one
// of them do it while the others wait.
func Migrate(ctx context.Context, ownerURL, app string) error {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("store: migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	entries, err := migrationFiles()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412118)`); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("store: migrations table: %w", err)
		}
		for _, name := range entries {
			version, err := migrationVersion(name)
			if err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
				return fmt.Errorf("store: migration %d: %w", version, err)
			}
			if done {
				continue
			}
			sql, err := migrations.ReadFile(name)
			if err != nil {
				return fmt.Errorf("store: migration %d: %w", version, err)
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("store: migration %d: %w", version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
				return fmt.Errorf("store: migration %d: %w", version, err)
			}
		}
		if app == "" {
			return nil
		}
		return grant(ctx, tx, app)
	})
}

// grant gives the services' role what it may do, and no more, on every table there is now.
func grant(ctx context.Context, tx pgx.Tx, app string) error {
	role := pgx.Identifier{app}.Sanitize()
	for _, stmt := range []string{
		`GRANT USAGE ON SCHEMA public TO ` + role,
		`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + role,
		// The record: what is written stays as it was written.
		`REVOKE UPDATE, DELETE ON audit_log FROM ` + role,
		// So do the processing events and their logs; the owner's functions make a month's partition
		// and delete what a register's retention no longer keeps (migration 010).
		`REVOKE UPDATE, DELETE ON processing_logs, processing_blocks, processing_events, processing_checkpoints FROM ` + role,
		`REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM ` + role,
		`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ` + role,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + role,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("store: grant to %s: %w", app, err)
		}
	}
	return nil
}

// MigrateAndOpen migrates a database that has one role for everything, and opens it: for tests
// and tools with a database of their own, never for the platform's.
func MigrateAndOpen(ctx context.Context, url string, keys *Keyring) (*DB, error) {
	if err := Migrate(ctx, url, ""); err != nil {
		return nil, err
	}
	return Open(ctx, url, keys, slog.Default())
}
