// Package platform loads the settings every service shares and opens the connections they need:
// PostgreSQL, NATS JetStream and Temporal. A service's Run gets these as its dependencies, so that
// dev, tests and production wire the same code to different servers.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/flow"
	"kirjaamo.dev/services/internal/packages"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/workflows/codec"
)

// Config is the shared part of every service's configuration.
type Config struct {
	DatabaseURL string
	NATS        bus.Config
	Temporal    flow.Config
}

// LoadConfig reads KIRJAAMO_DATABASE_URL, KIRJAAMO_NATS_URL, KIRJAAMO_NATS_CREDENTIALS, KIRJAAMO_NATS_CA,
// KIRJAAMO_NATS_REPLICAS, KIRJAAMO_TEMPORAL_ADDRESS, KIRJAAMO_TEMPORAL_NAMESPACE and
// KIRJAAMO_PAYLOAD_KEYS.
func LoadConfig() (Config, error) {
	cfg := Config{
		DatabaseURL: os.Getenv("KIRJAAMO_DATABASE_URL"),
		NATS: bus.Config{
			URL:             Env("KIRJAAMO_NATS_URL", "nats://127.0.0.1:4222"),
			CredentialsFile: os.Getenv("KIRJAAMO_NATS_CREDENTIALS"),
			CAFile:          os.Getenv("KIRJAAMO_NATS_CA"),
			Replicas:        1,
		},
		Temporal: flow.Config{
			HostPort:    Env("KIRJAAMO_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
			Namespace:   Env("KIRJAAMO_TEMPORAL_NAMESPACE", "default"),
			PayloadKeys: os.Getenv("KIRJAAMO_PAYLOAD_KEYS"),
		},
	}
	var errs []error
	if cfg.DatabaseURL == "" {
		errs = append(errs, errors.New("KIRJAAMO_DATABASE_URL is required"))
	}
	if cfg.Temporal.PayloadKeys == "" {
		errs = append(errs, errors.New("KIRJAAMO_PAYLOAD_KEYS is required (generate one with `kirjaamo keygen`)"))
	}
	if r := os.Getenv("KIRJAAMO_NATS_REPLICAS"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 || n > 5 {
			errs = append(errs, errors.New("KIRJAAMO_NATS_REPLICAS must be 1 to 5"))
		}
		cfg.NATS.Replicas = n
	}
	return cfg, errors.Join(errs...)
}

// Env returns an environment variable, or a default when it is unset.
func Env(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// Deps are the connections a service runs on.
type Deps struct {
	DB       *store.DB
	NC       *nats.Conn
	JS       jetstream.JetStream
	Temporal client.Client
	// Packages holds each request's package key and opens the packages registers deliver.
	Packages *packages.Store
	Log      *slog.Logger
}

// Connect opens every connection and makes sure the streams exist.
func Connect(ctx context.Context, cfg Config, name string, log *slog.Logger) (*Deps, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	nc, js, err := bus.Connect(cfg.NATS, "kirjaamo-"+name)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := bus.EnsureStreams(ctx, js, cfg.NATS.Replicas); err != nil {
		nc.Close()
		db.Close()
		return nil, err
	}
	keys, err := codec.ParseKeys(cfg.Temporal.PayloadKeys)
	if err != nil {
		nc.Close()
		db.Close()
		return nil, fmt.Errorf("platform: %w", err)
	}
	answers, err := keys.Derive("register answers v1")
	if err != nil {
		nc.Close()
		db.Close()
		return nil, fmt.Errorf("platform: %w", err)
	}
	db.SealAnswersWith(answers)
	pkgs, err := packages.New(db, js, keys)
	if err != nil {
		nc.Close()
		db.Close()
		return nil, err
	}
	tc, err := flow.Dial(cfg.Temporal, log)
	if err != nil {
		nc.Close()
		db.Close()
		return nil, err
	}
	return &Deps{DB: db, NC: nc, JS: js, Temporal: tc, Packages: pkgs, Log: log}, nil
}

// Close closes every connection.
func (d *Deps) Close() {
	d.Temporal.Close()
	d.NC.Close()
	d.DB.Close()
}
