package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

// Cases is the case store as the activities need it. The services implement it over PostgreSQL.
type Cases interface {
	// Record stores a new case with its receipt; recording the same request again changes nothing.
	Record(ctx context.Context, in Input) error
	// Load returns the request as it was received.
	Load(ctx context.Context, requestID string) (Input, error)
	// Prior lists the subject's earlier requests, for the Art 12(5) check.
	// The same person is the same subject id, or the same personal identity code, so that a letter
	// the office registered and requests made in the portal count together.
	Prior(ctx context.Context, subject Subject, before time.Time) ([]rules.PriorRequest, error)
	// SavePlan stores the rules' decision per register, marking the registers a task goes to as
	// awaited; saving it again keeps the first.
	SavePlan(ctx context.Context, requestID string, plans []PlannedRegister) error
	// Planned returns the stored decisions with each register's answer, if any; none if no plan
	// was stored yet.
	Planned(ctx context.Context, requestID string) ([]PlannedRegister, error)
	MarkDispatched(ctx context.Context, requestID string, registerIDs []string) error
	// SaveReview stores the concluded outcomes and puts the case in review.
	SaveReview(ctx context.Context, requestID string, outcomes []rules.Outcome) error
	// Reply records the approval, queues the notice to the subject and logs each Art 19 notice to a
	// recipient, in one transaction.
	Reply(ctx context.Context, requestID string, a Approval, art19 []RecipientNotice) error
	// Extend records an extension with its reasons and queues the notice of it to the subject.
	Extend(ctx context.Context, x ExtendInput) error
	// Raise records a deadline alarm and queues it to the office.
	Raise(ctx context.Context, a Alarm) error
	// LiftNotice records and queues the Art 18(3) notice to the subject.
	LiftNotice(ctx context.Context, l LiftInput) error
	// Lifted records that a restriction was lifted at the given registers.
	Lifted(ctx context.Context, l LiftInput, registerIDs []string) error
	// AskForInformation puts the case in awaiting_information, records which registers wait for
	// which identifier types, and queues the notice asking the subject for one; asking again for
	// the same request changes nothing.
	AskForInformation(ctx context.Context, r InformationRequest) error
	// Supplied stores an identifier with the case as supplied by the subject and not verified, and
	// records it (its type, never its value); supplying the same one again changes nothing.
	Supplied(ctx context.Context, requestID string, id contracts.Identifier, channel Channel) error
	// Replan replaces the rules' decision for registers no task has gone to yet, marking those a
	// task goes to as awaited, and sets the case's status (awaiting_information or dispatched).
	Replan(ctx context.Context, requestID string, plans []PlannedRegister, status Status) error
	// Withdrawn records the withdrawal and what became of each task, closes the case as withdrawn
	// and queues the notice to the subject, in one transaction.
	Withdrawn(ctx context.Context, in WithdrawInput, res WithdrawResult) error
	// IdentityVerified records a clerk's verification of the subject's identity with the case (level
	// verified, the method, by whom, when) and puts it back to received for intake; recording it
	// again changes nothing.
	IdentityVerified(ctx context.Context, in VerifyIdentityInput) error
	// IdentityRefused closes the case as identity_not_verified with the reasons, and queues the notice
	// of them to the subject's contact address if there is one, in one transaction; recording it
	// again changes nothing.
	IdentityRefused(ctx context.Context, in RefuseIdentityInput) error
	// Attention records with the case that a step needs attention, or (in.Attention nil) that it no
	// longer does, and who retried it.
	Attention(ctx context.Context, in AttentionInput) error
}

// ErrPermanent marks an error that retrying cannot fix: the store refused the data (a data exception
// or a constraint violation), or an input is invalid. A port wraps it (fmt.Errorf("...: %w: %w",
// request.ErrPermanent, err)) where it classifies its own errors; the activity then fails at once,
// non-retryable, and the request needs attention instead of retrying a step that cannot succeed.
var ErrPermanent = errors.New("permanent")

// permanentType names a non-retryable activity failure.
const permanentType = "Permanent"

// classify is every activity's error at its boundary: a permanent one, or an invalid input, fails
// the activity non-retryably; anything else may succeed when retried. The message keeps the
// error's operation but none of its data, which go no further than the activity's own log.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, invalid := contracts.AsValidationError(err); invalid || errors.Is(err, ErrPermanent) {
		return temporal.NewNonRetryableApplicationError(op+": refused; retrying cannot help", permanentType, nil)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// keepAlive heartbeats while an activity runs, so that a worker that dies mid-step is noticed
// within the heartbeat timeout, not after the whole start-to-close time. It returns the stop.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// RecipientNotice is one Art 19 notice: a recipient of a register's data told of the rectification,
// erasure or restriction.
type RecipientNotice struct {
	RegisterID string `json:"register_id"`
	Recipient  string `json:"recipient"`
}

// Catalogue gives the register declarations approved and in force at a moment.
type Catalogue interface {
	InForce(ctx context.Context, at time.Time) ([]Declared, error)
	// Version returns one version of a register's declaration by its digest.
	Version(ctx context.Context, registerID, digest string) (contracts.Declaration, error)
}

// Declared is a declaration version in force, with its digest for the record.
type Declared struct {
	Declaration contracts.Declaration
	Digest      string
}

// CaseKeys holds each request's key pair for packages. PublicKey returns the request's public key
// (standard base64), making the pair on first use; the private key never leaves the platform.
type CaseKeys interface {
	PublicKey(ctx context.Context, requestID string) (string, error)
}

// Tasks sends tasks to registers.
type Tasks interface {
	Publish(ctx context.Context, tasks []contracts.Task) error
}

// Canceller cancels a task through the register's effect record (contracts/PROTOCOL.md, "The effect
// record, claims and cancellation"). Cancelling the same task again gives the same answer.
type Canceller interface {
	Cancel(ctx context.Context, registerID, taskID string) (CancelState, error)
}

// CancelState is what became of a task the platform tried to cancel.
type CancelState string

const (
	// CancelDone: the cancellation was recorded before any instance claimed the task; it will
	// never be carried out.
	CancelDone CancelState = "cancelled"
	// CancelUnderWay: an instance had claimed the task (or there is no effect record to write the
	// cancellation to); its answer comes as usual.
	CancelUnderWay CancelState = "under_way"
	// CancelFinished: the effect record already holds the task's result.
	CancelFinished CancelState = "finished"
)

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
	// Keys, if set, lets lookups deliver large results as packages sealed to the request's key;
	// without it every record must travel inline.
	Keys CaseKeys
	// Cancel cancels the tasks of a withdrawn request.
	Cancel Canceller
}

// Intake takes a request in: it stores the case with its statutory deadlines, evaluates each
// register's rules as declared in the version in force when the request was received, and sends one
// task to each register the rules reach, carrying only the identifiers that register matches. Every
// step is idempotent, so a retry after a crash at any point finishes the job and repeats nothing:
// the case is stored once, the first plan stands, and a re-published task is dropped by its id.
func (a *Activities) Intake(ctx context.Context, in Input) (IntakeResult, error) {
	defer keepAlive(ctx)()
	res, err := a.intake(ctx, in)
	return res, classify("intake", err)
}

func (a *Activities) intake(ctx context.Context, in Input) (IntakeResult, error) {
	var res IntakeResult
	if err := a.Cases.Record(ctx, in); err != nil {
		return res, err
	}
	planned, err := a.plan(ctx, in)
	if err != nil {
		return res, err
	}
	outcomes := make([]rules.Outcome, 0, len(planned))
	for _, p := range planned {
		res.Plans = append(res.Plans, planOf(p.Outcome))
		outcomes = append(outcomes, p.Outcome)
	}
	res.Dispatched, err = a.dispatch(ctx, in, outcomes)
	return res, err
}

// RecordReceipt stores a new case with its statutory deadlines and nothing more: a request whose
// subject's identity is not verified waits for a clerk (awaiting_identity) before any rule is
// evaluated or any register is sent a task. Intake, which records the case first, then changes
// nothing of it.
func (a *Activities) RecordReceipt(ctx context.Context, in Input) error {
	defer keepAlive(ctx)()
	return classify("record receipt", a.Cases.Record(ctx, in))
}

// VerifyIdentity records a clerk's verification of the subject's identity.
func (a *Activities) VerifyIdentity(ctx context.Context, in VerifyIdentityInput) error {
	defer keepAlive(ctx)()
	if ve := CheckVerification(in.Verification); ve != nil {
		return classify("verify identity", ve)
	}
	return classify("verify identity", a.Cases.IdentityVerified(ctx, in))
}

// RefuseIdentity closes the case because the subject's identity could not be established, and tells
// the subject why.
func (a *Activities) RefuseIdentity(ctx context.Context, in RefuseIdentityInput) error {
	defer keepAlive(ctx)()
	if ve := CheckRefusal(in.Refusal); ve != nil {
		return classify("refuse identity", ve)
	}
	return classify("refuse identity", a.Cases.IdentityRefused(ctx, in))
}

// RecordAttention records that a step of the request needs attention, or that it no longer does.
func (a *Activities) RecordAttention(ctx context.Context, in AttentionInput) error {
	defer keepAlive(ctx)()
	return classify("record attention", a.Cases.Attention(ctx, in))
}

// planOf is the workflow's view of a rules outcome.
func planOf(o rules.Outcome) RegisterPlan {
	return RegisterPlan{RegisterID: o.RegisterID, Right: o.Right, Operation: o.Operation, Outcome: o.Code,
		Dispatch: o.Dispatch, Identifiers: o.Identifiers}
}

// dispatch sends one task for each outcome that dispatches, carrying only the identifiers that
// register matches, and marks those registers dispatched; a lookup carries the package target
// sealed to the request's key, if the platform has keys. It returns how many tasks went out.
func (a *Activities) dispatch(ctx context.Context, in Input, outcomes []rules.Outcome) (int, error) {
	var tasks []contracts.Task
	var to []string
	var target *contracts.PackageTarget
	for _, o := range outcomes {
		if !o.Dispatch {
			continue
		}
		task := a.task(in, o.RegisterID, o.Operation, o.Identifiers, contracts.TaskID(in.RequestID, o.RegisterID))
		task.Right, task.Rectification = o.Right, in.Request.Rectification
		if o.Operation == contracts.OpLookup && a.Keys != nil {
			if target == nil {
				key, err := a.Keys.PublicKey(ctx, in.RequestID)
				if err != nil {
					return 0, fmt.Errorf("case key: %w", err)
				}
				target = &contracts.PackageTarget{Key: key, InlineLimit: contracts.DefaultInlineLimit}
			}
			task.Package = target
		}
		tasks = append(tasks, task)
		to = append(to, o.RegisterID)
	}
	if len(tasks) == 0 {
		return 0, nil
	}
	if err := a.Tasks.Publish(ctx, tasks); err != nil {
		return 0, err
	}
	if err := a.Cases.MarkDispatched(ctx, in.RequestID, to); err != nil {
		return 0, err
	}
	return len(tasks), nil
}

// task is a register's task for the request, with only the identifiers the register matches.
func (a *Activities) task(in Input, registerID string, op contracts.Operation, matches []contracts.IdentifierType, taskID string) contracts.Task {
	var identifiers []contracts.Identifier
	for _, id := range in.Subject.Identifiers {
		if slices.Contains(matches, id.Type) {
			identifiers = append(identifiers, id)
		}
	}
	return contracts.Task{Protocol: contracts.TaskProtocol, TaskID: taskID, RequestID: in.RequestID, RegisterID: registerID,
		Operation: op, Right: in.Request.Right, Identifiers: identifiers, ReceivedAt: in.ReceivedAt, Deadline: in.Receipt.Deadline}
}

// plan returns the stored plan of a request, or makes and stores it: the rules are evaluated once.
func (a *Activities) plan(ctx context.Context, in Input) ([]PlannedRegister, error) {
	if stored, err := a.Cases.Planned(ctx, in.RequestID); err != nil || len(stored) > 0 {
		return stored, err
	}
	declared, err := a.Catalogue.InForce(ctx, in.ReceivedAt)
	if err != nil {
		return nil, err
	}
	prior, err := a.Cases.Prior(ctx, in.Subject, in.ReceivedAt)
	if err != nil {
		return nil, err
	}
	req := RulesRequest(in, prior)
	planned := make([]PlannedRegister, 0, len(declared))
	for i := range declared {
		out, err := rules.Evaluate(req, &declared[i].Declaration)
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", declared[i].Declaration.RegisterID, err)
		}
		planned = append(planned, PlannedRegister{Outcome: out, Digest: declared[i].Digest})
	}
	if err := a.Cases.SavePlan(ctx, in.RequestID, planned); err != nil {
		return nil, err
	}
	// Read back what was stored: if another attempt stored a plan first, that plan stands.
	return a.Cases.Planned(ctx, in.RequestID)
}

// Review concludes each register's outcome from its answer (or its silence), puts the case in front
// of the office, and names the registers that had not answered.
func (a *Activities) Review(ctx context.Context, requestID string) (ReviewResult, error) {
	defer keepAlive(ctx)()
	planned, err := a.Cases.Planned(ctx, requestID)
	if err != nil {
		return ReviewResult{}, classify("review", err)
	}
	var res ReviewResult
	outcomes := make([]rules.Outcome, 0, len(planned))
	for _, p := range planned {
		o := Conclude(p)
		if o.Code == rules.CodePending {
			res.Pending = append(res.Pending, o.RegisterID)
		}
		outcomes = append(outcomes, o)
	}
	return res, classify("review", a.Cases.SaveReview(ctx, requestID, outcomes))
}

// Reply records the approved reply, queues the notice to the subject, and logs an Art 19 notice to
// each recipient of each register whose data the request changed.
func (a *Activities) Reply(ctx context.Context, ri ReplyInput) error {
	defer keepAlive(ctx)()
	if ve := CheckApproval(ri.Approval); ve != nil {
		return classify("reply", ve)
	}
	planned, err := a.Cases.Planned(ctx, ri.RequestID)
	if err != nil {
		return classify("reply", err)
	}
	var notices []RecipientNotice
	for _, p := range planned {
		o := Conclude(p)
		for _, f := range o.FollowUps {
			if f.Kind != rules.FollowUpNotifyRecipients {
				continue
			}
			seen := map[string]bool{}
			for _, r := range f.Recipients {
				if !seen[r.EN] {
					seen[r.EN] = true
					notices = append(notices, RecipientNotice{RegisterID: o.RegisterID, Recipient: r.EN})
				}
			}
			if p.Result != nil {
				for _, r := range p.Result.Recipients {
					if !seen[r] {
						seen[r] = true
						notices = append(notices, RecipientNotice{RegisterID: o.RegisterID, Recipient: r})
					}
				}
			}
		}
	}
	return classify("reply", a.Cases.Reply(ctx, ri.RequestID, ri.Approval, notices))
}

// Extend records an extension of the deadline and tells the subject, with the reasons.
func (a *Activities) Extend(ctx context.Context, x ExtendInput) error {
	defer keepAlive(ctx)()
	if ve := CheckExtension(x.Extension); ve != nil {
		return classify("extend", ve)
	}
	return classify("extend", a.Cases.Extend(ctx, x))
}

// Raise records a deadline alarm and tells the office.
func (a *Activities) Raise(ctx context.Context, al Alarm) error {
	defer keepAlive(ctx)()
	return classify("raise "+string(al.Kind), a.Cases.Raise(ctx, al))
}

// SendLiftNotice tells the subject that the restriction is about to be lifted (Art 18(3)).
func (a *Activities) SendLiftNotice(ctx context.Context, l LiftInput) error {
	defer keepAlive(ctx)()
	return classify("lift notice", a.Cases.LiftNotice(ctx, l))
}

// Lift sends a lift_restriction task to each register that restricted the subject's data, with a
// follow-up task id of its own so that neither the stream nor the adapter takes it for the first.
func (a *Activities) Lift(ctx context.Context, l LiftInput) error {
	defer keepAlive(ctx)()
	return classify("lift", a.lift(ctx, l))
}

func (a *Activities) lift(ctx context.Context, l LiftInput) error {
	in, err := a.Cases.Load(ctx, l.RequestID)
	if err != nil {
		return err
	}
	planned, err := a.Cases.Planned(ctx, l.RequestID)
	if err != nil {
		return err
	}
	var tasks []contracts.Task
	var ids []string
	for _, p := range planned {
		if p.Result == nil || p.Result.Status != contracts.StatusApplied {
			continue
		}
		o := p.Outcome
		task := a.task(in, o.RegisterID, contracts.OpLiftRestriction, o.Identifiers,
			contracts.FollowUpTaskID(l.RequestID, o.RegisterID, contracts.OpLiftRestriction))
		tasks = append(tasks, task)
		ids = append(ids, o.RegisterID)
	}
	if len(tasks) > 0 {
		if err := a.Tasks.Publish(ctx, tasks); err != nil {
			return err
		}
	}
	return a.Cases.Lifted(ctx, l, ids)
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
	return rules.Request{Right: in.Request.Right, IdentityLevel: RulesIdentityLevel(in.Subject.IdentityLevel),
		Supplied: supplied, History: prior, ReceivedAt: in.ReceivedAt}
}

// RulesIdentityLevel is the rules' view of a subject's identity level. A subject registered by the
// office is unverified (no level) until a clerk confirms the identity in person or from documents
// (Art 12(6)), which counts as substantial: what strong electronic identification gives, and what
// registers keyed on the personal identity code call for.
func RulesIdentityLevel(level string) rules.IdentityLevel {
	switch level {
	case IdentityUnverified:
		return rules.IdentityNone
	case IdentityVerified:
		return rules.IdentitySubstantial
	}
	return rules.IdentityLevel(level)
}

// AskForInformation tells the subject that an identifier they have not given would let more
// registers be searched, and puts the case in awaiting_information.
func (a *Activities) AskForInformation(ctx context.Context, r InformationRequest) error {
	defer keepAlive(ctx)()
	return classify("ask for information", a.Cases.AskForInformation(ctx, r))
}

// SupplyIdentifier stores an identifier the subject supplied, re-evaluates the registers that were
// waiting for it under the declaration versions their case records, and dispatches a task to each
// register the rules now reach, built as Intake builds its tasks. Those registers never had a task,
// so their task ids are free. Each step is idempotent: the identifier is stored once, a register
// already dispatched keeps its plan, and a re-published task is dropped by its id.
func (a *Activities) SupplyIdentifier(ctx context.Context, s SupplyInput) (SupplyResult, error) {
	defer keepAlive(ctx)()
	if ve := CheckSupplied(s.Identifier); ve != nil {
		return SupplyResult{}, classify("supply", ve)
	}
	res, err := a.supplyIdentifier(ctx, s)
	return res, classify("supply", err)
}

func (a *Activities) supplyIdentifier(ctx context.Context, s SupplyInput) (SupplyResult, error) {
	var res SupplyResult
	if err := a.Cases.Supplied(ctx, s.RequestID, s.Identifier, s.Channel); err != nil {
		return res, err
	}
	in, err := a.Cases.Load(ctx, s.RequestID)
	if err != nil {
		return res, err
	}
	planned, err := a.Cases.Planned(ctx, s.RequestID)
	if err != nil {
		return res, err
	}
	prior, err := a.Cases.Prior(ctx, in.Subject, in.ReceivedAt)
	if err != nil {
		return res, err
	}
	req := RulesRequest(in, prior)
	var replanned []PlannedRegister
	var outcomes []rules.Outcome
	for _, p := range planned {
		if !slices.Contains(s.Registers, p.Outcome.RegisterID) {
			continue
		}
		if p.Dispatched {
			// Dispatched by an earlier attempt of this activity, on the plan that attempt stored.
			outcomes = append(outcomes, p.Outcome)
			continue
		}
		decl, err := a.Catalogue.Version(ctx, p.Outcome.RegisterID, p.Digest)
		if err != nil {
			return res, fmt.Errorf("register %s: %w", p.Outcome.RegisterID, err)
		}
		out, err := rules.Evaluate(req, &decl)
		if err != nil {
			return res, fmt.Errorf("register %s: %w", p.Outcome.RegisterID, err)
		}
		replanned = append(replanned, PlannedRegister{Outcome: out, Digest: p.Digest})
		outcomes = append(outcomes, out)
	}
	status := StatusDispatched
	if s.StillWaiting {
		status = StatusAwaitingInformation
	}
	// The new plan is stored, its registers awaited, before any task goes out: the result collector
	// then counts them as awaited from the moment one could answer.
	if err := a.Cases.Replan(ctx, s.RequestID, replanned, status); err != nil {
		return res, err
	}
	if res.Dispatched, err = a.dispatch(ctx, in, outcomes); err != nil {
		return res, err
	}
	for _, o := range outcomes {
		res.Plans = append(res.Plans, planOf(o))
	}
	return res, nil
}

// Withdraw cancels every task of the request that has not been answered, through each register's
// effect record, and records the withdrawal with what became of each task: a register that had not
// begun never will; one that had begun or finished answers as usual, and an effect already applied
// stays applied.
func (a *Activities) Withdraw(ctx context.Context, w WithdrawInput) (WithdrawResult, error) {
	defer keepAlive(ctx)()
	res, err := a.withdraw(ctx, w)
	return res, classify("withdraw", err)
}

func (a *Activities) withdraw(ctx context.Context, w WithdrawInput) (WithdrawResult, error) {
	var res WithdrawResult
	planned, err := a.Cases.Planned(ctx, w.RequestID)
	if err != nil {
		return res, err
	}
	for _, p := range planned {
		id := p.Outcome.RegisterID
		switch {
		case !p.Dispatched:
			continue
		case p.Result != nil:
			res.Answered = append(res.Answered, id)
			continue
		case a.Cancel == nil:
			res.UnderWay = append(res.UnderWay, id)
			continue
		}
		state, err := a.Cancel.Cancel(ctx, id, contracts.TaskID(w.RequestID, id))
		if err != nil {
			return res, fmt.Errorf("cancel the task of %s: %w", id, err)
		}
		if state == CancelDone {
			res.Cancelled = append(res.Cancelled, id)
		} else {
			res.UnderWay = append(res.UnderWay, id)
		}
	}
	return res, a.Cases.Withdrawn(ctx, w, res)
}
