package request

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"kirjaamo.dev/contracts"
)

var received = time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)

func input() Input {
	return Input{RequestID: "0195d5c8-8d3e-7c1a-9f00-000000000001", ReceivedAt: received, Channel: "web",
		Request: contracts.SubmitRequest{Right: contracts.RightAccess, Language: "fi"}}
}

// env is a workflow test environment whose activities answer as a healthy platform would.
func env(t *testing.T, plans []RegisterPlan) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(received)
	e.RegisterWorkflow(Workflow)
	e.RegisterActivity(&Activities{})
	e.OnActivity(activities.RecordReceipt, mock.Anything, mock.Anything).Return(Receipt{
		Deadline: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), InternalTarget: time.Date(2026, 5, 29, 0, 0, 0, 0, time.UTC)}, nil)
	e.OnActivity(activities.Plan, mock.Anything, mock.Anything).Return(plans, nil)
	e.OnActivity(activities.Dispatch, mock.Anything, mock.Anything).Return(nil)
	return e
}

func plans(ids ...string) []RegisterPlan {
	var out []RegisterPlan
	for _, id := range ids {
		out = append(out, RegisterPlan{RegisterID: id, Right: contracts.RightAccess, Operation: contracts.OpLookup, Outcome: "dispatch", Dispatch: true})
	}
	return append(out, RegisterPlan{RegisterID: "kela-web-statistics", Right: contracts.RightAccess, Outcome: "no_personal_data"})
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
	e := env(t, plans("kanta-client-register", "clinic-event-invitations"))
	var reviewed ReviewInput
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(func(_ context.Context, ri ReviewInput) error {
		reviewed = ri
		return nil
	})
	var replied ReplyInput
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(func(_ context.Context, ri ReplyInput) error {
		replied = ri
		return nil
	})
	e.RegisterDelayedCallback(func() {
		approve(t, e, "Kaisa", true) // not in review yet: still collecting
		e.SignalWorkflow(SignalRegisterResult, RegisterResult{RegisterID: "kanta-client-register", Status: contracts.StatusFound, Records: 2})
		e.SignalWorkflow(SignalRegisterResult, RegisterResult{RegisterID: "kanta-client-register", Status: contracts.StatusFound, Records: 2})
		e.SignalWorkflow(SignalRegisterResult, RegisterResult{RegisterID: "clinic-event-invitations", Status: contracts.StatusNoData})
	}, time.Minute)
	e.RegisterDelayedCallback(func() {
		approve(t, e, "", true)
		approve(t, e, "Kaisa", false)
	}, time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa again", true) }, 2*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("workflow did not complete: %v", e.GetWorkflowError())
	}
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusReplied || res.RepliedBy != "Kaisa" {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if len(reviewed.Pending) != 0 {
		t.Errorf("registers pending at review: %v, want none", reviewed.Pending)
	}
	if replied.Approval.Clerk != "Kaisa" {
		t.Errorf("reply approved by %q", replied.Approval.Clerk)
	}
}

func TestASilentRegisterIsPendingAtTheInternalTarget(t *testing.T) {
	e := env(t, plans("kanta-client-register", "koronavilkku"))
	var reviewed ReviewInput
	var reviewedAt time.Time
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(func(_ context.Context, ri ReviewInput) error {
		reviewed, reviewedAt = ri, e.Now()
		return nil
	})
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalRegisterResult, RegisterResult{RegisterID: "kanta-client-register", Status: contracts.StatusFound})
	}, time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 40*24*time.Hour)

	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(reviewed.Pending) != 1 || reviewed.Pending[0] != "koronavilkku" {
		t.Fatalf("pending at review = %v, want [koronavilkku]", reviewed.Pending)
	}
	if want := time.Date(2026, 5, 29, 0, 0, 0, 0, time.UTC); !reviewedAt.Equal(want) {
		t.Errorf("review began at %v, want the internal target %v", reviewedAt, want)
	}
}

func TestNoRegisterToAskGoesStraightToReview(t *testing.T) {
	e := env(t, plans())
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, time.Minute)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	e.AssertNotCalled(t, "Dispatch", mock.Anything, mock.Anything)
}
