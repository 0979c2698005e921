package platform

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"kirjaamo.dev/services/catalogue"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/gauges"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/notifier"
	"kirjaamo.dev/services/office"
	"kirjaamo.dev/services/opendsr"
	"kirjaamo.dev/services/orchestrator"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/services/processing"
	"kirjaamo.dev/workflows/request"
)

// Each service is given only what it uses.

// RunPortal runs the portal on the platform.
func (p *Platform) RunPortal(ctx context.Context, cfg portal.Config) error {
	if p.Requests == nil || p.Packages == nil {
		return fmt.Errorf("portal: %w", errNotConnected)
	}
	return portal.Run(ctx, cfg, portal.Deps{Requests: p.Requests, Cases: p.Cases, Files: p.Files, Challenges: p.Challenges,
		Sessions: p.Sessions, Packages: p.Packages, Limits: p.Limits, Catalogue: p.Declarations, Processing: p.Events, Log: p.Log.With("service", "portal")})
}

// RunOffice runs the office on the platform; withMailbox shows the dev notifier's mailbox.
func (p *Platform) RunOffice(ctx context.Context, cfg office.Config, withMailbox bool) error {
	if p.Requests == nil || p.Packages == nil {
		return fmt.Errorf("office: %w", errNotConnected)
	}
	deps := office.Deps{Requests: p.Requests, Cases: p.Cases, Files: p.Files, Record: p.Record, Declarations: p.Declarations,
		Sessions: p.Sessions, Packages: p.Packages, Limits: p.Limits, Processing: p.Events, Log: p.Log.With("service", "office")}
	if withMailbox {
		deps.Mailbox = p.Outbox
	}
	// The office's process shows what the database says of the platform's work (package gauges),
	// while the office runs.
	if c := gauges.New(p.DB.Pool); prometheus.Register(c) == nil {
		defer prometheus.Unregister(c)
	}
	return office.Run(ctx, cfg, deps)
}

// RunOrchestrator runs the workflow worker and the result collector on the platform.
func (p *Platform) RunOrchestrator(ctx context.Context, cfg orchestrator.Config) error {
	if p.Requests == nil || p.Packages == nil {
		return fmt.Errorf("orchestrator: %w", errNotConnected)
	}
	activities := &request.Activities{Cases: p.Cases, Catalogue: p.Declarations, Tasks: bus.Publisher{JS: p.JS}, Cancel: orchestrator.Canceller{JS: p.JS},
		Keys: p.Packages}
	log := p.Log.With("service", "orchestrator")
	checkpoints := &ledger.Checkpointer{Log: record.Log, Head: p.Record.Head, Signer: p.Signer, Out: p.Checkpoints,
		Every: cfg.CheckpointEvery, Logger: log}
	return orchestrator.Run(ctx, cfg, orchestrator.Deps{Temporal: p.Temporal, JS: p.JS, Activities: activities, Answers: p.Cases,
		Requests: p.Requests, Record: p.Record, Checkpoints: checkpoints, Log: log})
}

// RunCatalogue runs the register catalogue on the platform.
func (p *Platform) RunCatalogue(ctx context.Context, cfg catalogue.Config) error {
	if p.NC == nil {
		return fmt.Errorf("catalogue: %w", errNotConnected)
	}
	return catalogue.Run(ctx, cfg, catalogue.Deps{NC: p.NC, Declarations: p.Declarations, Record: p.Record, Log: p.Log.With("service", "catalogue")})
}

// RunOpenDSR runs the OpenDSR processor endpoints on the platform: it needs Temporal to start and
// withdraw requests, and PostgreSQL.
func (p *Platform) RunOpenDSR(ctx context.Context, cfg opendsr.Config) error {
	if p.Requests == nil {
		return fmt.Errorf("opendsr: %w", errNotConnected)
	}
	return opendsr.Run(ctx, cfg, opendsr.Deps{Requests: p.Requests, Store: p.OpenDSR, Log: p.Log.With("service", "opendsr")})
}

// RunNotifier runs the notifier on the platform: it needs PostgreSQL only.
func (p *Platform) RunNotifier(ctx context.Context, cfg notifier.Config) error {
	return notifier.Run(ctx, cfg, notifier.Deps{Outbox: p.Outbox, Log: p.Log.With("service", "notifier")})
}

// RunProcessing runs the processing events service on the platform: JetStream and PostgreSQL.
func (p *Platform) RunProcessing(ctx context.Context, cfg processing.Config) error {
	if p.Events == nil {
		return fmt.Errorf("processing: %w", errNotConnected)
	}
	return processing.Run(ctx, cfg, processing.Deps{JS: p.JS, Store: p.Events, Declarations: p.Declarations,
		Log: p.Log.With("service", "processing")})
}

// Service is a service as `kirjaamo serve` runs it: the servers it needs, and how it loads its
// configuration from the environment and runs.
type Service struct {
	Needs Needs
	Run   func(ctx context.Context, p *Platform) error
	// Config describes the variables the service reads besides the platform's.
	Config []config.Var
}

// Services are the platform's services by name.
var Services = map[string]Service{
	"processing": {Needs: Needs{NATS: true}, Config: config.Describe(processing.Prefix, processing.DefaultConfig()),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := processing.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunProcessing(ctx, cfg)
		}},
	"portal": {Needs: Needs{NATS: true, Temporal: true}, Config: config.Describe(portal.ConfigPrefix, portal.DefaultConfig()),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := portal.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunPortal(ctx, cfg)
		}},
	"office": {Needs: Needs{NATS: true, Temporal: true}, Config: config.Describe(office.ConfigPrefix, office.DefaultConfig()),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := office.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunOffice(ctx, cfg, false)
		}},
	"orchestrator": {Needs: Needs{NATS: true, Temporal: true}, Config: config.Describe(Prefix, orchestrator.Config{}),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := orchestrator.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunOrchestrator(ctx, cfg)
		}},
	"catalogue": {Needs: Needs{NATS: true}, Config: config.Describe(Prefix, catalogue.Config{}),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := catalogue.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunCatalogue(ctx, cfg)
		}},
	"opendsr": {Needs: Needs{Temporal: true}, Config: config.Describe(opendsr.ConfigPrefix, opendsr.Config{}),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := opendsr.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunOpenDSR(ctx, cfg)
		}},
	"notifier": {Config: config.Describe(Prefix, notifier.Config{}),
		Run: func(ctx context.Context, p *Platform) error {
			cfg, err := notifier.LoadConfig()
			if err != nil {
				return err
			}
			return p.RunNotifier(ctx, cfg)
		}},
}
