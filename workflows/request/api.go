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

	// SignalRegisterResult carries a register's answer, sent by the orchestrator's result collector.
	SignalRegisterResult = "register-result"
	// UpdateApproveReply is the office's decision to send the reply.
	UpdateApproveReply = "approve-reply"
	// QueryState returns the workflow's State.
	QueryState = "state"
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

// Receipt is what recording a request yields: its legal deadlines.
type Receipt struct {
	Deadline       time.Time `json:"deadline"`
	InternalTarget time.Time `json:"internal_target"`
}

// PlanInput asks which registers a request reaches and with what outcome before dispatch.
type PlanInput struct {
	RequestID string `json:"request_id"`
}

// RegisterPlan is the rules engine's decision for one register and one right.
type RegisterPlan struct {
	RegisterID string              `json:"register_id"`
	Right      contracts.Right     `json:"right"`
	Operation  contracts.Operation `json:"operation"`
	Outcome    string              `json:"outcome"`
	Dispatch   bool                `json:"dispatch"`
}

// DispatchInput sends tasks to the registers whose plan says so.
type DispatchInput struct {
	RequestID string         `json:"request_id"`
	Plans     []RegisterPlan `json:"plans"`
	Deadline  time.Time      `json:"deadline"`
}

// RegisterResult is a register's answer as the workflow sees it: a summary, since the records
// themselves stay in the case store and never enter workflow history.
type RegisterResult struct {
	RegisterID string                 `json:"register_id"`
	Status     contracts.ResultStatus `json:"status"`
	Records    int                    `json:"records"`
	Affected   int                    `json:"affected"`
	ErrorCode  contracts.ErrorCode    `json:"error_code,omitempty"`
}

// ReviewInput closes the collection and records each register's concluded outcome for the office.
type ReviewInput struct {
	RequestID string   `json:"request_id"`
	Pending   []string `json:"pending"` // registers that had not answered when collection ended
}

// Approval is the office's decision to send the reply.
type Approval struct {
	// Clerk is the staff member who approves, as identified at sign-in.
	Clerk string `json:"clerk"`
	Note  string `json:"note,omitempty"`
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
	Answered  []string       `json:"answered"`
	Pending   []string       `json:"pending"`
	RepliedBy string         `json:"replied_by,omitempty"`
}

// Result is what a finished workflow returns.
type Result struct {
	Status    Status `json:"status"`
	RepliedBy string `json:"replied_by"`
}
