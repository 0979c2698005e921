package request

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
)

// activities is only used to name activity methods; the worker registers the real one.
var activities *Activities

// activityOptions wait store and bus outages out: the request must not be lost, and the deadline
// logic, not a retry limit, decides when to answer without a register.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// Versions of the workflow's behaviour, for workflow.GetVersion: a change to what the workflow does
// gets a new version, so that requests already under way replay the code they started with.
const (
	changeLifecycle = "lifecycle" // deadline alarms, extension, restriction lift
	lifecycleV1     = 1
	// changeInformation: registers waiting for an identifier the subject may supply (Art 11(2),
	// 12(6)), collection that may reopen, and withdrawal.
	changeInformation = "information-and-withdrawal"
	informationV1     = 1
	// changeLateAnswers: an answer that comes while the case is in review with registers pending is
	// concluded before the reply, instead of the reply naming the register as pending.
	changeLateAnswers = "late-answers"
	lateAnswersV1     = 1
	// changeIdentity: a request whose subject is unverified (received by post or at a service point)
	// is recorded and waits for a clerk to verify or refuse the identity before intake.
	changeIdentity = "identity-verification"
	identityV1     = 1
)

// Workflow carries one request through receipt, the rules, dispatch to the registers, collection,
// the office's review and the reply; a restriction stays open until it is lifted after the Art 18(3)
// notice. Its log lines carry ids and statuses only: the subject's data never enters a log, and
// enters history only through the encrypting codec.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	log := workflow.GetLogger(ctx)
	st := &State{Status: StatusReceived}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return *st, nil }); err != nil {
		return Result{}, fmt.Errorf("register query: %w", err)
	}
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	lifecycle := workflow.GetVersion(ctx, changeLifecycle, workflow.DefaultVersion, lifecycleV1) >= lifecycleV1
	information := workflow.GetVersion(ctx, changeInformation, workflow.DefaultVersion, informationV1) >= informationV1
	identity := workflow.GetVersion(ctx, changeIdentity, workflow.DefaultVersion, identityV1) >= identityV1

	deadlineMoved := workflow.NewChannel(ctx)
	// watching: the deadline alarms and the extension already run, since receipt.
	watching := false
	if identity && in.Subject.IdentityLevel == IdentityUnverified {
		refused, err := awaitIdentity(ctx, &in, st, lifecycle, deadlineMoved)
		if err != nil || refused {
			return Result{Status: st.Status}, err
		}
		watching = lifecycle
	}

	var intake IntakeResult
	if err := workflow.ExecuteActivity(ctx, activities.Intake, in).Get(ctx, &intake); err != nil {
		return Result{}, fmt.Errorf("intake: %w", err)
	}
	st.Plans = intake.Plans
	if !watching {
		st.Deadline = intake.Deadline // else as recorded at receipt, or as extended since
	}
	if lifecycle && !watching {
		if err := handleExtension(ctx, in, st, deadlineMoved); err != nil {
			return Result{}, err
		}
		workflow.Go(ctx, func(ctx workflow.Context) { watchDeadline(ctx, in.RequestID, st, deadlineMoved) })
	}
	if information {
		return (&run{in: in, st: st, lifecycle: lifecycle, internalTarget: intake.InternalTarget, total: intake.Dispatched}).
			finish(ctx, intake)
	}
	if intake.Dispatched > 0 {
		st.Status = StatusDispatched
		if !awaitAnswers(ctx, intake.InternalTarget) {
			log.Warn("collection ended at the internal target with registers pending")
		}
	}
	var review ReviewResult
	if err := workflow.ExecuteActivity(ctx, activities.Review, in.RequestID).Get(ctx, &review); err != nil {
		return Result{}, fmt.Errorf("review: %w", err)
	}
	st.Status, st.Pending = StatusInReview, review.Pending

	if err := handleApproval(ctx, in, st, &guards{}); err != nil {
		return Result{}, err
	}
	if err := workflow.Await(ctx, func() bool { return st.Status == StatusReplied }); err != nil {
		return Result{}, err
	}
	if lifecycle && in.Request.Right == contracts.RightRestriction {
		if err := restrictionLifecycle(ctx, in, st); err != nil {
			return Result{}, err
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	return Result{Status: st.Status, RepliedBy: st.RepliedBy}, nil
}

// guards are the steps under way that other steps must not overlap: the reply, an identifier being
// supplied, the withdrawal.
type guards struct {
	replying, supplying, withdrawing bool
}

// handleApproval takes the office's approval of the reply, once, while the request is in review.
func handleApproval(ctx workflow.Context, in Input, st *State, g *guards) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproveReply,
		func(ctx workflow.Context, a Approval) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			g.replying = true
			err := workflow.ExecuteActivity(ctx, activities.Reply, ReplyInput{RequestID: in.RequestID, Approval: a}).Get(ctx, nil)
			if err != nil {
				g.replying = false
				return State{}, fmt.Errorf("reply: %w", err)
			}
			st.Status, st.RepliedBy = StatusReplied, a.Clerk
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a Approval) error {
			switch {
			case a.Clerk == "":
				return errors.New("approval: the approving clerk is required")
			case g.replying || st.Status == StatusReplied:
				return errors.New("approval: the reply has already been approved")
			case g.withdrawing:
				return errors.New("approval: the subject is withdrawing the request")
			case g.supplying:
				return errors.New("approval: the subject is adding an identifier; more registers may be searched")
			case st.Status != StatusInReview:
				return fmt.Errorf("approval: the request is %s, not in review", st.Status)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register approval: %w", err)
	}
	return nil
}

// handleExtension takes the office's extension of the deadline. The law allows it once, by at most
// two months, with reasons told to the subject, and only if decided within the first month.
func handleExtension(ctx workflow.Context, in Input, st *State, deadlineMoved workflow.Channel) error {
	decideBy := deadline.Compute(in.ReceivedAt).ExtensionDecisionBy
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateExtendDeadline,
		func(ctx workflow.Context, x Extension) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			st.Extended = true // taken now, so that a second extension is refused while this one runs
			newDeadline := ExtendedDeadline(in.ReceivedAt, x.Months)
			err := workflow.ExecuteActivity(ctx, activities.Extend, ExtendInput{RequestID: in.RequestID, Extension: x, NewDeadline: newDeadline}).Get(ctx, nil)
			if err != nil {
				st.Extended = false
				return State{}, fmt.Errorf("extend: %w", err)
			}
			st.Deadline = newDeadline
			deadlineMoved.SendAsync(newDeadline)
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, x Extension) error {
			switch {
			case x.Clerk == "":
				return errors.New("extension: the deciding clerk is required")
			case x.Reasons == "":
				return errors.New("extension: reasons are required; the subject is told them (Art 12(3))")
			case len(x.Reasons) > 2000:
				return errors.New("extension: reasons may be at most 2000 characters")
			case x.Months < 1 || x.Months > 2:
				return errors.New("extension: at most two further months (Art 12(3))")
			case st.Extended:
				return errors.New("extension: the deadline has already been extended")
			case st.Status == StatusReplied || st.Status == StatusRestricted || st.Status == StatusLiftNoticeSent || st.Status == StatusLifted:
				return errors.New("extension: the request has been replied to")
			case st.Status == StatusWithdrawn:
				return errors.New("extension: the request was withdrawn")
			case st.Status == StatusIdentityNotVerified:
				return errors.New("extension: the request was closed: the subject's identity could not be established")
			case deadline.Date(workflow.Now(ctx)).After(decideBy):
				return fmt.Errorf("extension: too late; an extension must be decided within the first month, by %s (Art 12(3))",
					decideBy.Format("2 January 2006"))
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register extension: %w", err)
	}
	return nil
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

// watchDeadline raises the office's alarms on durable timers: reminders a week and a day before the
// deadline, and an escalation the day after it if no reply has gone out. An extension re-arms them.
func watchDeadline(ctx workflow.Context, requestID string, st *State, deadlineMoved workflow.Channel) {
	raised := map[string]bool{}
	for {
		if st.Status == StatusReplied || st.Status == StatusRestricted || st.Status == StatusLiftNoticeSent || st.Status == StatusLifted ||
			st.Status == StatusWithdrawn || st.Status == StatusIdentityNotVerified {
			return
		}
		now := workflow.Now(ctx)
		type alarm struct {
			at   time.Time
			kind string
			key  string
		}
		var next *alarm
		for _, a := range []alarm{
			{st.Deadline.AddDate(0, 0, -7), AlarmReminder, "7d"},
			{st.Deadline.AddDate(0, 0, -1), AlarmReminder, "1d"},
			{st.Deadline.AddDate(0, 0, 1), AlarmEscalation, "missed"},
		} {
			key := a.key + "@" + st.Deadline.Format("2006-01-02")
			if !raised[key] && a.at.After(now) {
				a.key = key
				next = &a
				break
			}
		}
		if next == nil {
			return
		}
		timerCtx, cancel := workflow.WithCancel(ctx)
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, next.at.Sub(now)), func(f workflow.Future) { fired = f.Get(ctx, nil) == nil })
		sel.AddReceive(deadlineMoved, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.Select(ctx)
		cancel()
		if !fired {
			continue // the deadline moved: arm the alarms again
		}
		raised[next.key] = true
		if st.Status == StatusReplied || st.Status == StatusWithdrawn || st.Status == StatusIdentityNotVerified {
			return
		}
		st.Alarms = append(st.Alarms, next.kind+" "+next.at.Format("2006-01-02"))
		if err := workflow.ExecuteActivity(ctx, activities.Raise, Alarm{RequestID: requestID, Kind: next.kind, Deadline: st.Deadline}).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("alarm not raised", "kind", next.kind, "error", err)
		}
	}
}

// restrictionLifecycle keeps a restriction open after the reply: the data are only stored until
// the restriction is lifted, and the subject must be told before it is lifted (Art 18(3)), so the
// lift is refused until the notice has gone out.
func restrictionLifecycle(ctx workflow.Context, in Input, st *State) error {
	st.Status = StatusRestricted
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSendLiftNotice,
		func(ctx workflow.Context, l LiftInput) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			l.RequestID = in.RequestID
			if err := workflow.ExecuteActivity(ctx, activities.SendLiftNotice, l).Get(ctx, nil); err != nil {
				return State{}, fmt.Errorf("lift notice: %w", err)
			}
			st.Status = StatusLiftNoticeSent
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, l LiftInput) error {
			if l.Clerk == "" {
				return errors.New("lift notice: the clerk is required")
			}
			if st.Status != StatusRestricted {
				return fmt.Errorf("lift notice: the request is %s, not restricted", st.Status)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register lift notice: %w", err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateLiftRestriction,
		func(ctx workflow.Context, l LiftInput) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			l.RequestID = in.RequestID
			if err := workflow.ExecuteActivity(ctx, activities.Lift, l).Get(ctx, nil); err != nil {
				return State{}, fmt.Errorf("lift: %w", err)
			}
			st.Status = StatusLifted
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, l LiftInput) error {
			if l.Clerk == "" {
				return errors.New("lift: the clerk is required")
			}
			if st.Status != StatusLiftNoticeSent {
				return errors.New("lift: the subject must be told before a restriction is lifted; send the lift notice first (Art 18(3))")
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register lift: %w", err)
	}
	return workflow.Await(ctx, func() bool { return st.Status == StatusLifted })
}

// awaitAnswers waits until every dispatched register has answered or the internal target date
// comes, whichever is first, and reports whether all answered. A register that has not answered by
// then is named as pending in the reply, never reported as holding no data.
func awaitAnswers(ctx workflow.Context, until time.Time) bool {
	wait := until.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return false
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	answered := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalRegistersAnswered), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		answered = true
	})
	sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) {})
	sel.Select(ctx)
	return answered
}

// awaitIdentity records a request whose subject's identity is not verified, with its deadlines, and
// waits for a clerk's decision: verify-identity makes the subject verified, with the method, and
// intake goes on as for any request; refuse-identity closes the request, the subject told why (Art
// 12(2), 12(4)). Nothing is planned or sent to a register before the identity is verified, but the
// deadline runs from receipt (Art 12(3)), so its alarms and the extension run meanwhile. It reports
// whether the identity was refused.
func awaitIdentity(ctx workflow.Context, in *Input, st *State, lifecycle bool, deadlineMoved workflow.Channel) (bool, error) {
	st.Status = StatusAwaitingIdentity
	var receipt Receipt
	if err := workflow.ExecuteActivity(ctx, activities.RecordReceipt, *in).Get(ctx, &receipt); err != nil {
		return false, fmt.Errorf("record receipt: %w", err)
	}
	st.Deadline = receipt.Deadline
	if lifecycle {
		if err := handleExtension(ctx, *in, st, deadlineMoved); err != nil {
			return false, err
		}
		workflow.Go(ctx, func(ctx workflow.Context) { watchDeadline(ctx, in.RequestID, st, deadlineMoved) })
	}
	deciding, verified, refused := false, false, false
	undecided := func() error {
		if deciding || verified || refused || st.Status != StatusAwaitingIdentity {
			return errors.New("identity: already decided for this request")
		}
		return nil
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateVerifyIdentity,
		func(ctx workflow.Context, v IdentityVerification) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			deciding = true
			err := workflow.ExecuteActivity(ctx, activities.VerifyIdentity, VerifyIdentityInput{RequestID: in.RequestID, Verification: v}).Get(ctx, nil)
			deciding = false
			if err != nil {
				return State{}, fmt.Errorf("verify identity: %w", err)
			}
			in.Subject.IdentityLevel, in.Subject.IdentityMethod = IdentityVerified, v.Method
			st.Status, st.IdentityMethod = StatusReceived, v.Method
			verified = true
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, v IdentityVerification) error {
			if err := CheckVerification(v); err != nil {
				return err
			}
			return undecided()
		}})
	if err != nil {
		return false, fmt.Errorf("register verify identity: %w", err)
	}
	err = workflow.SetUpdateHandlerWithOptions(ctx, UpdateRefuseIdentity,
		func(ctx workflow.Context, x IdentityRefusal) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			deciding = true
			err := workflow.ExecuteActivity(ctx, activities.RefuseIdentity, RefuseIdentityInput{RequestID: in.RequestID, Refusal: x}).Get(ctx, nil)
			deciding = false
			if err != nil {
				return State{}, fmt.Errorf("refuse identity: %w", err)
			}
			st.Status = StatusIdentityNotVerified
			refused = true
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, x IdentityRefusal) error {
			if err := CheckRefusal(x); err != nil {
				return err
			}
			return undecided()
		}})
	if err != nil {
		return false, fmt.Errorf("register refuse identity: %w", err)
	}
	if err := workflow.Await(ctx, func() bool { return verified || refused }); err != nil {
		return false, err
	}
	if refused {
		return true, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	return false, nil
}
