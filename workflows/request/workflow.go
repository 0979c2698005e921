package request

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
)

// Versions. This is the baseline: the first release, with no older run to replay. From here on, a
// change to what the workflow does goes behind workflow.GetVersion at its change point, with a
// comment saying when the old branch can go: once no run that started before the change is still
// open. A request's own run ends with its reply, at most about three months after receipt; a
// restriction's run continues as new every restrictionRunFor, so a change to it can go that long
// after its release. The saved histories in testdata/replay are replayed on every test run.

// activityOptions bound every step: a step is retried through a few minutes of a server being
// down, and no longer. A step of the request's main line that still fails needs attention (must);
// an update whose step fails tells its caller, and the request stays as it was. Errors that
// retrying cannot fix come back non-retryable from the activity and are not retried at all. The
// heartbeat timeout notices a worker that died in seconds, not after the whole start-to-close time.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	HeartbeatTimeout:    10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
		MaximumAttempts: 12},
}

// attentionOptions: recording that a request needs attention has to outlast the outage that caused
// it, so it is retried for a day; if even that fails, the request still waits for a clerk's retry.
var attentionOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
}

// retryUnavailableAfter is when a step that failed because a server was unavailable is tried again
// on its own; a step whose data were refused waits for a clerk.
const retryUnavailableAfter = time.Hour

// restrictionRunFor is how long a restriction's run lasts before it continues as new.
const restrictionRunFor = 30 * 24 * time.Hour

// activities names the activity methods for ExecuteActivity; the worker registers the real ones.
var activities *Activities

// errWithdrawn ends the main line when the subject withdrew the request while a step waited.
var errWithdrawn = errors.New("request: withdrawn")

// Workflow carries one request through its life: receipt, a clerk's check of a letter writer's
// identity, intake (the rules, and a task to each register they reach), collection of the answers,
// the office's review, and the reply or the subject's withdrawal. A replied restriction continues
// as new, in a short run that waits for it to be lifted (Art 18(3)). The deadline's alarms run from
// receipt until the reply. Log lines carry ids and statuses only: the subject's data never enter a
// log, and enter history only through the encrypting codec.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	r, err := begin(ctx, in)
	if err != nil {
		return Result{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if in.Restricted != nil {
		return r.restriction(ctx)
	}
	workflow.Go(ctx, r.watchDeadline)
	workflow.Go(ctx, r.takeAnswers)
	if r.st.Status == StatusAwaitingIdentity {
		err = r.awaitIdentity(ctx)
	}
	if err == nil && r.st.Status == StatusReceived {
		err = r.intake(ctx)
		if err == nil {
			err = r.collectAndReview(ctx)
		}
	}
	if err != nil && !errors.Is(err, errWithdrawn) {
		return Result{}, err
	}
	return r.end(ctx)
}

// run is one request's state in its workflow.
type run struct {
	// ctx is the run's root context, for reading the workflow's clock in validators.
	ctx workflow.Context
	in  Input
	st  State
	// busy says what is under way that no other step may overlap: a main-line step, or an
	// update's. Empty when nothing is.
	busy string
	// total is how many registers a task went to; answered, how many of them have answered.
	total, answered int
	// seq changes whenever an answer or a supply changes what collection waits for.
	seq int
	// lateUntil gives registers dispatched after the internal target (the subject supplied an
	// identifier late) their time to answer: the day before the deadline.
	lateUntil time.Time
	// retryNow is a clerk's retry of the step that needs attention.
	retryNow bool
}

// begin sets up a request's run: its state, and every query and update it takes. Every update is
// registered from the start, and each validator refuses what the request does not take now, so a
// step out of turn is refused with its reason, never left unknown.
func begin(ctx workflow.Context, in Input) (*run, error) {
	if in.RequestID == "" || in.Receipt.Deadline.IsZero() {
		return nil, temporal.NewNonRetryableApplicationError("request: started without an id or receipt dates", "InvalidInput", nil)
	}
	r := &run{ctx: ctx, in: in, st: State{Status: StatusReceived, Deadline: in.Receipt.Deadline}}
	switch {
	case in.Restricted != nil:
		r.st.Status, r.st.RepliedBy = in.Restricted.Status, in.Restricted.RepliedBy
	case in.Subject.IdentityLevel == IdentityUnverified:
		r.st.Status = StatusAwaitingIdentity
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return r.st, nil }); err != nil {
		return nil, fmt.Errorf("request: query handler: %w", err)
	}
	for _, err := range []error{
		onUpdate(ctx, r, UpdateApproveReply, CheckApproval, r.approvalInTurn, r.approve),
		onUpdate(ctx, r, UpdateExtendDeadline, CheckExtension, r.extensionInTurn, r.extend),
		onUpdate(ctx, r, UpdateSupplyIdentifier, CheckSupply, r.supplyInTurn, r.supply),
		onUpdate(ctx, r, UpdateWithdraw, CheckWithdrawal, r.withdrawalInTurn, r.withdraw),
		onUpdate(ctx, r, UpdateVerifyIdentity, CheckVerification, r.verificationInTurn, r.verifyIdentity),
		onUpdate(ctx, r, UpdateRefuseIdentity, CheckRefusal, r.refusalInTurn, r.refuseIdentity),
		onUpdate(ctx, r, UpdateSendLiftNotice, CheckLift, r.liftNoticeInTurn, r.sendLiftNotice),
		onUpdate(ctx, r, UpdateLiftRestriction, CheckLift, r.liftInTurn, r.lift),
		onUpdate(ctx, r, UpdateRetry, CheckRetry, r.retryInTurn, r.retry),
	} {
		if err != nil {
			return nil, fmt.Errorf("request: update handler: %w", err)
		}
	}
	return r, nil
}

// onUpdate registers an update: its validator refuses an invalid input field by field (check) and a
// step out of turn with its reason (inTurn); its handler carries the step out (do) and answers with
// the request's state.
func onUpdate[T any](ctx workflow.Context, r *run, name string, check func(T) *contracts.ValidationError, inTurn func(T) error,
	do func(workflow.Context, T) error) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, arg T) (State, error) {
			if err := do(workflow.WithActivityOptions(ctx, activityOptions), arg); err != nil {
				return State{}, fmt.Errorf("%s: %w", name, err)
			}
			return r.st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, arg T) error {
			if ve := check(arg); ve != nil {
				return refuseInput(ve)
			}
			return inTurn(arg)
		}})
}

// takeTurn waits until nothing else is under way, then marks the step as under way; the step must
// call done when it ends. A step accepted while another ran is checked again once it has its turn,
// since the request may have moved on meanwhile.
func (r *run) takeTurn(ctx workflow.Context, what string, inTurn func() error) (done func(), err error) {
	if err := workflow.Await(ctx, func() bool { return r.busy == "" }); err != nil {
		return nil, err
	}
	if err := inTurn(); err != nil {
		return nil, err
	}
	r.busy = what
	return func() { r.busy = "" }, nil
}

// must runs a step of the request's main line until it succeeds. A step that fails for good (its
// retries spent, or an error that retrying cannot fix) makes the request need attention: the
// office sees the step and the kind of trouble, and the step runs again when a clerk retries it,
// or on its own an hour later if a server was unavailable. The deadline's alarms keep running.
func (r *run) must(ctx workflow.Context, step Step, fn, arg, result any) error {
	for {
		r.busy = string(step)
		err := workflow.ExecuteActivity(ctx, fn, arg).Get(ctx, result)
		r.busy = ""
		if err == nil {
			if r.st.Attention != nil {
				r.st.Attention = nil
				r.recordAttention(ctx, AttentionInput{RequestID: r.in.RequestID})
			}
			return nil
		}
		if temporal.IsCanceledError(err) {
			return err
		}
		trouble := TroubleUnavailable
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			trouble = TroubleRefused
		}
		r.st.Attention = &Attention{Step: step, Trouble: trouble, Since: workflow.Now(ctx)}
		workflow.GetLogger(ctx).Error("a step needs attention", "step", step, "trouble", trouble)
		r.recordAttention(ctx, AttentionInput{RequestID: r.in.RequestID, Attention: r.st.Attention})
		r.retryNow = false
		again := func() bool { return r.retryNow || r.st.Status == StatusWithdrawn }
		if trouble == TroubleUnavailable {
			_, err = workflow.AwaitWithTimeout(ctx, retryUnavailableAfter, again)
		} else {
			err = workflow.Await(ctx, again)
		}
		if err != nil {
			return err
		}
		if r.st.Status == StatusWithdrawn {
			return errWithdrawn
		}
	}
}

// recordAttention writes, or clears, the request's need for attention with the case.
func (r *run) recordAttention(ctx workflow.Context, in AttentionInput) {
	ctx = workflow.WithActivityOptions(ctx, attentionOptions)
	if err := workflow.ExecuteActivity(ctx, activities.RecordAttention, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("attention not recorded", "error", err)
	}
}

func (r *run) retryInTurn(Retry) error {
	if r.st.Attention == nil {
		return refuseTurn("no step of this request needs attention")
	}
	return nil
}

func (r *run) retry(ctx workflow.Context, x Retry) error {
	in := AttentionInput{RequestID: r.in.RequestID, Attention: r.st.Attention, RetriedBy: x.Clerk}
	// The clerk's purpose goes to the record with the retry (hardening, #9). The old branch can go
	// once no request's run started before this change is open: about three months.
	if workflow.GetVersion(ctx, changeDecisionPurpose, workflow.DefaultVersion, 1) == 1 {
		in.Purpose = x.Purpose
	}
	if err := workflow.ExecuteActivity(ctx, activities.RecordAttention, in).Get(ctx, nil); err != nil {
		return err
	}
	r.retryNow = true
	return nil
}

// awaitIdentity records a request whose subject's identity is not verified, and waits for a
// clerk's decision: verify-identity lets intake go on as for any request; refuse-identity closes it.
// Nothing is planned or sent to a register before the identity is verified, but the deadline runs
// from receipt (Art 12(3)). See docs/procedure.md#requests-by-post-or-at-a-service-point.
func (r *run) awaitIdentity(ctx workflow.Context) error {
	if err := r.must(ctx, StepRecordReceipt, activities.RecordReceipt, r.in, nil); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return r.st.Status != StatusAwaitingIdentity && r.busy == "" })
}

func (r *run) verificationInTurn(IdentityVerification) error { return r.identityUndecided() }
func (r *run) refusalInTurn(IdentityRefusal) error           { return r.identityUndecided() }

func (r *run) identityUndecided() error {
	if r.st.Status != StatusAwaitingIdentity || r.busy != "" {
		return refuseTurn("identity: already decided for this request")
	}
	return nil
}

func (r *run) verifyIdentity(ctx workflow.Context, v IdentityVerification) error {
	done, err := r.takeTurn(ctx, "a clerk is deciding on the subject's identity", r.identityUndecided)
	if err != nil {
		return err
	}
	defer done()
	if err := workflow.ExecuteActivity(ctx, activities.VerifyIdentity, VerifyIdentityInput{RequestID: r.in.RequestID, Verification: v}).Get(ctx, nil); err != nil {
		return err
	}
	r.in.Subject.IdentityLevel, r.in.Subject.IdentityMethod = IdentityVerified, v.Method
	r.st.Status, r.st.IdentityMethod = StatusReceived, v.Method
	return nil
}

func (r *run) refuseIdentity(ctx workflow.Context, x IdentityRefusal) error {
	done, err := r.takeTurn(ctx, "a clerk is deciding on the subject's identity", r.identityUndecided)
	if err != nil {
		return err
	}
	defer done()
	if err := workflow.ExecuteActivity(ctx, activities.RefuseIdentity, RefuseIdentityInput{RequestID: r.in.RequestID, Refusal: x}).Get(ctx, nil); err != nil {
		return err
	}
	r.st.Status = StatusIdentityNotVerified
	return nil
}

// intake evaluates the rules for every register in force at receipt and sends each register they
// reach its task; registers that could be searched with an identifier the subject has not given
// wait for it, and the subject is asked for it (Art 11(2), 12(6)).
func (r *run) intake(ctx workflow.Context) error {
	var res IntakeResult
	if err := r.must(ctx, StepIntake, activities.Intake, r.in, &res); err != nil {
		return err
	}
	r.st.Plans, r.total = res.Plans, res.Dispatched
	for _, p := range res.Plans {
		if types := p.Waits(); len(types) > 0 {
			r.st.Waiting = append(r.st.Waiting, WaitingRegister{RegisterID: p.RegisterID, Identifiers: types})
		}
	}
	if len(r.st.Waiting) == 0 {
		return nil
	}
	r.st.Status = StatusAwaitingInformation
	ask := InformationRequest{RequestID: r.in.RequestID, Registers: slices.Clone(r.st.Waiting)}
	return r.must(ctx, StepAskForInformation, activities.AskForInformation, ask, nil)
}

// takeAnswers counts the registers' answers. The result collector signals whenever every awaited
// register has answered, with how many that is; a supply may have dispatched more since.
func (r *run) takeAnswers(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRegistersAnswered)
	for {
		var a Answered
		ch.Receive(ctx, &a)
		r.answered = max(r.answered, a.Registers)
		r.seq++
	}
}

// collectAndReview waits for the registers' answers, concludes each register's outcome and puts
// the case in front of the office, until the office approves the reply or the subject withdraws.
// A supplied identifier sends the case back to collecting; an answer from a register named as
// pending that comes before the reply is concluded in a new review.
func (r *run) collectAndReview(ctx workflow.Context) error {
	for {
		if err := r.collect(ctx); err != nil {
			return err
		}
		if r.st.Status == StatusWithdrawn {
			return nil
		}
		seq := r.seq
		var review ReviewResult
		if err := r.must(ctx, StepReview, activities.Review, r.in.RequestID, &review); err != nil {
			return err
		}
		r.st.Pending = review.Pending
		if r.seq != seq {
			continue // an answer or a supply came while the outcomes were being concluded
		}
		r.st.Status = StatusInReview
		lateAnswer := func() bool { return len(r.st.Pending) > 0 && r.seq != seq }
		if err := workflow.Await(ctx, func() bool { return r.busy == "" && (r.st.Status != StatusInReview || lateAnswer()) }); err != nil {
			return err
		}
		if r.st.Status.Answered() || r.st.Status == StatusWithdrawn {
			return nil
		}
	}
}

// collect waits until every dispatched register has answered, or until the internal target, when a
// register that has not answered is named as pending. Registers dispatched after the internal
// target (the subject supplied an identifier late) have until the day before the deadline.
//
// It does not hold the reply for registers waiting for information: the reply is owed without undue
// delay (Art 12(3)), and the subject may still supply an identifier while the case is in review,
// which sends it back here. Without one, those registers are concluded as the rules decided at
// intake (cannot identify, Art 11(2)). See docs/procedure.md#partial-results.
func (r *run) collect(ctx workflow.Context) error {
	for r.st.Status != StatusWithdrawn {
		if r.busy != "" {
			// A supply or a withdrawal is under way: what collection waits for is about to change.
			if err := workflow.Await(ctx, func() bool { return r.busy == "" }); err != nil {
				return err
			}
			continue
		}
		if r.answered >= r.total {
			return nil
		}
		now := workflow.Now(ctx)
		if len(r.st.Waiting) > 0 && now.Before(r.in.Receipt.InternalTarget) {
			r.st.Status = StatusAwaitingInformation
		} else {
			r.st.Status = StatusDispatched
		}
		until := r.in.Receipt.InternalTarget
		if r.lateUntil.After(until) {
			until = r.lateUntil
		}
		if !until.After(now) {
			workflow.GetLogger(ctx).Warn("collection ended with registers pending")
			return nil
		}
		seq := r.seq
		if _, err := workflow.AwaitWithTimeout(ctx, until.Sub(now), func() bool {
			return r.seq != seq || r.busy != "" || r.st.Status == StatusWithdrawn
		}); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) approvalInTurn(Approval) error {
	switch {
	case r.busy == busyReplying || r.st.Status.Answered():
		return refuseTurn("approval: the reply has already been approved")
	case r.busy == busyWithdrawing || r.st.Status == StatusWithdrawn:
		return refuseTurn("approval: the subject is withdrawing the request")
	case r.busy == busySupplying:
		return refuseTurn("approval: the subject is adding an identifier; more registers may be searched")
	case r.st.Status != StatusInReview:
		return refuseTurn("approval: the request is %s, not in review", r.st.Status)
	case r.busy != "":
		return refuseTurn("approval: %s; try again in a moment", r.busy)
	}
	return nil
}

// What the updates mark as under way.
const (
	busyReplying    = "the reply is being sent"
	busySupplying   = "an identifier is being added"
	busyWithdrawing = "the request is being withdrawn"
	busyLifting     = "the restriction is being lifted"
)

// approve sends the reply: a restriction's request then holds as restricted.
func (r *run) approve(ctx workflow.Context, a Approval) error {
	done, err := r.takeTurn(ctx, busyReplying, func() error { return r.approvalInTurn(a) })
	if err != nil {
		return err
	}
	defer done()
	if err := workflow.ExecuteActivity(ctx, activities.Reply, ReplyInput{RequestID: r.in.RequestID, Approval: a}).Get(ctx, nil); err != nil {
		return err
	}
	r.st.Status, r.st.RepliedBy, r.st.Waiting = StatusReplied, a.Clerk, nil
	if r.in.Request.Right == contracts.RightRestriction {
		r.st.Status = StatusRestricted
	}
	return nil
}

func (r *run) extensionInTurn(Extension) error {
	decideBy := r.in.Receipt.DecideExtensionBy
	switch {
	case r.st.Extended:
		return refuseTurn("extension: the deadline has already been extended")
	case r.st.Status.Answered():
		return refuseTurn("extension: the request has been replied to")
	case !r.st.Status.Open():
		return refuseTurn("extension: the request is closed (%s)", r.st.Status)
	case !decideBy.IsZero() && deadline.Date(workflow.Now(r.ctx)).After(decideBy):
		return refuseTurn("extension: too late; an extension must be decided within the first month, by %s (Art 12(3))",
			decideBy.Format("2 January 2006"))
	}
	return nil
}

// extend extends the deadline once, by at most two months, with reasons told to the subject; the
// deadline's alarms re-arm on the new date. See docs/procedure.md#extension.
func (r *run) extend(ctx workflow.Context, x Extension) error {
	r.st.Extended = true // taken now, so that a second extension is refused while this one runs
	newDeadline := ExtendedDeadline(r.in.ReceivedAt, x.Months)
	err := workflow.ExecuteActivity(ctx, activities.Extend, ExtendInput{RequestID: r.in.RequestID, Extension: x, NewDeadline: newDeadline}).Get(ctx, nil)
	if err != nil {
		r.st.Extended = false
		return err
	}
	r.st.Deadline = newDeadline
	return nil
}

// waitingFor lists the waiting registers that match an identifier type.
func (r *run) waitingFor(t contracts.IdentifierType) []string {
	var out []string
	for _, w := range r.st.Waiting {
		if slices.Contains(w.Identifiers, t) {
			out = append(out, w.RegisterID)
		}
	}
	return out
}

func (r *run) supplyInTurn(s Supply) error {
	switch {
	case r.busy == busyReplying || !r.st.Status.SubjectMayAct():
		status := r.st.Status
		if r.busy == busyReplying {
			status = StatusReplied
		}
		return refuseTurn("supply: the request is %s; information can be added only before the reply", status)
	case r.busy == busyWithdrawing:
		return refuseTurn("supply: the request is being withdrawn")
	case r.busy == busySupplying:
		return refuseTurn("supply: another identifier is being added; try again in a moment")
	case len(r.waitingFor(s.Identifier.Type)) == 0:
		return refuseTurn("supply: no register of this request waits for a %s", s.Identifier.Type)
	}
	return nil
}

// supply takes an identifier the subject supplied until the reply: the registers waiting for its
// type are evaluated again with it and dispatched to, and collection waits for their answers,
// reopening if the case was in review. See docs/procedure.md#identifiers-the-subject-adds.
func (r *run) supply(ctx workflow.Context, s Supply) error {
	done, err := r.takeTurn(ctx, busySupplying, func() error { return r.supplyInTurn(s) })
	if err != nil {
		return err
	}
	defer done()
	registers := r.waitingFor(s.Identifier.Type)
	past := !workflow.Now(ctx).Before(r.in.Receipt.InternalTarget)
	in := SupplyInput{RequestID: r.in.RequestID, Identifier: s.Identifier, Channel: s.Channel, Registers: registers,
		StillWaiting: len(r.st.Waiting) > len(registers) && !past}
	var res SupplyResult
	if err := workflow.ExecuteActivity(ctx, activities.SupplyIdentifier, in).Get(ctx, &res); err != nil {
		return err
	}
	for _, p := range res.Plans {
		if i := slices.IndexFunc(r.st.Plans, func(q RegisterPlan) bool { return q.RegisterID == p.RegisterID }); i >= 0 {
			r.st.Plans[i] = p
		}
		r.st.Waiting = slices.DeleteFunc(r.st.Waiting, func(w WaitingRegister) bool { return w.RegisterID == p.RegisterID })
		if types := p.Waits(); len(types) > 0 {
			r.st.Waiting = append(r.st.Waiting, WaitingRegister{RegisterID: p.RegisterID, Identifiers: types})
		}
	}
	if res.Dispatched > 0 {
		r.total += res.Dispatched
		if past {
			r.lateUntil = r.st.Deadline.AddDate(0, 0, -1)
		}
	}
	if r.st.Status == StatusInReview {
		r.st.Status = StatusDispatched // the outcomes change: back to collecting, then to review again
	}
	r.seq++
	return nil
}

func (r *run) withdrawalInTurn(Withdrawal) error {
	switch {
	case r.busy == busyWithdrawing || r.st.Status == StatusWithdrawn:
		return refuseTurn("withdraw: the request has already been withdrawn")
	case r.busy == busyReplying || !r.st.Status.SubjectMayAct():
		status := r.st.Status
		if r.busy == busyReplying {
			status = StatusReplied
		}
		return refuseTurn("withdraw: the request is %s; it can be withdrawn only before the reply", status)
	}
	return nil
}

// withdraw takes the subject's withdrawal until the reply: every task not yet answered is
// cancelled through the register's effect record, the withdrawal is recorded, and the request ends.
// See docs/procedure.md#withdrawal.
func (r *run) withdraw(ctx workflow.Context, w Withdrawal) error {
	done, err := r.takeTurn(ctx, busyWithdrawing, func() error { return r.withdrawalInTurn(w) })
	if err != nil {
		return err
	}
	defer done()
	var res WithdrawResult
	if err := workflow.ExecuteActivity(ctx, activities.Withdraw, WithdrawInput{RequestID: r.in.RequestID, Channel: w.Channel}).Get(ctx, &res); err != nil {
		return err
	}
	r.st.Status, r.st.Withdrawal, r.st.Waiting, r.st.Attention = StatusWithdrawn, &res, nil, nil
	return nil
}

// watchDeadline raises the office's alarms on durable timers while the reply is owed: reminders a
// week and a day before the deadline, and an escalation the day after it. An extension re-arms them.
// See docs/procedure.md#alarms.
func (r *run) watchDeadline(ctx workflow.Context) {
	raised := map[string]bool{}
	for r.st.Status.Open() {
		armed := r.st.Deadline
		moved := func() bool { return !r.st.Status.Open() || !r.st.Deadline.Equal(armed) }
		now := workflow.Now(ctx)
		var next *alarmAt
		for _, a := range alarmsFor(armed) {
			if !raised[a.key] && a.at.After(now) {
				next = &a
				break
			}
		}
		if next == nil {
			if err := workflow.Await(ctx, moved); err != nil {
				return
			}
			continue
		}
		changed, err := workflow.AwaitWithTimeout(ctx, next.at.Sub(now), moved)
		if err != nil || changed {
			continue
		}
		raised[next.key] = true
		r.st.Alarms = append(r.st.Alarms, string(next.kind)+" "+next.at.Format("2006-01-02"))
		alarm := Alarm{RequestID: r.in.RequestID, Kind: next.kind, Deadline: armed}
		if err := workflow.ExecuteActivity(ctx, activities.Raise, alarm).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("alarm not raised", "kind", next.kind, "error", err)
		}
	}
}

type alarmAt struct {
	at   time.Time
	kind AlarmKind
	key  string
}

// alarmsFor are a deadline's alarms, in time order.
func alarmsFor(d time.Time) []alarmAt {
	day := "@" + d.Format("2006-01-02")
	return []alarmAt{
		{d.AddDate(0, 0, -7), AlarmReminder, "7d" + day},
		{d.AddDate(0, 0, -1), AlarmReminder, "1d" + day},
		{d.AddDate(0, 0, 1), AlarmEscalation, "missed" + day},
	}
}

// restriction is a replied restriction's own run: the data are only stored until the restriction is
// lifted, and the subject must be told before it is (Art 18(3)), so the lift is refused until the
// notice has gone out. The run continues as new every restrictionRunFor, however long the
// restriction lasts. See docs/rights-rules.md#lifting-a-restriction.
func (r *run) restriction(ctx workflow.Context) (Result, error) {
	lifted, err := workflow.AwaitWithTimeout(ctx, restrictionRunFor, func() bool { return r.st.Status == StatusLifted && r.busy == "" })
	if err != nil {
		return Result{}, err
	}
	if !lifted {
		if err := workflow.Await(ctx, func() bool { return r.busy == "" && workflow.AllHandlersFinished(ctx) }); err != nil {
			return Result{}, err
		}
		return Result{}, workflow.NewContinueAsNewError(ctx, WorkflowName, r.continued())
	}
	return r.end(ctx)
}

// continued is the input of a restriction's next run: the request's ids and dates and where the
// restriction stands, without the subject's data, which the steps read from the case.
func (r *run) continued() Input {
	return Input{RequestID: r.in.RequestID, ReceivedAt: r.in.ReceivedAt, Channel: r.in.Channel, Receipt: r.in.Receipt,
		Request:    contracts.SubmitRequest{Right: r.in.Request.Right, Language: r.in.Request.Language},
		Restricted: &Restriction{RepliedBy: r.st.RepliedBy, Status: r.st.Status}}
}

func (r *run) liftNoticeInTurn(Lift) error {
	switch {
	case r.busy != "":
		return refuseTurn("lift notice: %s; try again in a moment", r.busy)
	case r.st.Status != StatusRestricted:
		return refuseTurn("lift notice: the request is %s, not restricted", r.st.Status)
	}
	return nil
}

func (r *run) sendLiftNotice(ctx workflow.Context, l Lift) error {
	done, err := r.takeTurn(ctx, "the lift notice is being sent", func() error { return r.liftNoticeInTurn(l) })
	if err != nil {
		return err
	}
	defer done()
	if err := workflow.ExecuteActivity(ctx, activities.SendLiftNotice, r.liftInput(ctx, l)).Get(ctx, nil); err != nil {
		return err
	}
	r.st.Status = StatusLiftNoticeSent
	return nil
}

func (r *run) liftInTurn(Lift) error {
	switch {
	case r.busy != "":
		return refuseTurn("lift: %s; try again in a moment", r.busy)
	case r.st.Status == StatusRestricted:
		return refuseTurn("lift: the subject must be told before a restriction is lifted; send the lift notice first (Art 18(3))")
	case r.st.Status != StatusLiftNoticeSent:
		return refuseTurn("lift: the request is %s, not restricted", r.st.Status)
	}
	return nil
}

func (r *run) lift(ctx workflow.Context, l Lift) error {
	done, err := r.takeTurn(ctx, busyLifting, func() error { return r.liftInTurn(l) })
	if err != nil {
		return err
	}
	defer done()
	if err := workflow.ExecuteActivity(ctx, activities.Lift, r.liftInput(ctx, l)).Get(ctx, nil); err != nil {
		return err
	}
	r.st.Status = StatusLifted
	return nil
}

// changeDecisionPurpose: the purpose a clerk states goes with a lift and a retry to the record, as it
// does with every other decision, whose input the workflow hands on whole.
const changeDecisionPurpose = "decision-purpose"

// liftInput is a lift notice's or a lift's input for its activity. The purpose goes with it since
// changeDecisionPurpose; the old branch can go once no restriction's run started before that change
// is open: 30 days.
func (r *run) liftInput(ctx workflow.Context, l Lift) LiftInput {
	in := LiftInput{RequestID: r.in.RequestID, Clerk: l.Clerk}
	if workflow.GetVersion(ctx, changeDecisionPurpose, workflow.DefaultVersion, 1) == 1 {
		in.Purpose = l.Purpose
	}
	return in
}

// end waits for every update under way to finish, then ends the run; a replied restriction
// continues as new in its own short run.
func (r *run) end(ctx workflow.Context) (Result, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	if r.st.Status == StatusRestricted || r.st.Status == StatusLiftNoticeSent {
		return Result{}, workflow.NewContinueAsNewError(ctx, WorkflowName, r.continued())
	}
	return Result{Status: r.st.Status, RepliedBy: r.st.RepliedBy}, nil
}
