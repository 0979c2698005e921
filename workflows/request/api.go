// Package request is the workflow that carries one data subject request from receipt to reply: one
// workflow per request, whatever rights it invokes, with workflow id = request id.
package request

import (
	"time"

	"kirjaamo.dev/contracts"
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
)

// Input starts a request. It holds the subject's identifiers, which is why every payload is
// encrypted by the codec before it reaches the Temporal server.
type Input struct {
	RequestID  string                  `json:"request_id"`
	ReceivedAt time.Time               `json:"received_at"`
	Channel    string                  `json:"channel"` // "web" or "api": the clock starts on receipt through any channel
	Subject    Subject                 `json:"subject"`
	Request    contracts.SubmitRequest `json:"request"`
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
}

// Answered is the signal that every dispatched register has answered.
type Answered struct {
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
}

// Result is what a finished workflow returns.
type Result struct {
	Status    Status `json:"status"`
	RepliedBy string `json:"replied_by"`
}
