// Package platform is where a process's services are put together: it opens the connections the
// services need (PostgreSQL, NATS JetStream, Temporal, no more), makes the stores and the request
// workflow's client on them, and gives each service only the ports it uses (services.go). The
// production command (kirjaamo serve) and the dev stack wire services through it alike.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/flow"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/packages"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/store/limits"
	"kirjaamo.dev/services/internal/store/opendsr"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/store/sessions"
	"kirjaamo.dev/workflows/codec"
	"kirjaamo.dev/workflows/request"
)

// Config is the part of the configuration the services share, with the prefix KIRJAAMO_: the
// database and the payload keys for every service, NATS and Temporal for those that need them.
type Config struct {
	Base     Base
	NATS     bus.Config
	Temporal flow.Config
}

// Base is what every service reads.
type Base struct {
	DatabaseURL string `env:"DATABASE_URL" required:"" doc:"PostgreSQL; the schema is migrated at start"`
	// PayloadKeys are the codec's keys, "id:base64,..." with the encrypting key first.
	PayloadKeys string `env:"PAYLOAD_KEYS" required:"" doc:"codec keys id:base64,… (kirjaamo keygen), the encrypting key first: Temporal payloads are encrypted with it, and the keys sealing data at rest are derived from them (HKDF, per purpose) and keep their ids, so a rotated-out key must stay listed while anything sealed under it is kept"`
}

// Prefix is the prefix of every platform variable.
const Prefix = "KIRJAAMO_"

// LoadConfig reads the platform's part of the configuration from the environment: the servers
// that the services need, no others.
func LoadConfig(needs Needs) (Config, error) {
	var cfg Config
	errs := []error{config.Load(Prefix, &cfg.Base)}
	if needs.NATS {
		errs = append(errs, config.Load(Prefix, &cfg.NATS))
	}
	if needs.Temporal {
		errs = append(errs, config.Load(Prefix, &cfg.Temporal))
	}
	return cfg, errors.Join(errs...)
}

// Needs says which servers a process's services use.
type Needs struct {
	NATS, Temporal bool
}

// Platform is a process's connections and what is made on them. Fields for a server the services
// do not need stay nil.
type Platform struct {
	Log      *slog.Logger
	DB       *store.DB
	NC       *nats.Conn
	JS       jetstream.JetStream
	Temporal client.Client
	// Keys are the payload keys, from which the keys sealing data at rest are derived.
	Keys *codec.Codec
	// Signer signs the record's checkpoints; Checkpoints publishes and reads them (NATS).
	Signer      *ledger.Signer
	Checkpoints ledger.Checkpoints

	Cases        *cases.Repo
	Declarations *declarations.Store
	Record       *record.Record
	Outbox       *outbox.Outbox
	Sessions     *sessions.Store
	Challenges   *challenges.Store
	Limits       *limits.Counter
	OpenDSR      *opendsr.Store
	Files        casefile.Reader
	// Packages holds each request's package key and opens the packages registers deliver (NATS).
	Packages *packages.Store
	// Requests is the request workflow's client (Temporal).
	Requests *request.Client
	// Events are the registers' processing events; they publish their logs' checkpoints where the
	// process has NATS.
	Events *events.Store
}

// Open connects to PostgreSQL, and to NATS and Temporal if the services need them, and makes the
// stores. NATS streams are created or brought up to date. A server that does not answer yet is
// waited for, and the log says so, until ctx ends.
func Open(ctx context.Context, cfg Config, name string, needs Needs, log *slog.Logger) (*Platform, error) {
	keys, err := codec.ParseKeys(cfg.Base.PayloadKeys)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	ring, err := store.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	signer, err := CheckpointSigner(keys)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	db, err := store.Open(ctx, cfg.Base.DatabaseURL, ring, log)
	if err != nil {
		return nil, err
	}
	p := &Platform{Log: log, DB: db, Keys: keys, Signer: signer, Cases: cases.New(db), Declarations: declarations.New(db),
		Record: record.New(db), Outbox: outbox.New(db), Sessions: sessions.New(db), Challenges: challenges.New(db), Limits: limits.New(db),
		OpenDSR: opendsr.New(db)}
	p.Files = casefile.Reader{Cases: p.Cases, Declarations: p.Declarations}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	// Cases kept in clear before subjects were sealed are sealed now: a data migration that needs the
	// keys, which the schema's migrations do not have.
	if n, err := p.Cases.SealInClear(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("sealed the subjects of cases kept in clear", "cases", n)
	}
	if needs.NATS {
		if p.NC, p.JS, err = bus.Connect(ctx, cfg.NATS, "kirjaamo-"+name, log); err != nil {
			return nil, err
		}
		if err := bus.EnsureStreams(ctx, p.JS, cfg.NATS.Replicas, log); err != nil {
			return nil, err
		}
		if err := ledger.EnsureStream(ctx, p.JS, cfg.NATS.Replicas); err != nil {
			return nil, err
		}
		p.Checkpoints = ledger.Checkpoints{JS: p.JS}
		p.Events = events.New(db, signer, &p.Checkpoints)
		if p.Packages, err = packages.New(p.Cases, p.JS, keys); err != nil {
			return nil, err
		}
	}
	if needs.Temporal {
		if p.Temporal, err = flow.Dial(ctx, cfg.Temporal, keys, log); err != nil {
			return nil, err
		}
		p.Requests = request.NewClient(p.Temporal)
	}
	ok = true
	return p, nil
}

// Readiness adds a check of each server the process is connected to.
func (p *Platform) Readiness(r *telemetry.Readiness) {
	r.Check("postgres", func(ctx context.Context) error { return p.DB.Pool.Ping(ctx) })
	if p.NC != nil {
		r.Check("nats", func(context.Context) error {
			if !p.NC.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		})
	}
	if p.Temporal != nil {
		r.Check("temporal", func(ctx context.Context) error {
			_, err := p.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		})
	}
}

// CheckpointSigner is the key that signs the record's checkpoints, derived from the payload keys; its
// public half is what an auditor checks them with (kirjaamo audit keys).
func CheckpointSigner(keys *codec.Codec) (*ledger.Signer, error) {
	active, seeds, err := keys.DeriveSecrets("record checkpoints v1")
	if err != nil {
		return nil, err
	}
	return ledger.NewSigner(active, seeds)
}

// errNotConnected is a service asking for a server its needs did not name.
var errNotConnected = errors.New("platform: a service needs a server it did not declare")

// Close closes every connection.
func (p *Platform) Close() {
	if p.Temporal != nil {
		p.Temporal.Close()
	}
	if p.NC != nil {
		p.NC.Close()
	}
	p.DB.Close()
}
