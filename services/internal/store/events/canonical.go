package events

import (
	"bytes"
	"encoding/json"
	"time"

	"kirjaamo.dev/contracts"
)

// canonicalEvent is a processing event with its fields in the order of their JSON names, so that
// encoding/json writes it in the ledger's canonical form (ledger.Canonical: keys sorted, no white
// space, no HTML escaping) without the generic re-encoding, which costs some fifteen times as much:
// a leaf is made for every event stored. TestTheCanonicalFormIsTheLedgers holds the two to the same
// bytes.
type canonicalEvent struct {
	Actor          canonicalActor     `json:"actor"`
	At             string             `json:"at"`
	DataCategories []string           `json:"data_categories"`
	EmbargoUntil   string             `json:"embargo_until,omitempty"`
	EventID        string             `json:"event_id"`
	LegalBasis     string             `json:"legal_basis"`
	Operation      string             `json:"operation"`
	Protocol       string             `json:"protocol"`
	Purpose        string             `json:"purpose"`
	Recipient      string             `json:"recipient,omitempty"`
	RegisterID     string             `json:"register_id"`
	Subject        []canonicalSubject `json:"subject"`
}

type canonicalActor struct {
	Organisation   string `json:"organisation"`
	OrganisationID string `json:"organisation_id,omitempty"`
	Person         string `json:"person,omitempty"`
	Role           string `json:"role"`
}

type canonicalSubject struct {
	Form  string `json:"form"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Canonical is an event in canonical form: what its leaf covers, after the nonce.
func Canonical(ev *contracts.ProcessingEvent) ([]byte, error) {
	c := canonicalEvent{Actor: canonicalActor{Organisation: ev.Actor.Organisation, OrganisationID: ev.Actor.OrganisationID,
		Person: ev.Actor.Person, Role: ev.Actor.Role}, At: ev.At.UTC().Format(time.RFC3339Nano), DataCategories: ev.DataCategories,
		EventID: ev.EventID, LegalBasis: string(ev.LegalBasis), Operation: string(ev.Operation), Protocol: ev.Protocol,
		Purpose: ev.Purpose, Recipient: ev.Recipient, RegisterID: ev.RegisterID}
	if ev.EmbargoUntil != nil {
		c.EmbargoUntil = ev.EmbargoUntil.UTC().Format(time.RFC3339Nano)
	}
	for _, s := range ev.Subject {
		c.Subject = append(c.Subject, canonicalSubject{Form: string(s.Form), Type: string(s.Type), Value: s.Value})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
