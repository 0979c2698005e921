package request

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// activities is only used to name activity methods; the worker registers the real one.
var activities *Activities

// activityOptions wait store and bus outages out: the request must not be lost, and the deadline
// logic, not a retry limit, decides when to answer without a register.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// Workflow carries one request through receipt, the rules, dispatch to the registers, collection,
// the office's review and the reply. Its log lines carry ids and statuses only: the subject's data
// never enters a log, and enters history only through the encrypting codec.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	log := workflow.GetLogger(ctx)
	st := &State{Status: StatusReceived}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return *st, nil }); err != nil {
		return Result{}, fmt.Errorf("register query: %w", err)
	}

	ctx = workflow.WithActivityOptions(ctx, activityOptions)

	var intake IntakeResult
	if err := workflow.ExecuteActivity(ctx, activities.Intake, in).Get(ctx, &intake); err != nil {
		return Result{}, fmt.Errorf("intake: %w", err)
	}
	st.Deadline, st.Plans = intake.Deadline, intake.Plans
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

	replying := false
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproveReply,
		func(ctx workflow.Context, a Approval) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			replying = true
			err := workflow.ExecuteActivity(ctx, activities.Reply, ReplyInput{RequestID: in.RequestID, Approval: a}).Get(ctx, nil)
			if err != nil {
				replying = false
				return State{}, fmt.Errorf("reply: %w", err)
			}
			st.Status, st.RepliedBy = StatusReplied, a.Clerk
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a Approval) error {
			switch {
			case a.Clerk == "":
				return errors.New("approval: the approving clerk is required")
			case replying || st.Status == StatusReplied:
				return errors.New("approval: the reply has already been approved")
			case st.Status != StatusInReview:
				return fmt.Errorf("approval: the request is %s, not in review", st.Status)
			}
			return nil
		}})
	if err != nil {
		return Result{}, fmt.Errorf("register update: %w", err)
	}
	if err := workflow.Await(ctx, func() bool { return st.Status == StatusReplied && workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	return Result{Status: st.Status, RepliedBy: st.RepliedBy}, nil
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
