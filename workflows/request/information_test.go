package request

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

var (
	phone   = contracts.Identifier{Type: contracts.IdentifierPhone, Value: "+358401110001"}
	waiting = RegisterPlan{RegisterID: "koronavilkku", Right: contracts.RightAccess, Outcome: rules.CodeCannotIdentify,
		Identifiers: []contracts.IdentifierType{contracts.IdentifierPhone}}
	clinic = RegisterPlan{RegisterID: "clinic", Right: contracts.RightAccess, Operation: contracts.OpLookup,
		Outcome: rules.CodeDispatch, Dispatch: true, Identifiers: []contracts.IdentifierType{contracts.IdentifierEmail}}
)

// envWith is a workflow test environment whose intake planned the given registers.
func envWith(t *testing.T, plans ...RegisterPlan) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(received)
	e.RegisterWorkflow(Workflow)
	e.RegisterActivity(&Activities{})
	dispatched := 0
	for _, p := range plans {
		if p.Dispatch {
			dispatched++
		}
	}
	e.OnActivity(activities.Intake, mock.Anything, mock.Anything).Return(IntakeResult{Plans: plans, Dispatched: dispatched}, nil)
	raised = nil
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(func(_ context.Context, a Alarm) error {
		raised = append(raised, string(a.Kind)+" "+day(e.Now()))
		return nil
	})
	return e
}

// raised are the alarms the last environment of envWith raised, with the day each was raised.
var raised []string

// stateOf queries the workflow's state.
func stateOf(t *testing.T, e *testsuite.TestWorkflowEnvironment) State {
	t.Helper()
	var st State
	v, err := e.QueryWorkflow(QueryState)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// reviews records when each review began.
func reviews(e *testsuite.TestWorkflowEnvironment, pending ...string) *[]time.Time {
	var at []time.Time
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(func(context.Context, string) (ReviewResult, error) {
		at = append(at, e.Now())
		return ReviewResult{Pending: pending}, nil
	})
	return &at
}

// supplied answers the supply activity as if the register had been dispatched to.
func supplied(e *testsuite.TestWorkflowEnvironment) *[]SupplyInput {
	var got []SupplyInput
	e.OnActivity(activities.SupplyIdentifier, mock.Anything, mock.Anything).Return(func(_ context.Context, s SupplyInput) (SupplyResult, error) {
		got = append(got, s)
		p := waiting
		p.Outcome, p.Dispatch, p.Operation = rules.CodeDispatch, true, contracts.OpLookup
		return SupplyResult{Plans: []RegisterPlan{p}, Dispatched: 1}, nil
	})
	return &got
}

func TestAWaitingRegisterIsSearchedOnceTheSubjectSuppliesTheIdentifier(t *testing.T) {
	e := envWith(t, clinic, waiting)
	var asked []InformationRequest
	e.OnActivity(activities.AskForInformation, mock.Anything, mock.Anything).Return(func(_ context.Context, r InformationRequest) error {
		asked = append(asked, r)
		return nil
	})
	reviewed := reviews(e)
	supplies := supplied(e)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)

	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusAwaitingInformation || len(st.Waiting) != 1 || st.Waiting[0].RegisterID != "koronavilkku" {
			t.Errorf("state after intake = %+v, want awaiting information from koronavilkku", st)
		}
		for _, bad := range []Supply{
			{Identifier: contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: "150385-9013"}},
			{Identifier: contracts.Identifier{Type: contracts.IdentifierPhone, Value: "040 123"}},
			{Identifier: contracts.Identifier{Type: contracts.IdentifierEmail, Value: "aino@example.fi"}}, // nobody waits for an address
		} {
			expectUpdate(t, e, UpdateSupplyIdentifier, bad, true)
		}
		expectUpdate(t, e, UpdateSupplyIdentifier, Supply{Identifier: phone, Channel: "web"}, false)
	}, time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusDispatched || len(st.Waiting) != 0 || !st.Plans[1].Dispatch {
			t.Errorf("state after the supply = %+v, want dispatched to koronavilkku, nothing waiting", st)
		}
		approve(t, e, "Kaisa", true)                                      // collecting: not in review
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) // the clinic's answer, counted before Koronavilkku was dispatched
	}, 2*time.Hour)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 2})
	}, 3*time.Hour)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateSupplyIdentifier, Supply{Identifier: phone, Channel: ChannelWeb}, true) // nothing waits any more
		approve(t, e, "Kaisa", false)
	}, 4*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || len(asked[0].Registers) != 1 || asked[0].Registers[0].RegisterID != "koronavilkku" {
		t.Errorf("the subject was asked %+v, want once, for koronavilkku", asked)
	}
	if len(*supplies) != 1 || !slices.Equal((*supplies)[0].Registers, []string{"koronavilkku"}) || (*supplies)[0].StillWaiting {
		t.Errorf("supplies %+v, want one for koronavilkku with nothing else waiting", *supplies)
	}
	if want := received.Add(3 * time.Hour); len(*reviewed) != 1 || !(*reviewed)[0].Equal(want) {
		t.Errorf("reviews began at %v, want once, when Koronavilkku had answered too, %v", *reviewed, want)
	}
}

// Without a supply the request goes on as before: to review once the dispatched registers have
// answered (or at the internal target), the waiting register concluded as the rules decided. After
// the reply, nothing can be added or withdrawn, also in a restriction's own run.
func TestWithoutASupplyTheRequestGoesOnAndNothingIsAddedAfterTheReply(t *testing.T) {
	e := envWith(t, clinic, waiting)
	in := input()
	in.Request.Right = contracts.RightRestriction // goes on after the reply
	e.OnActivity(activities.AskForInformation, mock.Anything, mock.Anything).Return(nil)
	reviewed := reviews(e)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) }, time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusInReview || len(st.Waiting) != 1 {
			t.Errorf("state once the clinic answered = %+v, want in review, koronavilkku still waiting", st)
		}
		approve(t, e, "Kaisa", false)
	}, 30*24*time.Hour)
	e.ExecuteWorkflow(Workflow, in)
	next := continued(t, e)
	if want := received.Add(time.Hour); len(*reviewed) != 1 || !(*reviewed)[0].Equal(want) {
		t.Errorf("reviews began at %v, want once, when the clinic answered, %v", *reviewed, want)
	}

	r := restrictionEnv(received.Add(30 * 24 * time.Hour))
	r.OnActivity(activities.SupplyIdentifier, mock.Anything, mock.Anything).Return(SupplyResult{}, nil)
	r.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(WithdrawResult{}, nil)
	r.OnActivity(activities.SendLiftNotice, mock.Anything, mock.Anything).Return(nil)
	r.OnActivity(activities.Lift, mock.Anything, mock.Anything).Return(nil)
	r.RegisterDelayedCallback(func() {
		if st := stateOf(t, r); st.Status != StatusRestricted {
			t.Errorf("status after the reply = %s, want restricted", st.Status)
		}
		expectUpdate(t, r, UpdateSupplyIdentifier, Supply{Identifier: phone, Channel: ChannelWeb}, true)
		expectUpdate(t, r, UpdateWithdraw, Withdrawal{Channel: "web"}, true)
		expectUpdate(t, r, UpdateSendLiftNotice, Lift{Clerk: "Kaisa"}, false)
	}, 24*time.Hour)
	r.RegisterDelayedCallback(func() { expectUpdate(t, r, UpdateLiftRestriction, Lift{Clerk: "Kaisa"}, false) }, 2*24*time.Hour)
	r.ExecuteWorkflow(WorkflowName, next)
	if err := r.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	r.AssertNotCalled(t, "SupplyIdentifier", mock.Anything, mock.Anything)
	r.AssertNotCalled(t, "Withdraw", mock.Anything, mock.Anything)
}

func TestASupplyDuringReviewSendsTheCaseBackToCollecting(t *testing.T) {
	e := envWith(t, clinic, waiting)
	e.OnActivity(activities.AskForInformation, mock.Anything, mock.Anything).Return(nil)
	reviewed := reviews(e)
	supplies := supplied(e)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) }, time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusInReview || len(st.Waiting) != 1 {
			t.Errorf("state in review = %+v, want in review with koronavilkku still waiting", st)
		}
		expectUpdate(t, e, UpdateSupplyIdentifier, Supply{Identifier: phone, Channel: "api"}, false)
	}, 2*time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusDispatched {
			t.Errorf("status after a supply in review = %s, want dispatched", st.Status)
		}
		approve(t, e, "Kaisa", true)
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 2})
	}, 3*time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 4*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{received.Add(time.Hour), received.Add(3 * time.Hour)}
	if !slices.EqualFunc(*reviewed, want, time.Time.Equal) {
		t.Errorf("reviews began at %v, want %v", *reviewed, want)
	}
	if len(*supplies) != 1 || (*supplies)[0].Channel != "api" {
		t.Errorf("supplies %+v", *supplies)
	}
}

func TestARegisterDispatchedLateHasUntilTheDayBeforeTheDeadline(t *testing.T) {
	e := envWith(t, waiting)
	e.OnActivity(activities.AskForInformation, mock.Anything, mock.Anything).Return(nil)
	reviewed := reviews(e, "koronavilkku")
	supplied(e)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateSupplyIdentifier, Supply{Identifier: phone, Channel: ChannelWeb}, false)
	}, internalTarget.Sub(received)+time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 40*24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{received, legalDeadline.AddDate(0, 0, -1)}
	if !slices.EqualFunc(*reviewed, want, time.Time.Equal) {
		t.Errorf("reviews began at %v, want %v", *reviewed, want)
	}
}

func TestWithdrawalStopsCollectionAndTheAlarms(t *testing.T) {
	e := envWith(t, clinic)
	var withdrawn []WithdrawInput
	e.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(func(_ context.Context, w WithdrawInput) (WithdrawResult, error) {
		withdrawn = append(withdrawn, w)
		return WithdrawResult{Cancelled: []string{"clinic"}}, nil
	})
	var state State
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateWithdraw, "withdraw", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("withdrawal refused: %v", err) },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Errorf("withdrawal failed: %v", err)
				} else {
					state = v.(State)
				}
			},
		}, Withdrawal{Channel: "web"})
	}, 26*24*time.Hour) // after the first reminder, 25 May
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusWithdrawn {
		t.Fatalf("result %+v, %v; want withdrawn", res, err)
	}
	if len(withdrawn) != 1 || withdrawn[0].Channel != "web" || withdrawn[0].RequestID != input().RequestID {
		t.Errorf("withdrawals %+v", withdrawn)
	}
	if !slices.Equal(raised, []string{"deadline_reminder 2026-05-25"}) {
		t.Errorf("alarms %v, want only the one before the withdrawal", raised)
	}
	if state.Status != StatusWithdrawn || state.Withdrawal == nil || !slices.Equal(state.Withdrawal.Cancelled, []string{"clinic"}) {
		t.Errorf("state after the withdrawal = %+v", state)
	}
	e.AssertNotCalled(t, "Review", mock.Anything, mock.Anything)
	e.AssertNotCalled(t, "Reply", mock.Anything, mock.Anything)
}

func TestWithdrawalInReviewAndRefusedAfterTheReply(t *testing.T) {
	t.Run("in review", func(t *testing.T) {
		e := envWith(t, clinic)
		reviews(e)
		e.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(WithdrawResult{Answered: []string{"clinic"}}, nil)
		e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) }, time.Hour)
		e.RegisterDelayedCallback(func() {
			expectUpdate(t, e, UpdateWithdraw, Withdrawal{Channel: "api"}, false)
		}, 2*time.Hour)
		e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", true) }, 3*time.Hour)
		e.ExecuteWorkflow(Workflow, input())
		var res Result
		if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusWithdrawn {
			t.Fatalf("result %+v, %v; want withdrawn", res, err)
		}
		e.AssertNotCalled(t, "Reply", mock.Anything, mock.Anything)
	})
	t.Run("refused after the reply", func(t *testing.T) {
		e := envWith(t)
		in := input()
		in.Request.Right = contracts.RightRestriction
		reviews(e)
		e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
		e.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(WithdrawResult{}, nil)
		e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, time.Hour)
		e.ExecuteWorkflow(Workflow, in)
		r := restrictionEnv(received.Add(time.Hour))
		r.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(WithdrawResult{}, nil)
		r.OnActivity(activities.SendLiftNotice, mock.Anything, mock.Anything).Return(nil)
		r.OnActivity(activities.Lift, mock.Anything, mock.Anything).Return(nil)
		r.RegisterDelayedCallback(func() {
			expectUpdate(t, r, UpdateWithdraw, Withdrawal{Channel: "web"}, true)
			expectUpdate(t, r, UpdateSendLiftNotice, Lift{Clerk: "Kaisa"}, false)
		}, time.Hour)
		r.RegisterDelayedCallback(func() { expectUpdate(t, r, UpdateLiftRestriction, Lift{Clerk: "Kaisa"}, false) }, 2*time.Hour)
		r.ExecuteWorkflow(WorkflowName, continued(t, e))
		var res Result
		if err := r.GetWorkflowResult(&res); err != nil || res.Status != StatusLifted {
			t.Fatalf("result %+v, %v; want lifted", res, err)
		}
		e.AssertNotCalled(t, "Withdraw", mock.Anything, mock.Anything)
		r.AssertNotCalled(t, "Withdraw", mock.Anything, mock.Anything)
	})
	t.Run("a failed withdrawal can be asked again", func(t *testing.T) {
		e := envWith(t, clinic)
		calls := 0
		e.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(func(context.Context, WithdrawInput) (WithdrawResult, error) {
			calls++
			if calls == 1 {
				return WithdrawResult{}, errors.New("store down")
			}
			return WithdrawResult{}, nil
		})
		e.SetTestTimeout(time.Minute)
		e.RegisterDelayedCallback(func() { expectUpdate(t, e, UpdateWithdraw, Withdrawal{Channel: "web"}, false) }, time.Hour)
		e.ExecuteWorkflow(Workflow, input())
		var res Result
		if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusWithdrawn || calls != 2 {
			t.Fatalf("result %+v, %v after %d calls; want withdrawn after a retry", res, err, calls)
		}
	})
}

// TestALateAnswerIsConcludedBeforeTheReply: the clinic has not answered by the internal target, so
// the review names it as pending; its answer comes while the case waits for the office's approval,
// and the case is reviewed again, so that the reply carries the answer instead of "pending".
func TestALateAnswerIsConcludedBeforeTheReply(t *testing.T) {
	e := envWith(t, clinic)
	reviewed := reviews(e, "clinic")
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	late := internalTarget.Sub(received) + 24*time.Hour
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) }, late)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, late+time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{internalTarget, received.Add(late)}
	if !slices.EqualFunc(*reviewed, want, time.Time.Equal) {
		t.Errorf("reviews began at %v, want %v: the late answer must be concluded before the reply", *reviewed, want)
	}
}
