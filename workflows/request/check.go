package request

import (
	"regexp"
	"strings"

	"kirjaamo.dev/contracts"
)

// Each input the workflow takes from outside is checked here, once: the update's validator refuses
// what its Check refuses, and the sites call the same Check (through Client) to answer a person
// field by field in a 422 before anything is sent. A validator that accepted what the activity
// behind it would refuse would leave the step failing for good; so every text goes through
// contracts.CheckText, which refuses what PostgreSQL would.

// Limits of the texts people type into the workflow's inputs, in characters.
const (
	MaxClerk   = 300
	MaxNote    = 2000
	MaxReasons = 2000
	MaxMethod  = 500
	// MaxPurpose is a stated purpose with the words added to it.
	MaxPurpose = 800
)

// CheckApproval checks the office's approval of the reply.
func CheckApproval(a Approval) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", a.Clerk, MaxClerk, true)
	contracts.CheckText(ve, "note", a.Note, MaxNote, false)
	contracts.CheckText(ve, "purpose", a.Purpose, MaxPurpose, false)
	return orNil(ve)
}

// CheckExtension checks an extension of the deadline: reasons, told to the subject (Art 12(3)), and
// one or two further months.
func CheckExtension(x Extension) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", x.Clerk, MaxClerk, true)
	contracts.CheckText(ve, "reasons", x.Reasons, MaxReasons, true)
	contracts.CheckText(ve, "purpose", x.Purpose, MaxPurpose, false)
	if x.Months < 1 || x.Months > 2 {
		ve.Add("months", "range", "at most two further months (Art 12(3)): 1 or 2")
	}
	return orNil(ve)
}

// CheckSupplied checks an identifier a subject supplies: a phone number in international form or an
// e-mail address, never a personal identity code. Field names are "type" and "value".
func CheckSupplied(id contracts.Identifier) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	switch id.Type {
	case contracts.IdentifierPhone:
		if !phonePattern.MatchString(id.Value) {
			ve.Add("value", "e164", "must be a phone number in international form, e.g. +358401234567")
		}
	case contracts.IdentifierEmail:
		if len(id.Value) > 254 || !emailPattern.MatchString(id.Value) || contracts.TextRule(id.Value, 254) != "" {
			ve.Add("value", "email", "must be an e-mail address")
		}
	case contracts.IdentifierPersonalIdentityCode:
		ve.Add("type", "oneof", "a personal identity code comes only from identification at sign-in; add a phone number or an e-mail address")
	default:
		ve.Add("type", "oneof", "must be one of: phone, email")
	}
	return orNil(ve)
}

var (
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// CheckSupply checks a supply: the identifier, and where it came from.
func CheckSupply(s Supply) *contracts.ValidationError {
	ve := CheckSupplied(s.Identifier)
	if ve == nil {
		ve = &contracts.ValidationError{}
	}
	checkSubjectChannel(ve, s.Channel)
	return orNil(ve)
}

// CheckWithdrawal checks a withdrawal.
func CheckWithdrawal(w Withdrawal) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	checkSubjectChannel(ve, w.Channel)
	return orNil(ve)
}

// checkSubjectChannel: the subject acts on a request in the portal, on its pages or its API.
func checkSubjectChannel(ve *contracts.ValidationError, c Channel) {
	if c != ChannelWeb && c != ChannelAPI {
		ve.Add("channel", "oneof", "must be one of: web, api")
	}
}

// CheckVerification checks a clerk's verification of identity: how it was confirmed (Art 12(6)).
func CheckVerification(v IdentityVerification) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", v.Clerk, MaxClerk, true)
	if strings.TrimSpace(v.Method) == "" {
		ve.Add("method", "required", `say how the identity was confirmed, e.g. "passport checked at the service point" (Art 12(6))`)
	} else {
		contracts.CheckText(ve, "method", v.Method, MaxMethod, false)
	}
	contracts.CheckText(ve, "note", v.Note, MaxNote, false)
	contracts.CheckText(ve, "purpose", v.Purpose, MaxPurpose, false)
	return orNil(ve)
}

// CheckRefusal checks a clerk's refusal to accept an identity: the reasons, told to the subject
// (Art 12(2), 12(4)).
func CheckRefusal(x IdentityRefusal) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", x.Clerk, MaxClerk, true)
	contracts.CheckText(ve, "reasons", x.Reasons, MaxReasons, true)
	contracts.CheckText(ve, "purpose", x.Purpose, MaxPurpose, false)
	return orNil(ve)
}

// CheckLift checks a clerk's lift notice or lift.
func CheckLift(l Lift) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", l.Clerk, MaxClerk, true)
	contracts.CheckText(ve, "purpose", l.Purpose, MaxPurpose, false)
	return orNil(ve)
}

// CheckRetry checks a clerk's retry of a step that needs attention.
func CheckRetry(r Retry) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	contracts.CheckText(ve, "clerk", r.Clerk, MaxClerk, true)
	contracts.CheckText(ve, "purpose", r.Purpose, MaxPurpose, false)
	return orNil(ve)
}

// CheckInput checks what starts a request: its receipt dates are set, its channel known, its
// subject named, and its request valid.
func CheckInput(in Input) *contracts.ValidationError {
	ve := &contracts.ValidationError{}
	if in.RequestID == "" {
		ve.Add("request_id", "required", "is required")
	}
	if !in.Channel.Valid() {
		ve.Add("channel", "oneof", "must be one of: web, api, mail, service_point")
	}
	if in.ReceivedAt.IsZero() || in.Receipt.Deadline.IsZero() {
		ve.Add("receipt", "required", "the receipt and its deadlines are required")
	}
	contracts.CheckText(ve, "subject.name", in.Subject.Name, MaxClerk, false)
	if in.Channel.ByStaff() {
		contracts.CheckText(ve, "registered_by", in.RegisteredBy, MaxClerk, true)
	}
	contracts.CheckText(ve, "requester", in.Requester, MaxClerk, false)
	req := in.Request
	if err := req.Validate(); err != nil {
		if rve, ok := contracts.AsValidationError(err); ok {
			for _, f := range rve.Fields {
				ve.Add("request."+f.Field, f.Rule, f.Message)
			}
		} else {
			ve.Add("request", "invalid", err.Error())
		}
	}
	return orNil(ve)
}

func orNil(ve *contracts.ValidationError) *contracts.ValidationError {
	if len(ve.Fields) == 0 {
		return nil
	}
	return ve
}
