package request

import (
	"context"
	"fmt"
	"slices"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/rules/deadline"
)

// Cases is the case store as the activities need it. The services implement it over PostgreSQL.
type Cases interface {
	// Record stores a new case; recording the same request again changes nothing.
	Record(ctx context.Context, in Input, r Receipt) error
	// Load returns the request as it was received.
	Load(ctx context.Context, requestID string) (Input, error)
	// Prior lists the subject's earlier requests, for the Art 12(5) check.
	Prior(ctx context.Context, subjectID string, before time.Time) ([]rules.PriorRequest, error)
	// SavePlan stores the rules' decision per register; saving it again keeps the first.
	SavePlan(ctx context.Context, requestID string, plans []PlannedRegister) error
	// Planned returns the decisions with each register's answer, if any.
	Planned(ctx context.Context, requestID string) ([]PlannedRegister, error)
	MarkDispatched(ctx context.Context, requestID string, registerIDs []string) error
	// SaveReview stores the concluded outcomes and puts the case in review.
	SaveReview(ctx context.Context, requestID string, outcomes []rules.Outcome) error
	// Reply records the approval and queues the notice to the subject, in one transaction.
	Reply(ctx context.Context, requestID string, a Approval) error
}

// Catalogue gives the register declarations approved and in force at a moment.
type Catalogue interface {
	InForce(ctx context.Context, at time.Time) ([]Declared, error)
}

// Declared is a declaration version in force, with its digest for the record.
type Declared struct {
	Declaration contracts.Declaration
	Digest      string
}

// Tasks sends tasks to registers.
type Tasks interface {
	Publish(ctx context.Context, tasks []contracts.Task) error
}

// PlannedRegister is one register's part of a case: the rules' decision, the declaration version it
// rests on, and the register's answer once it came.
type PlannedRegister struct {
	Outcome    rules.Outcome     `json:"outcome"`
	Digest     string            `json:"digest"`
	Dispatched bool              `json:"dispatched"`
	Result     *contracts.Result `json:"result,omitempty"`
}

// Activities are the request workflow's side effects, each idempotent so that Temporal may retry it.
type Activities struct {
	Cases     Cases
	Catalogue Catalogue
	Tasks     Tasks
}

// RecordReceipt computes the statutory deadlines and stores the case.
func (a *Activities) RecordReceipt(ctx context.Context, in Input) (Receipt, error) {
	d := deadline.Compute(in.ReceivedAt)
	r := Receipt{Deadline: d.Legal, InternalTarget: d.InternalTarget}
	if err := a.Cases.Record(ctx, in, r); err != nil {
		return Receipt{}, fmt.Errorf("record receipt: %w", err)
	}
	return r, nil
}

// Plan evaluates each register's rules, as declared in the version in force when the request was
// received, and stores the decisions with the version each rests on.
func (a *Activities) Plan(ctx context.Context, pi PlanInput) ([]RegisterPlan, error) {
	in, err := a.Cases.Load(ctx, pi.RequestID)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	declared, err := a.Catalogue.InForce(ctx, in.ReceivedAt)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	prior, err := a.Cases.Prior(ctx, in.Subject.ID, in.ReceivedAt)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	req := RulesRequest(in, prior)
	planned := make([]PlannedRegister, 0, len(declared))
	plans := make([]RegisterPlan, 0, len(declared))
	for i := range declared {
		out, err := rules.Evaluate(req, &declared[i].Declaration)
		if err != nil {
			return nil, fmt.Errorf("plan: register %s: %w", declared[i].Declaration.RegisterID, err)
		}
		planned = append(planned, PlannedRegister{Outcome: out, Digest: declared[i].Digest})
		plans = append(plans, RegisterPlan{RegisterID: out.RegisterID, Right: out.Right, Operation: out.Operation,
			Outcome: string(out.Code), Dispatch: out.Dispatch})
	}
	if err := a.Cases.SavePlan(ctx, pi.RequestID, planned); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return plans, nil
}

// Dispatch sends one task to each register the plan reaches, carrying only the identifiers that
// register declares it matches.
func (a *Activities) Dispatch(ctx context.Context, di DispatchInput) error {
	in, err := a.Cases.Load(ctx, di.RequestID)
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	planned, err := a.Cases.Planned(ctx, di.RequestID)
	if err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	sendTo := map[string][]contracts.IdentifierType{}
	for _, p := range planned {
		sendTo[p.Outcome.RegisterID] = p.Outcome.Identifiers
	}
	tasks := make([]contracts.Task, 0, len(di.Plans))
	ids := make([]string, 0, len(di.Plans))
	for _, p := range di.Plans {
		var identifiers []contracts.Identifier
		for _, id := range in.Subject.Identifiers {
			if slices.Contains(sendTo[p.RegisterID], id.Type) {
				identifiers = append(identifiers, id)
			}
		}
		tasks = append(tasks, contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(di.RequestID, p.RegisterID),
			RequestID: di.RequestID, RegisterID: p.RegisterID, Operation: p.Operation, Right: p.Right, Identifiers: identifiers,
			Rectification: in.Request.Rectification, ReceivedAt: in.ReceivedAt, Deadline: di.Deadline})
		ids = append(ids, p.RegisterID)
	}
	if err := a.Tasks.Publish(ctx, tasks); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	if err := a.Cases.MarkDispatched(ctx, di.RequestID, ids); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}

// Review concludes each register's outcome from its answer (or its silence) and puts the case in
// front of the office.
func (a *Activities) Review(ctx context.Context, ri ReviewInput) error {
	planned, err := a.Cases.Planned(ctx, ri.RequestID)
	if err != nil {
		return fmt.Errorf("review: %w", err)
	}
	outcomes := make([]rules.Outcome, 0, len(planned))
	for _, p := range planned {
		outcomes = append(outcomes, Conclude(p))
	}
	if err := a.Cases.SaveReview(ctx, ri.RequestID, outcomes); err != nil {
		return fmt.Errorf("review: %w", err)
	}
	return nil
}

// Reply records the approved reply and queues the notice to the subject.
func (a *Activities) Reply(ctx context.Context, ri ReplyInput) error {
	if err := a.Cases.Reply(ctx, ri.RequestID, ri.Approval); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}

// Conclude is a register's outcome once collection has ended: the rules' decision where no task was
// sent, else the substance of the register's answer, or "pending" when it never answered.
func Conclude(p PlannedRegister) rules.Outcome {
	return rules.Conclude(p.Outcome, rules.Summarize(p.Result))
}

// RulesRequest is the rules engine's view of a request.
func RulesRequest(in Input, prior []rules.PriorRequest) rules.Request {
	supplied := make([]contracts.IdentifierType, 0, len(in.Subject.Identifiers))
	for _, id := range in.Subject.Identifiers {
		supplied = append(supplied, id.Type)
	}
	return rules.Request{Right: in.Request.Right, IdentityLevel: rules.IdentityLevel(in.Subject.IdentityLevel),
		Supplied: supplied, History: prior, ReceivedAt: in.ReceivedAt}
}
