package conformance_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
)

// loggingInvitations is the invitations register that also tells of each invitation it sends, as a
// processing event, from its adapter (sdk.ProcessingSource).
type loggingInvitations struct {
	*invitations
	event func(n int) contracts.ProcessingEvent
}

func withEvents(t *testing.T) *invitations {
	r := newInvitations(t)
	text := contracts.Text{FI: "Kutsu", SV: "Inbjudan", EN: "Invitation"}
	r.decl.Processing = &contracts.ProcessingLog{Retention: "P2Y", Purposes: []contracts.ProcessingPurpose{{ID: "invitations", Name: text,
		Explanation: text, LegalBasis: contracts.BasisLegitimateInterests, DataCategories: []contracts.DataCategory{{ID: "contact-details", Name: text}}}}}
	return r
}

func invitationSent(n int) contracts.ProcessingEvent {
	return contracts.ProcessingEvent{EventID: "sent-" + string(rune('a'+n)),
		Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierEmail, Form: contracts.FormPlain, Value: knownEmail}},
		At:      time.Now().Add(-time.Minute), Actor: contracts.Actor{Organisation: "Esimerkkiklinikka Oy", Role: "marketing"},
		Purpose: "invitations", LegalBasis: contracts.BasisLegitimateInterests, DataCategories: []string{"contact-details"},
		Operation: contracts.ProcessingView}
}

func (r loggingInvitations) PublishProcessing(ctx context.Context, events *sdk.Events) error {
	for n := range 3 {
		if err := events.Processing(ctx, r.event(n)); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestARegisterThatTellsOfItsProcessingPasses(t *testing.T) {
	srv := embeddednats.Start(t)
	report := check(t, srv.ClientURL(), onSDK(srv.ClientURL(), loggingInvitations{withEvents(t), invitationSent}))
	if !report.Passed() {
		t.Fatalf("failures: %+v", report.Failures())
	}
	if c, _ := report.Find(conformance.CheckProcessingEvents); c.Outcome != conformance.Pass {
		t.Errorf("processing-events: %+v", c)
	}
}

// TestAnEventOutsideTheDeclarationFails: an adapter that publishes by hand what the SDK would have
// refused (a purpose the register does not declare, a person's name it does not declare essential)
// and without a Nats-Msg-Id fails the check, with what to fix.
func TestAnEventOutsideTheDeclarationFails(t *testing.T) {
	srv := embeddednats.Start(t)
	reg := withEvents(t)
	adapter := onSDK(srv.ClientURL(), reg)
	report := check(t, srv.ClientURL(), func(ctx context.Context) error {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			return err
		}
		defer nc.Close()
		ev := invitationSent(1)
		ev.Protocol, ev.RegisterID = contracts.ProcessingProtocol, "test-invitations"
		ev.Purpose, ev.Actor.Person = "profiling", "Maija Markkinoija"
		data, _ := json.Marshal(ev)
		if err := nc.Publish(contracts.ProcessingSubject("test-invitations"), data); err != nil {
			return err
		}
		return adapter(ctx)
	})
	onlyFails(t, report, conformance.CheckProcessingEvents, `event "sent-b"`, "purpose", "actor.person", "Nats-Msg-Id",
		"processing/test-invitations/sent-b")
}

// TestEventsFromARegisterThatDeclaresNoneFail: events the declaration does not announce would all be
// rejected by the platform.
func TestEventsFromARegisterThatDeclaresNoneFail(t *testing.T) {
	srv := embeddednats.Start(t)
	adapter := onSDK(srv.ClientURL(), newInvitations(t))
	report := check(t, srv.ClientURL(), func(ctx context.Context) error {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			return err
		}
		defer nc.Close()
		if err := nc.Publish(contracts.ProcessingSubject("test-invitations"), []byte(`{}`)); err != nil {
			return err
		}
		return adapter(ctx)
	})
	onlyFails(t, report, conformance.CheckProcessingEvents, "declares no processing events")
}
