package request

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/contracts"
)

var (
	received = time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)
	// The deadline and the internal target are days in Finland: 1 June and 29 May 2026, from midnight
	// in Helsinki.
	legalDeadline  = ReceiptOf(received).Deadline
	internalTarget = ReceiptOf(received).InternalTarget
)

func input() Input {
	return Input{RequestID: "0195d5c8-8d3e-7c1a-9f00-000000000001", ReceivedAt: received, Channel: ChannelWeb, Receipt: ReceiptOf(received),
		Request: contracts.SubmitRequest{Right: contracts.RightAccess, Language: "fi"}}
}

// env is a workflow test environment whose intake dispatched to the given number of registers.
func env(t *testing.T, dispatched int) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(received)
	e.RegisterWorkflow(Workflow)
	e.RegisterActivity(&Activities{})
	e.OnActivity(activities.Intake, mock.Anything, mock.Anything).Return(IntakeResult{Dispatched: dispatched}, nil)
	return e
}

// helsinki is where the deadline's days are counted.
var helsinki, _ = time.LoadLocation("Europe/Helsinki")

// day is the day in Finland that a moment falls on.
func day(t time.Time) string { return t.In(helsinki).Format("2006-01-02") }

// continued returns the input that a run continued as new with, failing the test if it did not.
func continued(t *testing.T, e *testsuite.TestWorkflowEnvironment) Input {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(e.GetWorkflowError(), &can) {
		t.Fatalf("the run ended with %v, want it continued as new", e.GetWorkflowError())
	}
	if can.WorkflowType.Name != WorkflowName {
		t.Fatalf("continued as %s", can.WorkflowType.Name)
	}
	var in Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// restrictionEnv is a test environment for a restriction's own run, started when at.
func restrictionEnv(at time.Time) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(at)
	e.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	e.RegisterActivity(&Activities{})
	return e
}

var updateSeq int

// approve sends the office's approval and checks the workflow's answer.
func approve(t *testing.T, e *testsuite.TestWorkflowEnvironment, clerk string, wantErr bool) {
	t.Helper()
	updateSeq++
	e.UpdateWorkflow(UpdateApproveReply, fmt.Sprint("approval-", updateSeq), &testsuite.TestUpdateCallback{
		OnReject: func(err error) {
			if !wantErr {
				t.Errorf("approval by %q rejected: %v", clerk, err)
			}
		},
		OnAccept: func() {
			if wantErr {
				t.Errorf("approval by %q accepted, want rejected", clerk)
			}
		},
		OnComplete: func(_ any, err error) {
			if err != nil && !wantErr {
				t.Errorf("approval by %q failed: %v", clerk, err)
			}
		},
	}, Approval{Clerk: clerk})
}

func TestEveryRegisterAnswersThenTheClerkApproves(t *testing.T) {
	e := env(t, 2)
	var reviewedAt time.Time
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(func(context.Context, string) (ReviewResult, error) {
		reviewedAt = e.Now()
		return ReviewResult{}, nil
	})
	var replied ReplyInput
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(func(_ context.Context, ri ReplyInput) error {
		replied = ri
		return nil
	})
	e.RegisterDelayedCallback(func() {
		approve(t, e, "Kaisa", true) // not in review yet: still collecting
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 2})
	}, time.Hour)
	e.RegisterDelayedCallback(func() {
		approve(t, e, "", true)
		approve(t, e, "Kaisa", false)
	}, 2*time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa again", true) }, 3*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("workflow did not complete: %v", e.GetWorkflowError())
	}
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusReplied || res.RepliedBy != "Kaisa" {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if want := received.Add(time.Hour); !reviewedAt.Equal(want) {
		t.Errorf("review began at %v, want when the answers were in, %v", reviewedAt, want)
	}
	if replied.Approval.Clerk != "Kaisa" {
		t.Errorf("reply approved by %q", replied.Approval.Clerk)
	}
}

func TestASilentRegisterIsPendingAtTheInternalTarget(t *testing.T) {
	e := env(t, 2)
	var reviewedAt time.Time
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(func(context.Context, string) (ReviewResult, error) {
		reviewedAt = e.Now()
		return ReviewResult{Pending: []string{"koronavilkku"}}, nil
	})
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	var state State
	e.RegisterDelayedCallback(func() {
		v, err := e.QueryWorkflow(QueryState)
		if err == nil {
			err = v.Get(&state)
		}
		if err != nil {
			t.Error(err)
		}
		approve(t, e, "Kaisa", false)
	}, 40*24*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !reviewedAt.Equal(internalTarget) {
		t.Errorf("review began at %v, want the internal target %v", reviewedAt, internalTarget)
	}
	if state.Status != StatusInReview || len(state.Pending) != 1 || state.Pending[0] != "koronavilkku" {
		t.Errorf("state in review = %+v, want koronavilkku pending", state)
	}
}

func TestNoRegisterToAskGoesStraightToReview(t *testing.T) {
	e := env(t, 0)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, time.Minute)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

func TestAFailedReplyCanBeApprovedAgain(t *testing.T) {
	e := env(t, 0)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	calls := 0
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(func(context.Context, ReplyInput) error {
		calls++
		if calls == 1 {
			return fmt.Errorf("store down")
		}
		return nil
	})
	e.SetTestTimeout(time.Minute)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, time.Minute)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil || calls != 2 {
		t.Fatalf("a reply that failed once: %v after %d calls; want it retried and done", err, calls)
	}
}
