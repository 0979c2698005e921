// Package catalogue is the register catalogue: it takes the registers' announcements and
// heartbeats, keeps every version of every declaration, and puts a version in force once a DPO
// approves it.
package catalogue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/record"
)

// Config is the catalogue's own configuration.
type Config struct {
	// AutoApproveAs, when set, approves the first valid version of a register that has none in force,
	// in that name. Only the dev stack sets it, so that the demo registers are live on a fresh
	// machine; the approval is recorded like any other. A changed version always waits for a DPO.
	AutoApproveAs string `env:"CATALOGUE_AUTO_APPROVE_AS" doc:"dev only: approve a register's first valid version in this name, so that demo registers are live on a fresh machine"`
}

// LoadConfig reads the catalogue's configuration from the environment.
func LoadConfig() (Config, error) {
	var cfg Config
	return cfg, config.Load("KIRJAAMO_", &cfg)
}

// Deps are what the catalogue runs on: NATS, for the announcements, heartbeats and events, the
// catalogue's store, and the record the registers' events are written to.
type Deps struct {
	NC           *nats.Conn
	Declarations *declarations.Store
	Record       interface {
		Write(ctx context.Context, e record.Entry) error
	}
	Log *slog.Logger
}

// Run answers announcements and records heartbeats until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	c := &catalogue{cfg: cfg, deps: deps}
	ann, err := deps.NC.QueueSubscribe(contracts.AllAnnouncementsSubject, "catalogue", c.announce)
	if err != nil {
		return fmt.Errorf("catalogue: subscribe announcements: %w", err)
	}
	hb, err := deps.NC.QueueSubscribe(contracts.AllHeartbeatsSubject, "catalogue", c.heartbeat)
	if err != nil {
		return fmt.Errorf("catalogue: subscribe heartbeats: %w", err)
	}
	ev, err := deps.NC.QueueSubscribe(contracts.AllEventsSubject, "catalogue", c.event)
	if err != nil {
		return fmt.Errorf("catalogue: subscribe events: %w", err)
	}
	if err := deps.NC.Flush(); err != nil {
		return fmt.Errorf("catalogue: flush: %w", err)
	}
	deps.Log.Info("register catalogue serving")
	<-ctx.Done()
	_ = ann.Drain()
	_ = hb.Drain()
	_ = ev.Drain()
	return nil
}

// event writes what a register's adapter reports to the record, in the register's name, and answers
// once it is written. The catalogue is the platform's ear for what registers say of themselves;
// the subject the event came on, which the register's credentials confine to its own, says which
// register speaks.
func (c *catalogue) event(msg *nats.Msg) {
	reply := contracts.EventReply{Recorded: true}
	var e contracts.Event
	err := json.Unmarshal(msg.Data, &e)
	if err == nil {
		err = e.Validate()
	}
	if err == nil && contracts.RegisterIDFromSubject(msg.Subject) != e.RegisterID {
		err = errors.New("a register reports events for itself only")
	}
	if err != nil {
		reply = contracts.EventReply{Error: contracts.ErrorFromValidation(contracts.ErrInvalidMessage, err)}
	} else {
		detail := map[string]any{"reported_at": e.At}
		for k, v := range e.Detail {
			detail[k] = v
		}
		if e.TaskID != "" {
			detail["task_id"] = e.TaskID
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.deps.Record.Write(ctx, record.Entry{Actor: "register " + e.RegisterID, Role: "register", Action: string(e.Kind),
			RequestID: e.RequestID, Detail: detail}); err != nil {
			// No answer: the adapter retries.
			c.deps.Log.Warn("event not recorded", "register", e.RegisterID, "kind", e.Kind, "error", err)
			return
		}
	}
	data, _ := json.Marshal(reply)
	_ = msg.Respond(data)
}

type catalogue struct {
	cfg  Config
	deps Deps
}

func (c *catalogue) announce(msg *nats.Msg) {
	reply := c.handleAnnouncement(msg)
	data, _ := json.Marshal(reply)
	_ = msg.Respond(data)
}

func (c *catalogue) handleAnnouncement(msg *nats.Msg) contracts.AnnounceReply {
	var a contracts.Announcement
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInvalidMessage, "announcement is not valid JSON: %v", err)}
	}
	if err := a.Validate(); err != nil {
		code := contracts.ErrInvalidMessage
		if _, ok := contracts.AsValidationError(err); ok {
			code = contracts.ErrDeclarationRefused
		}
		c.deps.Log.Warn("declaration refused", "register", a.Declaration.RegisterID, "reason", err.Error())
		return contracts.AnnounceReply{Error: contracts.ErrorFromValidation(code, err)}
	}
	if from := contracts.RegisterIDFromSubject(msg.Subject); from != a.Declaration.RegisterID {
		return contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInvalidMessage,
			"announced on the subject of register %q but declares register %q", from, a.Declaration.RegisterID)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	decl, _ := json.Marshal(a.Declaration)
	caps, _ := json.Marshal(a.Capabilities)
	digest := a.Declaration.Digest()
	approved, err := c.deps.Declarations.Add(ctx, declarations.Version{RegisterID: a.Declaration.RegisterID,
		Digest: digest, Version: a.Declaration.Version, Declaration: decl, Capabilities: caps})
	if err != nil {
		c.deps.Log.Error("announcement not stored", "register", a.Declaration.RegisterID, "error", err)
		return contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInternal, "the catalogue could not store the declaration; retry")}
	}
	if !approved && c.cfg.AutoApproveAs != "" && !c.hasVersionInForce(ctx, a.Declaration.RegisterID) {
		if err := c.deps.Declarations.Approve(ctx, a.Declaration.RegisterID, digest, c.cfg.AutoApproveAs); err != nil {
			return contracts.AnnounceReply{Error: contracts.NewError(contracts.ErrInternal, "the catalogue could not approve the declaration; retry")}
		}
		approved = true
	}
	status := contracts.DeclarationPendingApproval
	if approved {
		status = contracts.DeclarationInForce
	}
	c.deps.Log.Info("register announced", "register", a.Declaration.RegisterID, "digest", digest, "status", status)
	return contracts.AnnounceReply{Accepted: true, Status: status, Digest: digest}
}

func (c *catalogue) hasVersionInForce(ctx context.Context, registerID string) bool {
	versions, err := c.deps.Declarations.VersionsInForce(ctx, time.Now())
	if err != nil {
		return true // when in doubt, leave the approval to a person
	}
	for _, v := range versions {
		if v.RegisterID == registerID {
			return true
		}
	}
	return false
}

func (c *catalogue) heartbeat(msg *nats.Msg) {
	var hb contracts.Heartbeat
	if json.Unmarshal(msg.Data, &hb) != nil || contracts.Validate(&hb) != nil || contracts.RegisterIDFromSubject(msg.Subject) != hb.RegisterID {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.deps.Declarations.Heartbeat(ctx, hb.RegisterID, hb.Instance, hb.Digest, hb.At); err != nil {
		c.deps.Log.Warn("heartbeat not stored", "register", hb.RegisterID, "error", err)
	}
}
