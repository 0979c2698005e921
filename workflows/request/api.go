// Package request is the workflow that carries one data subject request from receipt to reply: one
// workflow per request, whatever rights it invokes, with workflow id = request id.
package request

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

// Names that clients, workers and tests share.
const (
	WorkflowName = "DataSubjectRequest"
	TaskQueue    = "kirjaamo-requests"

	// SignalRegistersAnswered tells the workflow that every register it dispatched to has answered.
	// The result collector sends it once the last answer is stored: one signal per request, not one
	// per register, keeps history small even for a request that reaches hundreds of registers.
	SignalRegistersAnswered = "registers-answered"
	// UpdateApproveReply is the office's decision to send the reply.
	UpdateApproveReply = "approve-reply"
	// QueryState returns the workflow's State.
	QueryState = "state"
	// UpdateExtendDeadline extends the deadline by up to two months, with reasons (Art 12(3)).
	UpdateExtendDeadline = "extend-deadline"
	// UpdateSendLiftNotice tells the subject that a restriction is about to be lifted (Art 18(3)).
	UpdateSendLiftNotice = "send-lift-notice"
	// UpdateLiftRestriction lifts a restriction, only after the lift notice was sent.
	UpdateLiftRestriction = "lift-restriction"
	// UpdateSupplyIdentifier adds an identifier the subject supplies (a phone number or an e-mail
	// address) so that registers waiting for it can be searched (Art 11(2), 12(6)).
	UpdateSupplyIdentifier = "supply-identifier"
	// UpdateWithdraw is the subject's withdrawal of the request before the reply.
	UpdateWithdraw = "withdraw"
	// UpdateVerifyIdentity is a clerk's confirmation of the identity of a subject whose request came by
	// post or at a service point (Art 12(6)); intake then goes on as for any request.
	UpdateVerifyIdentity = "verify-identity"
	// UpdateRefuseIdentity is a clerk's decision that the subject's identity cannot be established, with
	// the reasons told to the subject: the request closes without action (Art 12(2), 12(4)).
	UpdateRefuseIdentity = "refuse-identity"
)

// Channels a request arrives through. The portal's are web and api, behind strong electronic
// identification; the office registers requests received by post or at a service point, whose
// sender's identity is not yet verified.
const (
	ChannelWeb          = "web"
	ChannelAPI          = "api"
	ChannelMail         = "mail"
	ChannelServicePoint = "service_point"
)

// Identity levels of a subject registered by the office, besides the eIDAS levels that strong
// electronic identification reports (rules.IdentityLevel).
const (
	// IdentityUnverified: the subject is as the letter or the visitor stated; nobody has confirmed it.
	IdentityUnverified = "unverified"
	// IdentityVerified: a clerk confirmed the identity, in the way the case records (IdentityMethod).
	IdentityVerified = "verified"
)

// WorkflowID is the request id: the idempotency key everywhere, so a resubmitted request can never
// start a second workflow.
func WorkflowID(requestID string) string { return requestID }

// Status is where a request stands, as the office and the citizen see it.
type Status string

const (
	StatusReceived   Status = "received"
	StatusDispatched Status = "dispatched"
	StatusInReview   Status = "in_review"
	StatusReplied    Status = "replied"
	// A restriction request stays open after the reply: restricted, then the Art 18(3) notice, then lifted.
	StatusRestricted     Status = "restricted"
	StatusLiftNoticeSent Status = "lift_notice_sent"
	StatusLifted         Status = "lifted"
	// StatusAwaitingInformation: some registers could find the subject's data with an identifier the
	// subject has not given (Art 11(2), 12(6)); the subject has been asked for it.
	StatusAwaitingInformation Status = "awaiting_information"
	// StatusWithdrawn: the subject withdrew the request before the reply. The request is closed.
	StatusWithdrawn Status = "withdrawn"
	// StatusAwaitingIdentity: a request received by post or at a service point waits for a clerk to
	// confirm the subject's identity (Art 12(6)); nothing is planned or sent to a register until then.
	// The deadline runs from receipt all the same.
	StatusAwaitingIdentity Status = "awaiting_identity"
	// StatusIdentityNotVerified: the subject's identity could not be established, and the subject was
	// told why (Art 12(2), 12(4)). The request is closed.
	StatusIdentityNotVerified Status = "identity_not_verified"
)

// Open reports whether a request in this status has not been replied to or withdrawn: only then may
// the subject add information or withdraw it.
func (s Status) Open() bool {
	switch s {
	case StatusReceived, StatusDispatched, StatusInReview, StatusAwaitingInformation:
		return true
	}
	return false
}

// Input starts a request. It holds the subject's identifiers, which is why every payload is
// encrypted by the codec before it reaches the Temporal server.
type Input struct {
	RequestID  string                  `json:"request_id"`
	ReceivedAt time.Time               `json:"received_at"`
	Channel    string                  `json:"channel"` // web, api, mail or service_point: the clock starts on receipt through any channel
	Subject    Subject                 `json:"subject"`
	Request    contracts.SubmitRequest `json:"request"`
	// RegisteredBy is the clerk who registered a request received by post or at a service point.
	RegisteredBy string `json:"registered_by,omitempty"`
}

// Subject is the data subject as identified at sign-in.
type Subject struct {
	// ID is the identity provider's subject identifier.
	ID string `json:"id"`
	// IdentityMethod records how identity was verified (Art 12(6)), e.g. "oidc loa3".
	IdentityMethod string `json:"identity_method"`
	IdentityLevel  string `json:"identity_level"`
	Name           string `json:"name"`
	// Identifiers are the subject's verified identifiers plus those the subject supplied.
	Identifiers []contracts.Identifier `json:"identifiers"`
}

// Receipt is a request's statutory dates, recorded with its case.
type Receipt struct {
	Deadline       time.Time `json:"deadline"`
	InternalTarget time.Time `json:"internal_target"`
}

// IntakeResult is what taking a request in yields: its deadlines, the rules' decision for each
// register, and how many registers a task went to.
type IntakeResult struct {
	Deadline       time.Time      `json:"deadline"`
	InternalTarget time.Time      `json:"internal_target"`
	Plans          []RegisterPlan `json:"plans"`
	Dispatched     int            `json:"dispatched"`
}

// RegisterPlan is the rules engine's decision for one register and one right.
type RegisterPlan struct {
	RegisterID string              `json:"register_id"`
	Right      contracts.Right     `json:"right"`
	Operation  contracts.Operation `json:"operation"`
	Outcome    string              `json:"outcome"`
	Dispatch   bool                `json:"dispatch"`
	// Identifiers are the identifier types the rules name for the register: those it is sent when
	// the right applies, or those the subject could add while it cannot be searched.
	Identifiers []contracts.IdentifierType `json:"identifiers,omitempty"`
}

// Waits returns the identifier types the subject could supply so that the register can be searched:
// some, when the rules could not search it for want of an identifier (cannot_identify under Art
// 11(2), or waiting for an identifier it matches) and it matches one a subject may supply; none
// otherwise.
func (p RegisterPlan) Waits() []contracts.IdentifierType {
	return Suppliable(p.Outcome, p.Identifiers)
}

// SuppliableTypes are the identifier types a subject may add to a request. The personal identity
// code is never among them: it comes only from strong identification at sign-in.
var SuppliableTypes = []contracts.IdentifierType{contracts.IdentifierPhone, contracts.IdentifierEmail}

// Suppliable is, for a rules outcome code and its identifier types, the types a subject could add to
// have the register searched. A register waits for information when the rules stopped at the
// identifiability gate (cannot_identify, Art 11(2)) or asked for an identifier it can find data by
// (waiting_for_identity with identifiers); waiting for a stronger identification names none.
func Suppliable(code string, types []contracts.IdentifierType) []contracts.IdentifierType {
	if code != string(rules.CodeCannotIdentify) && code != string(rules.CodeWaitingForIdentity) {
		return nil
	}
	var out []contracts.IdentifierType
	for _, t := range types {
		if slices.Contains(SuppliableTypes, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// WaitingRegister is a register that could be searched if the subject supplied one of Identifiers.
type WaitingRegister struct {
	RegisterID  string                     `json:"register_id"`
	Identifiers []contracts.IdentifierType `json:"identifiers"`
}

// InformationRequest asks the subject for an identifier that would let more registers be searched.
type InformationRequest struct {
	RequestID string            `json:"request_id"`
	Registers []WaitingRegister `json:"registers"`
}

// Supply is the subject's addition of an identifier to the request. It is stored with the case as
// supplied by the subject and not verified.
type Supply struct {
	Identifier contracts.Identifier `json:"identifier"`
	// Channel is where it was supplied: "web" or "api".
	Channel string `json:"channel"`
}

// SupplyInput re-evaluates the given registers with a supplied identifier and dispatches to those
// the rules now reach.
type SupplyInput struct {
	RequestID  string               `json:"request_id"`
	Identifier contracts.Identifier `json:"identifier"`
	Channel    string               `json:"channel"`
	Registers  []string             `json:"registers"`
	// StillWaiting reports that other registers go on waiting for information, so the case stays
	// awaiting information; otherwise it is collecting answers again.
	StillWaiting bool `json:"still_waiting,omitempty"`
}

// SupplyResult is the rules' new decision for each register re-evaluated, and how many of them a
// task went to.
type SupplyResult struct {
	Plans      []RegisterPlan `json:"plans"`
	Dispatched int            `json:"dispatched"`
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
		if len(id.Value) > 254 || !emailPattern.MatchString(id.Value) {
			ve.Add("value", "email", "must be an e-mail address")
		}
	case contracts.IdentifierPersonalIdentityCode:
		ve.Add("type", "oneof", "a personal identity code comes only from identification at sign-in; add a phone number or an e-mail address")
	default:
		ve.Add("type", "oneof", "must be one of: phone, email")
	}
	if len(ve.Fields) == 0 {
		return nil
	}
	return ve
}

var (
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// Withdrawal is the subject's withdrawal of the request.
type Withdrawal struct {
	// Channel is where it was withdrawn: "web" or "api".
	Channel string `json:"channel"`
}

// WithdrawInput cancels a request's unanswered tasks and records the withdrawal.
type WithdrawInput struct {
	RequestID string `json:"request_id"`
	Channel   string `json:"channel"`
}

// WithdrawResult says what became of each register's task when the request was withdrawn.
type WithdrawResult struct {
	// Cancelled registers had not begun the task: it will never be carried out.
	Cancelled []string `json:"cancelled,omitempty"`
	// UnderWay registers had already begun (or finished) the task; their answer is recorded when it comes.
	UnderWay []string `json:"under_way,omitempty"`
	// Answered registers had answered before the withdrawal; an effect they applied stays applied.
	Answered []string `json:"answered,omitempty"`
}

// Answered is the signal that every dispatched register has answered.
type Answered struct {
	// Registers is how many of the request's awaited registers have answered. Registers dispatched
	// after an identifier was supplied make a request await answers again, so the workflow compares
	// it with the number it dispatched; zero, from a sender that does not count, means all.
	Registers int `json:"registers"`
}

// ReviewResult lists the registers that had not answered when collection ended.
type ReviewResult struct {
	Pending []string `json:"pending"`
}

// Approval is the office's decision to send the reply.
type Approval struct {
	// Clerk is the staff member who approves, as identified at sign-in.
	Clerk string `json:"clerk"`
	Note  string `json:"note,omitempty"`
}

// Extension is the office's decision to extend the deadline (Art 12(3)).
type Extension struct {
	Clerk string `json:"clerk"`
	// Reasons are told to the subject with the notice of the extension.
	Reasons string `json:"reasons"`
	// Months is how much longer: one or two.
	Months int `json:"months"`
}

// ExtendInput records an extension and tells the subject.
type ExtendInput struct {
	RequestID   string    `json:"request_id"`
	Extension   Extension `json:"extension"`
	NewDeadline time.Time `json:"new_deadline"`
}

// Alarm is a reminder to the office before the deadline falls due, or the escalation once it is missed.
type Alarm struct {
	RequestID string    `json:"request_id"`
	Kind      string    `json:"kind"` // AlarmReminder or AlarmEscalation
	Deadline  time.Time `json:"deadline"`
}

// Alarm kinds.
const (
	AlarmReminder   = "deadline_reminder"
	AlarmEscalation = "deadline_missed"
)

// LiftInput asks for the lift notice or the lift of a restriction.
type LiftInput struct {
	RequestID string `json:"request_id"`
	Clerk     string `json:"clerk"`
}

// ReplyInput sends the approved reply to the subject.
type ReplyInput struct {
	RequestID string   `json:"request_id"`
	Approval  Approval `json:"approval"`
}

// State is the workflow's own view of the request, for queries.
type State struct {
	Status    Status         `json:"status"`
	Deadline  time.Time      `json:"deadline"`
	Plans     []RegisterPlan `json:"plans"`
	Pending   []string       `json:"pending"`
	RepliedBy string         `json:"replied_by,omitempty"`
	// Extended reports that the deadline was extended once; it cannot be extended again.
	Extended bool `json:"extended,omitempty"`
	// Alarms are the reminders and escalations already raised.
	Alarms []string `json:"alarms,omitempty"`
	// Waiting are the registers that could be searched if the subject supplied an identifier.
	Waiting []WaitingRegister `json:"waiting,omitempty"`
	// Withdrawal is what became of the tasks when the subject withdrew the request.
	Withdrawal *WithdrawResult `json:"withdrawal,omitempty"`
	// IdentityMethod is how a clerk confirmed the identity of a subject registered unverified.
	IdentityMethod string `json:"identity_method,omitempty"`
}

// IdentityVerification is a clerk's confirmation of the subject's identity (Art 12(6)). Method says
// how, e.g. "passport checked at the service point"; the record keeps it, never a copy of a document.
type IdentityVerification struct {
	Clerk  string `json:"clerk"`
	Method string `json:"method"`
	Note   string `json:"note,omitempty"`
}

// IdentityRefusal is a clerk's decision that the subject's identity cannot be established. The
// reasons are told to the subject, with the right to complain (Art 12(2), 12(4)).
type IdentityRefusal struct {
	Clerk   string `json:"clerk"`
	Reasons string `json:"reasons"`
}

// VerifyIdentityInput records a verification with the case.
type VerifyIdentityInput struct {
	RequestID    string               `json:"request_id"`
	Verification IdentityVerification `json:"verification"`
}

// RefuseIdentityInput closes a case whose subject's identity could not be established.
type RefuseIdentityInput struct {
	RequestID string          `json:"request_id"`
	Refusal   IdentityRefusal `json:"refusal"`
}

// CheckVerification checks a clerk's verification of identity; nil if it may be recorded.
func CheckVerification(v IdentityVerification) error {
	switch {
	case strings.TrimSpace(v.Clerk) == "":
		return errors.New("identity: the verifying clerk is required")
	case strings.TrimSpace(v.Method) == "":
		return errors.New("identity: the method is required: say how the identity was confirmed (Art 12(6))")
	case len(v.Method) > 500:
		return errors.New("identity: the method may be at most 500 characters")
	case len(v.Note) > 2000:
		return errors.New("identity: the note may be at most 2000 characters")
	}
	return nil
}

// CheckRefusal checks a clerk's refusal; nil if it may be recorded.
func CheckRefusal(x IdentityRefusal) error {
	switch {
	case strings.TrimSpace(x.Clerk) == "":
		return errors.New("identity: the deciding clerk is required")
	case strings.TrimSpace(x.Reasons) == "":
		return errors.New("identity: reasons are required; the subject is told them (Art 12(2), 12(4))")
	case len(x.Reasons) > 2000:
		return errors.New("identity: reasons may be at most 2000 characters")
	}
	return nil
}

// Result is what a finished workflow returns.
type Result struct {
	Status    Status `json:"status"`
	RepliedBy string `json:"replied_by"`
}
