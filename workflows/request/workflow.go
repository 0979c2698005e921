package request

import (
	"errors"
	"fmt"
	"slices"
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

	var receipt Receipt
	if err := workflow.ExecuteActivity(ctx, activities.RecordReceipt, in).Get(ctx, &receipt); err != nil {
		return Result{}, fmt.Errorf("record receipt: %w", err)
	}
	st.Deadline = receipt.Deadline

	if err := workflow.ExecuteActivity(ctx, activities.Plan, PlanInput{RequestID: in.RequestID}).Get(ctx, &st.Plans); err != nil {
		return Result{}, fmt.Errorf("plan: %w", err)
	}
	var dispatch []RegisterPlan
	for _, p := range st.Plans {
		if p.Dispatch {
			dispatch = append(dispatch, p)
			st.Pending = append(st.Pending, p.RegisterID)
		}
	}
	if len(dispatch) > 0 {
		in := DispatchInput{RequestID: in.RequestID, Plans: dispatch, Deadline: receipt.Deadline}
		if err := workflow.ExecuteActivity(ctx, activities.Dispatch, in).Get(ctx, nil); err != nil {
			return Result{}, fmt.Errorf("dispatch: %w", err)
		}
		st.Status = StatusDispatched
	}

	collect(ctx, st, receipt.InternalTarget)
	if len(st.Pending) > 0 {
		log.Warn("collection ended with registers pending", "pending", st.Pending)
	}
	if err := workflow.ExecuteActivity(ctx, activities.Review, ReviewInput{RequestID: in.RequestID, Pending: st.Pending}).Get(ctx, nil); err != nil {
		return Result{}, fmt.Errorf("review: %w", err)
	}
	st.Status = StatusInReview

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

// collect receives the registers' results until every dispatched register has answered or the
// internal target date comes, whichever is first. A register that has not answered by then stays in
// st.Pending: it is named as pending in the reply, never reported as holding no data.
func collect(ctx workflow.Context, st *State, until time.Time) {
	results := workflow.GetSignalChannel(ctx, SignalRegisterResult)
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timedOut := false
	wait := until.Sub(workflow.Now(ctx))
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(results, func(c workflow.ReceiveChannel, _ bool) {
		var r RegisterResult
		c.Receive(ctx, &r)
		if i := slices.Index(st.Pending, r.RegisterID); i >= 0 && r.Status != "" {
			st.Pending = slices.Delete(st.Pending, i, i+1)
			st.Answered = append(st.Answered, r.RegisterID)
		}
	})
	if wait > 0 {
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) { timedOut = true })
	} else {
		timedOut = true
	}
	for len(st.Pending) > 0 && !timedOut {
		sel.Select(ctx)
	}
}
