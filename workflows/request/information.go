package request

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/contracts"
)

// run is a request under changeInformation: after intake, registers that could be searched with an
// identifier the subject has not given wait for it (Art 11(2), 12(6)), the subject may supply one
// until the reply, and the subject may withdraw the request until the reply.
type run struct {
	in        Input
	st        *State
	lifecycle bool
	g         guards

	// internalTarget ends collection, as before; lateUntil, when later, gives registers dispatched
	// after the internal target (the subject supplied an identifier late) their time to answer.
	internalTarget, lateUntil time.Time
	// total is how many registers a task went to; answered, how many of them have answered.
	total, answered int
	// seq changes whenever an answer or a supply changes what collection waits for.
	seq int
	// reviewing is set while the Review activity runs, so that a supply does not overlap it;
	// reopened sends a case in review back to collection after a supply.
	reviewing, reopened, withdrawn bool
	// lateAnswers (changeLateAnswers) reviews the case again when the registers it named as pending
	// answer before the reply.
	lateAnswers bool
}

// finish carries the request from the end of intake to its end: collection (which a supplied
// identifier may extend or reopen), review, the reply, or the withdrawal.
func (r *run) finish(ctx workflow.Context, intake IntakeResult) (Result, error) {
	st := r.st
	r.lateAnswers = workflow.GetVersion(ctx, changeLateAnswers, workflow.DefaultVersion, lateAnswersV1) >= lateAnswersV1
	for _, p := range intake.Plans {
		if types := p.Waits(); len(types) > 0 {
			st.Waiting = append(st.Waiting, WaitingRegister{RegisterID: p.RegisterID, Identifiers: types})
		}
	}
	workflow.Go(ctx, r.takeAnswers)
	if err := r.handleSupply(ctx); err != nil {
		return Result{}, err
	}
	if err := r.handleWithdraw(ctx); err != nil {
		return Result{}, err
	}
	if err := handleApproval(ctx, r.in, st, &r.g); err != nil {
		return Result{}, err
	}
	if len(st.Waiting) > 0 {
		st.Status = StatusAwaitingInformation
		ask := InformationRequest{RequestID: r.in.RequestID, Registers: slices.Clone(st.Waiting)}
		if err := workflow.ExecuteActivity(ctx, activities.AskForInformation, ask).Get(ctx, nil); err != nil {
			return Result{}, fmt.Errorf("ask for information: %w", err)
		}
	}
	for {
		if err := r.collect(ctx); err != nil {
			return Result{}, err
		}
		if r.withdrawn {
			break
		}
		r.reviewing = true // collect returned with no supply under way; none starts before the review is done
		var review ReviewResult
		err := workflow.ExecuteActivity(ctx, activities.Review, r.in.RequestID).Get(ctx, &review)
		r.reviewing = false
		if err != nil {
			return Result{}, fmt.Errorf("review: %w", err)
		}
		if r.withdrawn {
			break
		}
		st.Pending = review.Pending
		if r.reopened {
			r.reopened = false
			continue // an identifier came while the review was being prepared
		}
		st.Status = StatusInReview
		seq := r.seq
		lateAnswer := func() bool { return r.lateAnswers && len(st.Pending) > 0 && r.seq != seq && !r.g.replying }
		if err := workflow.Await(ctx, func() bool { return st.Status == StatusReplied || r.reopened || r.withdrawn || lateAnswer() }); err != nil {
			return Result{}, err
		}
		if st.Status == StatusReplied || r.withdrawn {
			break
		}
		r.reopened = false // a supply or a late answer: collect what is still owed, then review again
	}
	if r.withdrawn {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return Result{}, err
		}
		return Result{Status: StatusWithdrawn}, nil
	}
	st.Waiting = nil
	if r.lifecycle && r.in.Request.Right == contracts.RightRestriction {
		if err := restrictionLifecycle(ctx, r.in, st); err != nil {
			return Result{}, err
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	return Result{Status: st.Status, RepliedBy: st.RepliedBy}, nil
}

// takeAnswers counts the registers' answers. The result collector signals whenever every awaited
// register has answered, with how many that is; a supply may have dispatched more since.
func (r *run) takeAnswers(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRegistersAnswered)
	for {
		var a Answered
		ch.Receive(ctx, &a)
		n := a.Registers
		if n == 0 {
			n = r.total
		}
		r.answered = max(r.answered, n)
		r.seq++
	}
}

// collect waits until every dispatched register has answered, or until the internal target, when a
// register that has not answered is named as pending. Registers dispatched after the internal
// target (the subject supplied an identifier late) have until the day before the deadline.
//
// It does not hold the reply for registers waiting for information: the reply is owed without undue
// delay (Art 12(3)), and the subject may still supply an identifier while the case is in review,
// which sends it back here. Without one, those registers are concluded as the rules decided at
// intake (cannot identify, Art 11(2)).
func (r *run) collect(ctx workflow.Context) error {
	for !r.withdrawn {
		if r.g.supplying {
			// What collection waits for is about to change: wait for the supply, then judge again.
			if err := workflow.Await(ctx, func() bool { return !r.g.supplying || r.withdrawn }); err != nil {
				return err
			}
			continue
		}
		now := workflow.Now(ctx)
		past := !now.Before(r.internalTarget)
		outstanding := r.answered < r.total
		if !outstanding {
			return nil
		}
		if len(r.st.Waiting) > 0 && !past {
			r.st.Status = StatusAwaitingInformation
		} else {
			r.st.Status = StatusDispatched
		}
		until := r.internalTarget
		if r.lateUntil.After(until) {
			until = r.lateUntil
		}
		wait := until.Sub(now)
		if wait <= 0 {
			workflow.GetLogger(ctx).Warn("collection ended with registers pending")
			return nil
		}
		seq := r.seq
		if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return r.withdrawn || r.seq != seq }); err != nil {
			return err
		}
	}
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

// handleSupply takes an identifier the subject supplies until the reply: the registers waiting for
// its type are evaluated again with it and dispatched to, and collection waits for their answers,
// reopening if the case was in review.
func (r *run) handleSupply(ctx workflow.Context) error {
	st := r.st
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSupplyIdentifier,
		func(ctx workflow.Context, s Supply) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			r.g.supplying = true
			defer func() { r.g.supplying = false }()
			if err := workflow.Await(ctx, func() bool { return !r.reviewing }); err != nil {
				return State{}, err
			}
			registers := r.waitingFor(s.Identifier.Type)
			past := !workflow.Now(ctx).Before(r.internalTarget)
			in := SupplyInput{RequestID: r.in.RequestID, Identifier: s.Identifier, Channel: s.Channel, Registers: registers,
				StillWaiting: len(st.Waiting) > len(registers) && !past}
			var res SupplyResult
			if err := workflow.ExecuteActivity(ctx, activities.SupplyIdentifier, in).Get(ctx, &res); err != nil {
				return State{}, fmt.Errorf("supply: %w", err)
			}
			for _, p := range res.Plans {
				if i := slices.IndexFunc(st.Plans, func(q RegisterPlan) bool { return q.RegisterID == p.RegisterID }); i >= 0 {
					st.Plans[i] = p
				}
				st.Waiting = slices.DeleteFunc(st.Waiting, func(w WaitingRegister) bool { return w.RegisterID == p.RegisterID })
				if types := p.Waits(); len(types) > 0 {
					st.Waiting = append(st.Waiting, WaitingRegister{RegisterID: p.RegisterID, Identifiers: types})
				}
			}
			if res.Dispatched > 0 {
				r.total += res.Dispatched
				if !workflow.Now(ctx).Before(r.internalTarget) {
					r.lateUntil = st.Deadline.AddDate(0, 0, -1)
				}
			}
			if st.Status == StatusInReview {
				// The outcomes change: the case goes back to collection, and then to review again.
				r.reopened = true
				st.Status = StatusDispatched
			}
			r.seq++
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, s Supply) error {
			if ve := CheckSupplied(s.Identifier); ve != nil {
				return fmt.Errorf("supply: %s %s", ve.Fields[0].Field, ve.Fields[0].Message)
			}
			switch {
			case r.g.replying || !st.Status.Open():
				return fmt.Errorf("supply: the request is %s; information can be added only before the reply", closedStatus(st, &r.g))
			case r.g.withdrawing || r.withdrawn:
				return errors.New("supply: the request is being withdrawn")
			case r.g.supplying:
				return errors.New("supply: another identifier is being added; try again in a moment")
			case len(r.waitingFor(s.Identifier.Type)) == 0:
				return fmt.Errorf("supply: no register of this request waits for a %s", s.Identifier.Type)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register supply: %w", err)
	}
	return nil
}

// handleWithdraw takes the subject's withdrawal until the reply: every task not yet answered is
// cancelled through the register's effect record, the withdrawal is recorded, and the request ends.
func (r *run) handleWithdraw(ctx workflow.Context) error {
	st := r.st
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateWithdraw,
		func(ctx workflow.Context, w Withdrawal) (State, error) {
			ctx = workflow.WithActivityOptions(ctx, activityOptions)
			r.g.withdrawing = true
			if err := workflow.Await(ctx, func() bool { return !r.g.supplying }); err != nil {
				r.g.withdrawing = false
				return State{}, err
			}
			var res WithdrawResult
			err := workflow.ExecuteActivity(ctx, activities.Withdraw, WithdrawInput{RequestID: r.in.RequestID, Channel: w.Channel}).Get(ctx, &res)
			if err != nil {
				r.g.withdrawing = false
				return State{}, fmt.Errorf("withdraw: %w", err)
			}
			st.Status, st.Withdrawal, st.Waiting = StatusWithdrawn, &res, nil
			r.withdrawn = true
			return *st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, w Withdrawal) error {
			switch {
			case r.g.withdrawing || r.withdrawn:
				return errors.New("withdraw: the request has already been withdrawn")
			case r.g.replying || !st.Status.Open():
				return fmt.Errorf("withdraw: the request is %s; it can be withdrawn only before the reply", closedStatus(st, &r.g))
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("register withdraw: %w", err)
	}
	return nil
}

// closedStatus names why a request no longer takes the subject's steps.
func closedStatus(st *State, g *guards) Status {
	if g.replying {
		return StatusReplied
	}
	return st.Status
}
