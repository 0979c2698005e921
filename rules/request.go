package rules

import (
	"fmt"
	"slices"
	"time"

	"kirjaamo.dev/contracts"
)

// Request is the engine's view of a data subject request: the facts that decide an outcome, and
// nothing that identifies the person.
type Request struct {
	Right     contracts.Right `json:"right"`
	Requester Requester       `json:"requester"`
	// IdentityLevel is how strongly the requester's identity was verified. Empty means none.
	IdentityLevel IdentityLevel `json:"identity_level,omitempty"`
	// IdentityFailed records that identity could not be established: the check failed, or the
	// subject did not supply what was asked within the time given.
	IdentityFailed bool `json:"identity_failed,omitempty"`
	// Supplied are the identifier types verified for this request, from sign-in or added by the
	// subject and verified (e.g. a phone number confirmed with a one-time code).
	Supplied []contracts.IdentifierType `json:"supplied,omitempty"`
	// History lists the same subject's earlier requests, for the Art 12(5) flag.
	History    []PriorRequest `json:"history,omitempty"`
	ReceivedAt time.Time      `json:"received_at"`
	// Unlawful records the office's finding that the processing is unlawful (Art 17(1)(d)).
	Unlawful bool `json:"unlawful,omitempty"`
	// Objection records that the subject has objected successfully under Art 21(1) (Art 17(1)(c)).
	Objection bool `json:"objection,omitempty"`
	// DirectMarketing records that the subject objects to processing for direct marketing (Art 21(2)).
	DirectMarketing bool `json:"direct_marketing,omitempty"`
}

// PriorRequest is one earlier request by the same subject.
type PriorRequest struct {
	Right      contracts.Right `json:"right"`
	ReceivedAt time.Time       `json:"received_at"`
}

// RequesterRole says on whose behalf a request is made (docs/procedure.md#representatives).
type RequesterRole string

const (
	// RequesterSubject is the data subject; it is also what an empty role means.
	RequesterSubject RequesterRole = "data_subject"
	// RequesterRepresentative acts for the subject under a mandate, in Finland typically a
	// Suomi.fi e-Authorization, or as a guardian.
	RequesterRepresentative RequesterRole = "representative"
)

// RequesterRoles lists every role.
var RequesterRoles = []RequesterRole{RequesterSubject, RequesterRepresentative}

// Requester is who made the request.
type Requester struct {
	Role RequesterRole `json:"role,omitempty"`
	// MandateVerified reports that a representative's mandate was verified.
	MandateVerified bool `json:"mandate_verified,omitempty"`
	// Mandate lists the rights the representative's mandate covers.
	Mandate []contracts.Right `json:"mandate,omitempty"`
	// SubjectDeceased reports that the data subject has died: the GDPR protects living persons only.
	SubjectDeceased bool `json:"subject_deceased,omitempty"`
}

// IdentityLevel is an assurance level of identity verification, after eIDAS.
type IdentityLevel string

const (
	IdentityNone IdentityLevel = "none"
	// IdentityBasic: an e-mail address or phone number confirmed with a one-time code.
	IdentityBasic IdentityLevel = "basic"
	// IdentitySubstantial: strong electronic identification, e.g. online banking codes.
	IdentitySubstantial IdentityLevel = "substantial"
	// IdentityHigh: e.g. the certificate of an identity card.
	IdentityHigh IdentityLevel = "high"
)

// IdentityLevels lists every level, weakest first.
var IdentityLevels = []IdentityLevel{IdentityNone, IdentityBasic, IdentitySubstantial, IdentityHigh}

var identityRank = map[IdentityLevel]int{"": 0, IdentityNone: 0, IdentityBasic: 1, IdentitySubstantial: 2, IdentityHigh: 3}

// Valid reports whether l is a known level; empty counts as none.
func (l IdentityLevel) Valid() bool { _, ok := identityRank[l]; return ok }

// AtLeast reports whether l is as strong as min.
func (l IdentityLevel) AtLeast(min IdentityLevel) bool { return identityRank[l] >= identityRank[min] }

// RequiredIdentity is the identity level a register's data call for (Art 12(6), Recital 64;
// docs/rights-rules.md#gate-2-identity): strong
// electronic identification where special categories are processed or the register is keyed on the
// personal identity code (which only strong identification verifies), else a one-time code to the
// e-mail address or phone number the register knows the subject by.
func RequiredIdentity(decl *contracts.Declaration) IdentityLevel {
	for _, p := range decl.Purposes {
		if p.SpecialCategory.Special() {
			return IdentitySubstantial
		}
	}
	for _, m := range decl.Identifiers {
		if m.Type == contracts.IdentifierPersonalIdentityCode {
			return IdentitySubstantial
		}
	}
	return IdentityBasic
}

// Validate checks the request and returns a *contracts.ValidationError naming each bad field.
func (r *Request) Validate() error {
	ve := &contracts.ValidationError{}
	if !r.Right.Valid() {
		ve.Add("right", "right", contracts.MustBeOneOf(contracts.Rights))
	}
	switch r.Requester.Role {
	case "", RequesterSubject, RequesterRepresentative:
	default:
		ve.Add("requester.role", "oneof", contracts.MustBeOneOf(RequesterRoles))
	}
	for i, right := range r.Requester.Mandate {
		if !right.Valid() {
			ve.Add(fmt.Sprintf("requester.mandate[%d]", i), "right", "must be a right")
		}
	}
	if !r.IdentityLevel.Valid() {
		ve.Add("identity_level", "oneof", contracts.MustBeOneOf(IdentityLevels))
	}
	for i, t := range r.Supplied {
		if !t.Valid() {
			ve.Add(fmt.Sprintf("supplied[%d]", i), "identifier_type", contracts.MustBeOneOf(contracts.IdentifierTypes))
		}
	}
	for i, p := range r.History {
		if !p.Right.Valid() {
			ve.Add(fmt.Sprintf("history[%d].right", i), "right", "must be a right")
		}
	}
	if r.ReceivedAt.IsZero() {
		ve.Add("received_at", "required", "is required: the deadline and the Art 12(5) window count from it")
	}
	return ve.OrNil()
}

// actsForSubject reports whether the requester may exercise the right: the subject, or a
// representative whose verified mandate covers it (docs/rights-rules.md#gate-1-scope).
func (r Requester) actsForSubject(right contracts.Right) bool {
	if r.Role != RequesterRepresentative {
		return true
	}
	return r.MandateVerified && slices.Contains(r.Mandate, right)
}
