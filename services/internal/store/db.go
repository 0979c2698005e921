// Package store opens Kirjaamo's PostgreSQL database and keeps its schema. The state itself is
// split by aggregate, each in its own package with only the queries it owns: cases (the requests,
// what the rules planned and the registers answered, and each request's package key), declarations
// (the register catalogue), record (the append-only record of who did what), outbox (messages to
// send), sessions and challenges (one-time codes). Every write that must happen with another happens
// in one transaction: an aggregate takes the others' transaction-scoped functions, such as
// record.Append and outbox.Enqueue.
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

// DB is the platform's database.
type DB struct {
	Pool *pgxpool.Pool
}

// Sealer encrypts a value kept at rest, binding it to where it belongs (the additional data), and
// opens it again; *codec.Codec is one.
type Sealer interface {
	Seal(plain, aad []byte) (keyID string, sealed []byte, err error)
	Open(keyID string, sealed, aad []byte) ([]byte, error)
}

// Permanent reports whether PostgreSQL refused a statement for its data: a data exception (class
// 22, such as a NUL in text or invalid UTF-8) or an integrity constraint violation (class 23).
// Sending the same data again cannot succeed.
func Permanent(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23"))
}

// Open connects and brings the schema up to date. Several processes may start at once: a
// transaction-scoped advisory lock lets one of them migrate while the others wait. While PostgreSQL
// does not answer, Open keeps trying and says so, until ctx ends; what PostgreSQL refuses (a wrong
// password, a failing migration) ends it at once.
func Open(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	cfg.ConnConfig.Tracer = Tracer{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	db := &DB{Pool: pool}
	err = retry.Servers.Until(ctx, log, "PostgreSQL", func(ctx context.Context) error {
		err := db.migrate(ctx)
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
		return nil, err
	}
	return db, nil
}

// Close releases the pool.
func (db *DB) Close() { db.Pool.Close() }

func (db *DB) migrate(ctx context.Context) error {
	entries, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(entries)
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412118)`); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("store: migrations table: %w", err)
		}
		for _, name := range entries {
			base := strings.TrimPrefix(name, "migrations/")
			version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("store: migration %s: name must start with its number", base)
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
		return nil
	})
}
