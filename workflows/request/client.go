package request

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"kirjaamo.dev/contracts"
)

// Client is the one way the platform's services talk to a request's workflow: it starts it, carries
// each decision to it as a typed update, and tells callers apart what went wrong, so that no caller
// hand-rolls a Temporal call or reads an error's text.
type Client struct {
	temporal client.Client
}

// NewClient wraps a Temporal client that has the platform's encrypting converters (flow.Dial).
func NewClient(c client.Client) *Client { return &Client{temporal: c} }

// Errors a caller acts on. A refusal is a *RefusedError.
var (
	// ErrNotFound: no open workflow has this request id: it never existed, or its life is over.
	ErrNotFound = errors.New("request: no open request with this id")
	// ErrUnavailable: the workflow service did not answer; the same call may succeed later.
	ErrUnavailable = errors.New("request: the request service is not available; try again")
	// ErrNotDone: the workflow accepted the step but could not carry it out through all its retries
	// (a server it needs was down); the request is as it was, and the step may be tried again.
	ErrNotDone = errors.New("request: the step could not be carried out now; try again")
)

// RefusedError is the workflow's refusal of a step: the input is invalid (Fields, one per field), or
// the request is not in a state that takes the step (Reason).
type RefusedError struct {
	Reason string
	Fields []contracts.FieldError
}

func (e *RefusedError) Error() string {
	if len(e.Fields) > 0 {
		return (&contracts.ValidationError{Fields: e.Fields}).Error()
	}
	return "request: " + e.Reason
}

// AsRefused reports whether err is, or wraps, a refusal.
func AsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// refusedType marks a validator's refusal among the failures an update can end with.
const refusedType = "Refused"

// refuseInput is a validator's refusal of an invalid input, naming each field.
func refuseInput(ve *contracts.ValidationError) error {
	return temporal.NewApplicationError("invalid input", refusedType, ve.Fields)
}

// refuseTurn is a validator's refusal of a step the request does not take now.
func refuseTurn(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), refusedType)
}

// Start starts a request's workflow, once: the request id is the workflow id, so a request sent
// again (the same idempotency key, a retried form) finds the workflow already started and changes
// nothing. The receipt's dates are computed here, from ReceivedAt.
func (c *Client) Start(ctx context.Context, in Input) error {
	if !in.ReceivedAt.IsZero() && in.Receipt.Deadline.IsZero() {
		in.Receipt = ReceiptOf(in.ReceivedAt)
	}
	if ve := CheckInput(in); ve != nil {
		return &RefusedError{Fields: ve.Fields}
	}
	_, err := c.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       WorkflowID(in.RequestID),
		TaskQueue:                TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("request: start %s: %w", in.RequestID, classifyCall(err))
	}
	return nil
}

// State asks the workflow where the request stands.
func (c *Client) State(ctx context.Context, requestID string) (State, error) {
	var st State
	v, err := c.temporal.QueryWorkflow(ctx, WorkflowID(requestID), "", QueryState)
	if err == nil {
		err = v.Get(&st)
	}
	return st, classifyCall(err)
}

// RegistersAnswered tells the workflow how many of its awaited registers have answered.
func (c *Client) RegistersAnswered(ctx context.Context, requestID string, a Answered) error {
	return classifyCall(c.temporal.SignalWorkflow(ctx, WorkflowID(requestID), "", SignalRegistersAnswered, a))
}

// Approve sends the office's approval of the reply.
func (c *Client) Approve(ctx context.Context, requestID string, a Approval) (State, error) {
	a.Note, a.Purpose = contracts.NormalizeText(a.Note), contracts.NormalizeText(a.Purpose)
	return update(c, ctx, requestID, UpdateApproveReply, a, CheckApproval)
}

// Extend extends the deadline, with reasons told to the subject.
func (c *Client) Extend(ctx context.Context, requestID string, x Extension) (State, error) {
	x.Reasons, x.Purpose = contracts.NormalizeText(x.Reasons), contracts.NormalizeText(x.Purpose)
	return update(c, ctx, requestID, UpdateExtendDeadline, x, CheckExtension)
}

// Supply adds an identifier the subject confirmed with its one-time code.
func (c *Client) Supply(ctx context.Context, requestID string, s Supply) (State, error) {
	s.Identifier.Value = contracts.Normalize(s.Identifier.Type, s.Identifier.Value)
	return update(c, ctx, requestID, UpdateSupplyIdentifier, s, CheckSupply)
}

// Withdraw withdraws the request, for its subject.
func (c *Client) Withdraw(ctx context.Context, requestID string, w Withdrawal) (State, error) {
	return update(c, ctx, requestID, UpdateWithdraw, w, CheckWithdrawal)
}

// VerifyIdentity records a clerk's verification of a letter writer's identity.
func (c *Client) VerifyIdentity(ctx context.Context, requestID string, v IdentityVerification) (State, error) {
	v.Method, v.Note, v.Purpose = contracts.NormalizeText(v.Method), contracts.NormalizeText(v.Note), contracts.NormalizeText(v.Purpose)
	return update(c, ctx, requestID, UpdateVerifyIdentity, v, CheckVerification)
}

// RefuseIdentity closes a request whose subject's identity could not be established.
func (c *Client) RefuseIdentity(ctx context.Context, requestID string, x IdentityRefusal) (State, error) {
	x.Reasons, x.Purpose = contracts.NormalizeText(x.Reasons), contracts.NormalizeText(x.Purpose)
	return update(c, ctx, requestID, UpdateRefuseIdentity, x, CheckRefusal)
}

// SendLiftNotice tells the subject that the restriction is about to be lifted (Art 18(3)).
func (c *Client) SendLiftNotice(ctx context.Context, requestID string, l Lift) (State, error) {
	l.Purpose = contracts.NormalizeText(l.Purpose)
	return update(c, ctx, requestID, UpdateSendLiftNotice, l, CheckLift)
}

// Lift lifts a restriction, after its notice.
func (c *Client) Lift(ctx context.Context, requestID string, l Lift) (State, error) {
	l.Purpose = contracts.NormalizeText(l.Purpose)
	return update(c, ctx, requestID, UpdateLiftRestriction, l, CheckLift)
}

// Retry runs again the step of a request that needs attention.
func (c *Client) Retry(ctx context.Context, requestID string, r Retry) (State, error) {
	r.Purpose = contracts.NormalizeText(r.Purpose)
	return update(c, ctx, requestID, UpdateRetry, r, CheckRetry)
}

// update checks an input the way the update's validator will, then sends it and waits for the
// step to be done.
func update[T any](c *Client, ctx context.Context, requestID, name string, arg T, check func(T) *contracts.ValidationError) (State, error) {
	var st State
	if ve := check(arg); ve != nil {
		return st, &RefusedError{Fields: ve.Fields}
	}
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: WorkflowID(requestID), UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &st)
	}
	return st, classifyCall(err)
}

// classifyCall turns what Temporal answered into the client's errors.
func classifyCall(err error) error {
	if err == nil {
		return nil
	}
	var notFound *serviceerror.NotFound
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &notFound):
		return ErrNotFound
	case errors.As(err, &app) && app.Type() == refusedType:
		r := &RefusedError{}
		if app.HasDetails() {
			_ = app.Details(&r.Fields)
		}
		if len(r.Fields) == 0 {
			r.Reason = app.Message()
		}
		return r
	case errors.As(err, &app):
		// The update was accepted and its step failed; the failure itself stays in the history.
		return ErrNotDone
	case errors.As(err, &unavailable), errors.As(err, &deadline), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return ErrUnavailable
	}
	return fmt.Errorf("request: %w", err)
}

// Running reports whether the request's workflow has been started and is still running.
func (c *Client) Running(ctx context.Context, requestID string) (bool, error) {
	d, err := c.temporal.DescribeWorkflowExecution(ctx, WorkflowID(requestID), "")
	if err != nil {
		if err = classifyCall(err); errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}
