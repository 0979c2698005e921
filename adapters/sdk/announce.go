package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/contracts"
)

// ErrDeclarationRefused is returned by Run when the catalogue refuses the register's declaration.
var ErrDeclarationRefused = errors.New("declaration refused by the register catalogue")

// announce sends the declaration to the catalogue and waits for its answer. A refusal stops the
// adapter with the catalogue's reasons; a catalogue that does not answer is retried, because the
// platform may simply be starting.
func (a *adapter) announce(ctx context.Context) error {
	msg := contracts.Announcement{Protocol: contracts.AnnounceProtocol, Declaration: a.decl,
		Capabilities: a.ops.Capabilities(), Instance: a.instance}
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("sdk: encode announcement: %w", err)
	}
	wait := time.Second
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := a.nc.RequestWithContext(rctx, contracts.AnnounceSubject(a.decl.RegisterID), data)
		cancel()
		if err == nil {
			var ans contracts.AnnounceReply
			if err := json.Unmarshal(reply.Data, &ans); err != nil {
				return fmt.Errorf("sdk: catalogue reply: %w", err)
			}
			if !ans.Accepted {
				if ans.Error != nil {
					return fmt.Errorf("sdk: %w: %w", ErrDeclarationRefused, ans.Error)
				}
				return fmt.Errorf("sdk: %w", ErrDeclarationRefused)
			}
			a.cfg.Logger.Info("register announced", "register", a.decl.RegisterID, "status", ans.Status)
			return nil
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("sdk: announce: %w", err)
		}
		a.cfg.Logger.Warn("register catalogue not answering yet; retrying", "register", a.decl.RegisterID, "after", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

func (a *adapter) heartbeat() {
	hb := contracts.Heartbeat{Protocol: contracts.HeartbeatProtocol, RegisterID: a.decl.RegisterID,
		Instance: a.instance, Digest: a.decl.Digest(), At: time.Now().UTC()}
	if data, err := json.Marshal(hb); err == nil {
		_ = a.nc.Publish(contracts.HeartbeatSubject(a.decl.RegisterID), data)
	}
}
