package request

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// attentionEnv is a workflow test environment whose intake fails the given number of times with
// fail, then dispatches to no register; recorded collects what RecordAttention was given.
func attentionEnv(t *testing.T, failures int, fail error, recorded *[]AttentionInput) (*testsuite.TestWorkflowEnvironment, *int) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(received)
	e.RegisterWorkflow(Workflow)
	e.RegisterActivity(&Activities{})
	calls := 0
	e.OnActivity(activities.Intake, mock.Anything, mock.Anything).Return(func(context.Context, Input) (IntakeResult, error) {
		calls++
		if calls <= failures {
			return IntakeResult{}, fail
		}
		return IntakeResult{}, nil
	})
	e.OnActivity(activities.RecordAttention, mock.Anything, mock.Anything).Return(func(_ context.Context, in AttentionInput) error {
		*recorded = append(*recorded, in)
		return nil
	})
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	return e, &calls
}

// A step whose data the store refuses is not retried: the request needs attention, shows which
// step, and waits for a clerk's retry; the deadline's alarms keep running meanwhile.
func TestAStepThatCannotSucceedNeedsAttentionUntilAClerkRetriesIt(t *testing.T) {
	var recorded []AttentionInput
	poisoned := temporal.NewNonRetryableApplicationError("intake: refused; retrying cannot help", permanentType, nil)
	e, calls := attentionEnv(t, 1, poisoned, &recorded)
	e.RegisterDelayedCallback(func() {
		st := stateOf(t, e)
		if st.Attention == nil || st.Attention.Step != StepIntake || st.Attention.Trouble != TroubleRefused {
			t.Errorf("state after a refused intake = %+v, want it needing attention at intake", st)
		}
		if *calls != 1 {
			t.Errorf("a refused intake ran %d times, want once: retrying cannot help", *calls)
		}
		expectUpdate(t, e, UpdateRetry, Retry{}, true) // no clerk named
		expectUpdate(t, e, UpdateRetry, Retry{Clerk: "Kaisa"}, false)
	}, 3*24*time.Hour)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Attention != nil || st.Status != StatusInReview {
			t.Errorf("state after the retry = %+v, want in review with nothing needing attention", st)
		}
		expectUpdate(t, e, UpdateRetry, Retry{Clerk: "Kaisa"}, true) // nothing needs attention now
		approve(t, e, "Kaisa", false)
	}, 4*24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if *calls != 2 {
		t.Errorf("intake ran %d times, want twice: once refused, once after the retry", *calls)
	}
	if len(recorded) != 3 || recorded[0].Attention == nil || recorded[1].RetriedBy != "Kaisa" || recorded[2].Attention != nil {
		t.Errorf("attention recorded %+v, want needed, retried by Kaisa, cleared", recorded)
	}
}

// A step whose server stays down through all its retries needs attention too, and is tried again
// on its own an hour later.
func TestAStepWhoseServerWasDownIsTriedAgainOnItsOwn(t *testing.T) {
	var recorded []AttentionInput
	e, calls := attentionEnv(t, int(activityOptions.RetryPolicy.MaximumAttempts), temporal.NewApplicationError("store down", "Unavailable"), &recorded)
	e.RegisterDelayedCallback(func() {
		st := stateOf(t, e)
		if st.Attention == nil || st.Attention.Trouble != TroubleUnavailable || st.Status != StatusReceived {
			t.Errorf("state while the store is down = %+v, want it needing attention, the store unavailable", st)
		}
	}, 30*time.Minute)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Attention != nil || st.Status != StatusInReview {
			t.Errorf("state two hours on = %+v, want intake tried again on its own, and in review", st)
		}
		approve(t, e, "Kaisa", false)
	}, 2*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if int32(*calls) != activityOptions.RetryPolicy.MaximumAttempts+1 {
		t.Errorf("intake ran %d times, want its retries spent, then once more", *calls)
	}
	if len(recorded) != 2 || recorded[0].Attention == nil || recorded[1].Attention != nil {
		t.Errorf("attention recorded %+v, want needed, then cleared by the step that succeeded", recorded)
	}
}

// A subject may withdraw a request that waits for attention: the step is not tried again.
func TestARequestNeedingAttentionCanBeWithdrawn(t *testing.T) {
	var recorded []AttentionInput
	poisoned := temporal.NewNonRetryableApplicationError("intake: refused", permanentType, nil)
	e, calls := attentionEnv(t, 10, poisoned, &recorded)
	e.OnActivity(activities.Withdraw, mock.Anything, mock.Anything).Return(WithdrawResult{}, nil)
	e.RegisterDelayedCallback(func() { expectUpdate(t, e, UpdateWithdraw, Withdrawal{Channel: ChannelWeb}, false) }, time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusWithdrawn || *calls != 1 {
		t.Fatalf("result %+v, %v after %d intakes; want withdrawn after one", res, err, *calls)
	}
}

// The validators refuse what the activities behind them would refuse, so no update is accepted
// only to fail for good: an approval whose note holds a NUL is refused field by field, and the
// request takes a good approval after it.
func TestAnUpdateWithTextTheStoreWouldRefuseIsRefusedUpFront(t *testing.T) {
	e := env(t, 0)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	replies := 0
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(func(context.Context, ReplyInput) error {
		replies++
		return nil
	})
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateApproveReply, "poisoned", &testsuite.TestUpdateCallback{
			OnReject: func(err error) {
				if !strings.Contains(err.Error(), "invalid input") {
					t.Errorf("refused with %v", err)
				}
			},
			OnAccept:   func() { t.Error("an approval with a NUL in its note was accepted") },
			OnComplete: func(any, error) {},
		}, Approval{Clerk: "Kaisa", Note: "ok\x00"})
		// (Invalid UTF-8 never reaches a validator: JSON carries it as U+FFFD. Client refuses it.)
		for _, bad := range []Extension{{Clerk: "Kaisa", Reasons: "a\x07b", Months: 1}, {Clerk: "Kaisa", Reasons: strings.Repeat("x", MaxReasons+1), Months: 1}} {
			expectUpdate(t, e, UpdateExtendDeadline, bad, true)
		}
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Clerk: "Kaisa", Method: "passport\x1b"}, true)
		approve(t, e, "Kaisa", false)
	}, time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil || replies != 1 {
		t.Fatalf("workflow ended %v after %d replies, want replied once", err, replies)
	}
}
