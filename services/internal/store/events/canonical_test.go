package events

import (
	"encoding/json"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
)

// TestTheCanonicalFormIsTheLedgers: the fast canonical form of an event is byte for byte what the
// ledger's generic one makes of the event's JSON, with and without the optional fields, and with
// text that HTML escaping would change.
func TestTheCanonicalFormIsTheLedgers(t *testing.T) {
	until := time.Date(2026, 6, 1, 0, 0, 0, 500, time.UTC)
	full := contracts.ProcessingEvent{Protocol: contracts.ProcessingProtocol, EventID: "e-1", RegisterID: "kanta-processing-log",
		Subject: []contracts.SubjectIdentifier{{Type: "personal_identity_code", Form: "plain", Value: "150385-9013"},
			{Type: "email", Form: "sha256", Value: contracts.HashSHA256("email", "a@b.fi")}},
		At:      time.Date(2026, 5, 4, 9, 30, 0, 123456000, time.FixedZone("EEST", 3*3600)),
		Actor:   contracts.Actor{Organisation: "Sairaala <Ö&Ä>", OrganisationID: "1.2.246.10", Role: "physician", Person: "Laura \"L\" Lääkäri"},
		Purpose: "statutory-disclosure", LegalBasis: "6(1)(c)", DataCategories: []string{"patient-records", "prescriptions"},
		Operation: contracts.ProcessingDisclosure, Recipient: "Kela", EmbargoUntil: &until}
	bare := full
	bare.Actor.OrganisationID, bare.Actor.Person, bare.Recipient, bare.EmbargoUntil, bare.Operation = "", "", "", nil, contracts.ProcessingView
	for name, ev := range map[string]contracts.ProcessingEvent{"full": full, "bare": bare} {
		got, err := Canonical(&ev)
		if err != nil {
			t.Fatal(err)
		}
		utc := ev
		utc.At = ev.At.UTC()
		raw, _ := json.Marshal(utc)
		want, err := ledger.CanonicalJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
