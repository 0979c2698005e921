// Package request is the workflow that carries one data subject request from receipt to reply: one
// workflow per request, whatever registers it reaches, with workflow id = request id. This file is
// its interface: the names clients and workers share, the ids, the inputs and the results. The
// statuses and their transitions are in status.go, the checks of every input in check.go, the typed
// client in client.go. The rules the workflow carries out are in docs/procedure.md.
package request

import (
	"slices"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/rules/deadline"
)

// Names that clients, workers and tests share.
const (
	WorkflowName = "DataSubjectRequest"
	TaskQueue    = "kirjaamo-requests"

	// QueryState returns the workflow's State.
	QueryState = "state"
	// SignalRegistersAnswered tells the workflow that every register it dispatched to has answered.
	// The result collector sends it once the last answer is stored: one signal per request, not one
	// per register, keeps history small even for a request that reaches hundreds of registers.
	SignalRegistersAnswered = "registers-answered"

	// The updates: each is checked by its validator (the Check function of its input, then whether
	// the request is in a status that takes it) before it is accepted.
	UpdateApproveReply     = "approve-reply"     // Approval: the office sends the reply
	UpdateExtendDeadline   = "extend-deadline"   // Extension: up to two more months, with reasons (Art 12(3))
	UpdateSupplyIdentifier = "supply-identifier" // Supply: an identifier that lets more registers be searched (Art 11(2))
	UpdateWithdraw         = "withdraw"          // Withdrawal: the subject withdraws the request before the reply
	UpdateVerifyIdentity   = "verify-identity"   // IdentityVerification: a clerk confirms a letter writer's identity (Art 12(6))
	UpdateRefuseIdentity   = "refuse-identity"   // IdentityRefusal: the identity cannot be established (Art 12(2), 12(4))
	UpdateSendLiftNotice   = "send-lift-notice"  // Lift: the subject is told a restriction will be lifted (Art 18(3))
	UpdateLiftRestriction  = "lift-restriction"  // Lift: the restriction is lifted, only after the notice
	UpdateRetry            = "retry"             // Retry: a clerk runs again a step that needs attention
)

// WorkflowID is the request id: the idempotency key everywhere, so a resubmitted request can never
// start a second workflow.
func WorkflowID(requestID string) string { return requestID }

// Channel is where a request arrived. The portal's are web and api, behind strong electronic
// identification; the office registers requests received by post or at a service point, whose
// sender's identity is not yet verified. The clock starts on receipt through any channel (Art 12(3)).
type Channel string

const (
	ChannelWeb          Channel = "web"
	ChannelAPI          Channel = "api"
	ChannelMail         Channel = "mail"
	ChannelServicePoint Channel = "service_point"
)

// Channels lists every channel.
var Channels = []Channel{ChannelWeb, ChannelAPI, ChannelMail, ChannelServicePoint}

// Valid reports whether c is one of Channels.
func (c Channel) Valid() bool { return slices.Contains(Channels, c) }

// ByStaff reports whether the office registered the request, from a letter or a visit.
func (c Channel) ByStaff() bool { return c == ChannelMail || c == ChannelServicePoint }

// Identity levels of a subject registered by the office, besides the eIDAS levels that strong
// electronic identification reports (rules.IdentityLevel).
const (
	// IdentityUnverified: the subject is as the letter or the visitor stated; nobody has confirmed it.
	IdentityUnverified = "unverified"
	// IdentityVerified: a clerk confirmed the identity, in the way the case records (IdentityMethod).
	IdentityVerified = "verified"
)

// Input starts a request. It holds the subject's identifiers, which is why every payload is
// encrypted by the codec before it reaches the Temporal server.
type Input struct {
	RequestID  string                  `json:"request_id"`
	ReceivedAt time.Time               `json:"received_at"`
	Channel    Channel                 `json:"channel"`
	Subject    Subject                 `json:"subject"`
	Request    contracts.SubmitRequest `json:"request"`
	// Receipt is the request's statutory dates, computed once from ReceivedAt when the request is
	// started (Client.Start), so that a change to the holiday calendar never changes a running
	// workflow's timers on replay.
	Receipt Receipt `json:"receipt"`
	// RegisteredBy is the clerk who registered a request received by post or at a service point.
	RegisteredBy string `json:"registered_by,omitempty"`
	// Requester is the organisation that sent the request on the subject's behalf through the API, an
	// OpenDSR controller, as the office names it; empty when the subject sent it.
	Requester string `json:"requester,omitempty"`
	// Restricted continues a replied restriction after ContinueAsNew: the request's own run ended
	// with the reply, and a short one waits for the restriction to be lifted.
	Restricted *Restriction `json:"restricted,omitempty"`
}

// Subject is the data subject as identified at sign-in, or as a clerk registered them.
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

// Receipt is a request's statutory dates (docs/procedure.md#deadline).
type Receipt struct {
	Deadline       time.Time `json:"deadline"`
	InternalTarget time.Time `json:"internal_target"`
	// DecideExtensionBy is the last day an extension may be decided: within the first month.
	DecideExtensionBy time.Time `json:"decide_extension_by"`
}

// ReceiptOf computes the statutory dates of a request received at t.
func ReceiptOf(t time.Time) Receipt {
	d := deadline.Compute(t)
	return Receipt{Deadline: d.Legal, InternalTarget: d.InternalTarget, DecideExtensionBy: d.ExtensionDecisionBy}
}

// ExtendedDeadline is the deadline after an extension by months (one or two) more than the first
// month, moved past weekends and holidays like the first.
func ExtendedDeadline(received time.Time, months int) time.Time {
	d := deadline.AddMonths(deadline.Date(received), 1+months)
	for !deadline.IsWorkingDay(d) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// Restriction is what a replied restriction's own run needs.
type Restriction struct {
	RepliedBy string `json:"replied_by"`
	// Status is where the restriction stands: restricted, or lift_notice_sent.
	Status Status `json:"status"`
}

// IntakeResult is the rules' decision for each register, and how many registers a task went to.
type IntakeResult struct {
	Plans      []RegisterPlan `json:"plans"`
	Dispatched int            `json:"dispatched"`
}

// RegisterPlan is the rules engine's decision for one register and one right.
type RegisterPlan struct {
	RegisterID string              `json:"register_id"`
	Right      contracts.Right     `json:"right"`
	Operation  contracts.Operation `json:"operation"`
	Outcome    rules.OutcomeCode   `json:"outcome"`
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
func Suppliable(code rules.OutcomeCode, types []contracts.IdentifierType) []contracts.IdentifierType {
	if code != rules.CodeCannotIdentify && code != rules.CodeWaitingForIdentity {
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

// Waiting lists, of a case's registers, those that could be searched if the subject supplied an
// identifier, with the types each would accept: those no task went to whose plan stopped for want
// of an identifier. A request the subject may no longer act on waits for nothing.
func Waiting(status Status, planned []PlannedRegister) []WaitingRegister {
	if !status.SubjectMayAct() {
		return nil
	}
	var out []WaitingRegister
	for _, p := range planned {
		if p.Dispatched {
			continue
		}
		if types := Suppliable(p.Outcome.Code, p.Outcome.Identifiers); len(types) > 0 {
			out = append(out, WaitingRegister{RegisterID: p.Outcome.RegisterID, Identifiers: types})
		}
	}
	return out
}

// InformationRequest asks the subject for an identifier that would let more registers be searched.
type InformationRequest struct {
	RequestID string            `json:"request_id"`
	Registers []WaitingRegister `json:"registers"`
}

// Supply is the subject's addition of an identifier to the request, confirmed by the one-time code
// sent to it before the portal hands it over.
type Supply struct {
	Identifier contracts.Identifier `json:"identifier"`
	// Channel is where it was supplied: web or api.
	Channel Channel `json:"channel"`
}

// SupplyInput re-evaluates the given registers with a supplied identifier and dispatches to those
// the rules now reach.
type SupplyInput struct {
	RequestID  string               `json:"request_id"`
	Identifier contracts.Identifier `json:"identifier"`
	Channel    Channel              `json:"channel"`
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

// Withdrawal is the subject's withdrawal of the request.
type Withdrawal struct {
	// Channel is where it was withdrawn: web or api.
	Channel Channel `json:"channel"`
}

// WithdrawInput cancels a request's unanswered tasks and records the withdrawal.
type WithdrawInput struct {
	RequestID string  `json:"request_id"`
	Channel   Channel `json:"channel"`
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
	// it with the number it dispatched.
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
	// Purpose is why the clerk acts, as stated when the case was opened; the record keeps it with
	// the decision. Every decision's input has one.
	Purpose string `json:"purpose,omitempty"`
}

// ReplyInput sends the approved reply to the subject.
type ReplyInput struct {
	RequestID string   `json:"request_id"`
	Approval  Approval `json:"approval"`
}

// Extension is the office's decision to extend the deadline (Art 12(3)).
type Extension struct {
	Clerk   string `json:"clerk"`
	Purpose string `json:"purpose,omitempty"`
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

// AlarmKind is what an alarm to the office says.
type AlarmKind string

const (
	// AlarmReminder: the deadline is near (a week, then a day, before it).
	AlarmReminder AlarmKind = "deadline_reminder"
	// AlarmEscalation: the deadline passed without a reply.
	AlarmEscalation AlarmKind = "deadline_missed"
)

// Alarm is a reminder to the office before the deadline falls due, or the escalation once it is missed.
type Alarm struct {
	RequestID string    `json:"request_id"`
	Kind      AlarmKind `json:"kind"`
	Deadline  time.Time `json:"deadline"`
}

// Lift is a clerk's step towards lifting a restriction: the notice, then the lift.
type Lift struct {
	Clerk   string `json:"clerk"`
	Purpose string `json:"purpose,omitempty"`
}

// LiftInput asks for the lift notice or the lift of a restriction.
type LiftInput struct {
	RequestID string `json:"request_id"`
	Clerk     string `json:"clerk"`
	Purpose   string `json:"purpose,omitempty"`
}

// IdentityVerification is a clerk's confirmation of the subject's identity (Art 12(6)). Method says
// how, e.g. "passport checked at the service point"; the record keeps it, never a copy of a document.
type IdentityVerification struct {
	Clerk   string `json:"clerk"`
	Method  string `json:"method"`
	Note    string `json:"note,omitempty"`
	Purpose string `json:"purpose,omitempty"`
}

// IdentityRefusal is a clerk's decision that the subject's identity cannot be established. The
// reasons are told to the subject, with the right to complain (Art 12(2), 12(4)).
type IdentityRefusal struct {
	Clerk   string `json:"clerk"`
	Reasons string `json:"reasons"`
	Purpose string `json:"purpose,omitempty"`
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

// Step is a step of a request's main line that can fail for good and then needs attention.
type Step string

const (
	StepRecordReceipt     Step = "record_receipt"
	StepIntake            Step = "intake"
	StepAskForInformation Step = "ask_for_information"
	StepReview            Step = "review"
)

// Steps lists every step that can need attention.
var Steps = []Step{StepRecordReceipt, StepIntake, StepAskForInformation, StepReview}

// Trouble is what kind of failure stopped a step, in words that carry nothing of the request's
// data: the office sees it, and so does the workflow's history.
type Trouble string

const (
	// TroubleRefused: the store refused the data (a data exception or a constraint violation), or
	// the input was invalid. Retrying the same step cannot help until someone fixes the cause.
	TroubleRefused Trouble = "refused"
	// TroubleUnavailable: a server the step needs did not answer through all its retries.
	TroubleUnavailable Trouble = "unavailable"
)

// Attention is a step of the request that failed for good: the request waits, its deadline alarms
// still running, until a clerk retries the step after a fix, or, for a server that was unavailable,
// until the step is tried again on its own an hour later.
type Attention struct {
	Step    Step      `json:"step"`
	Trouble Trouble   `json:"trouble"`
	Since   time.Time `json:"since"`
}

// AttentionInput records that a request needs attention, or (Attention nil) that it no longer does.
type AttentionInput struct {
	RequestID string     `json:"request_id"`
	Attention *Attention `json:"attention,omitempty"`
	// RetriedBy is the clerk who retried the step, if a clerk did, and Purpose why.
	RetriedBy string `json:"retried_by,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
}

// Retry is a clerk's retry of a step that needs attention.
type Retry struct {
	Clerk   string `json:"clerk"`
	Purpose string `json:"purpose,omitempty"`
}

// State is the workflow's own view of the request, for queries and as every update's answer.
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
	// Attention is the step that failed for good, while the request waits for it to be retried.
	Attention *Attention `json:"attention,omitempty"`
}

// Result is what a finished workflow returns.
type Result struct {
	Status    Status `json:"status"`
	RepliedBy string `json:"replied_by"`
}
