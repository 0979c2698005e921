package request

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"kirjaamo.dev/contracts"
)

// expectUpdate sends an update and checks, when the workflow answers, that it was refused by the
// validator (wantRefused) or accepted and completed without error.
func expectUpdate(t *testing.T, e *testsuite.TestWorkflowEnvironment, name string, arg any, wantRefused bool) {
	t.Helper()
	updateSeq++
	e.UpdateWorkflow(name, fmt.Sprint(name, "-", updateSeq), &testsuite.TestUpdateCallback{
		OnReject: func(err error) {
			if !wantRefused {
				t.Errorf("%s %+v refused: %v", name, arg, err)
			}
		},
		OnAccept: func() {
			if wantRefused {
				t.Errorf("%s %+v accepted, want refused", name, arg)
			}
		},
		OnComplete: func(_ any, err error) {
			if err != nil && !wantRefused {
				t.Errorf("%s %+v failed: %v", name, arg, err)
			}
		},
	}, arg)
}

func TestExtensionIsRefusedWithoutReasonsOverTwoMonthsOrTwice(t *testing.T) {
	e := env(t, 1)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	var extended ExtendInput
	e.OnActivity(activities.Extend, mock.Anything, mock.Anything).Return(func(_ context.Context, x ExtendInput) error {
		extended = x
		return nil
	})
	e.RegisterDelayedCallback(func() {
		for _, bad := range []Extension{
			{Clerk: "Kaisa", Months: 2},
			{Clerk: "Kaisa", Reasons: "many registers", Months: 3},
			{Clerk: "", Reasons: "many registers", Months: 2},
		} {
			expectUpdate(t, e, UpdateExtendDeadline, bad, true)
		}
		expectUpdate(t, e, UpdateExtendDeadline, Extension{Clerk: "Kaisa", Reasons: "200 registers to search", Months: 2}, false)
	}, 10*24*time.Hour)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateExtendDeadline, Extension{Clerk: "Kaisa", Reasons: "again", Months: 1}, true)
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1})
	}, 11*24*time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 12*24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 7, 30, 0, 0, 0, 0, extended.NewDeadline.Location()); !extended.NewDeadline.Equal(want) || extended.Extension.Reasons == "" {
		t.Errorf("extension recorded %+v, want the deadline moved to %v with its reasons", extended, want)
	}
}

func TestALateExtensionIsRefused(t *testing.T) {
	e := env(t, 1)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Extend, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateExtendDeadline, Extension{Clerk: "Kaisa", Reasons: "late", Months: 1}, true)
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1})
	}, 33*24*time.Hour) // 2 June 2026: after the legal deadline of 1 June
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 34*24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

func TestDeadlineRemindersAndEscalation(t *testing.T) {
	e := env(t, 1)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{Pending: []string{"koronavilkku"}}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	var alarms []string
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(func(_ context.Context, a Alarm) error {
		alarms = append(alarms, string(a.Kind)+" "+day(e.Now()))
		return nil
	})
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 40*24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{"deadline_reminder 2026-05-25", "deadline_reminder 2026-05-31", "deadline_missed 2026-06-02"}
	if !slices.Equal(alarms, want) {
		t.Errorf("alarms %v, want %v", alarms, want)
	}
}

func TestARepliedRequestRaisesNoAlarm(t *testing.T) {
	e := env(t, 0)
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 24*time.Hour)
	e.ExecuteWorkflow(Workflow, input())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	e.AssertNotCalled(t, "Raise", mock.Anything, mock.Anything)
}

func TestARestrictionIsLiftedOnlyAfterTheNoticeInItsOwnRun(t *testing.T) {
	e := env(t, 1)
	in := input()
	in.Request.Right = contracts.RightRestriction
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1}) }, time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 2*time.Hour)
	e.ExecuteWorkflow(Workflow, in)

	// The request's run ends with the reply; the restriction goes on in a run of its own, which
	// carries the request's ids and dates but none of the subject's data.
	next := continued(t, e)
	if next.Restricted == nil || next.Restricted.Status != StatusRestricted || next.Restricted.RepliedBy != "Kaisa" ||
		next.RequestID != in.RequestID || len(next.Subject.Identifiers) != 0 || next.Subject.Name != "" {
		t.Fatalf("continued with %+v", next)
	}
	r := restrictionEnv(received.Add(2 * time.Hour))
	var steps []string
	r.OnActivity(activities.SendLiftNotice, mock.Anything, mock.Anything).Return(func(context.Context, LiftInput) error {
		steps = append(steps, "notice")
		return nil
	})
	r.OnActivity(activities.Lift, mock.Anything, mock.Anything).Return(func(context.Context, LiftInput) error {
		steps = append(steps, "lift")
		return nil
	})
	r.RegisterDelayedCallback(func() {
		expectUpdate(t, r, UpdateLiftRestriction, Lift{Clerk: "Kaisa"}, true) // no Art 18(3) notice yet
		expectUpdate(t, r, UpdateExtendDeadline, Extension{Clerk: "Kaisa", Reasons: "x", Months: 1}, true)
		expectUpdate(t, r, UpdateSendLiftNotice, Lift{Clerk: "Kaisa"}, false)
	}, 10*24*time.Hour)
	r.RegisterDelayedCallback(func() { expectUpdate(t, r, UpdateLiftRestriction, Lift{Clerk: "Kaisa"}, false) }, 20*24*time.Hour)
	r.ExecuteWorkflow(WorkflowName, next)
	var res Result
	if err := r.GetWorkflowResult(&res); err != nil || res.Status != StatusLifted || !slices.Equal(steps, []string{"notice", "lift"}) {
		t.Errorf("restriction ended %+v (%v) after %v, want lifted after notice, lift", res, err, steps)
	}
	r.AssertNotCalled(t, "Raise", mock.Anything, mock.Anything)
}

// TestARestrictionsRunContinuesAsNewWhereItStood: a restriction can hold for years; its run
// continues as new every restrictionRunFor, so its history stays short and an old version of its
// code need not be kept for as long as the restriction lasts.
func TestARestrictionsRunContinuesAsNewWhereItStood(t *testing.T) {
	in := input()
	in.Request.Right = contracts.RightRestriction
	in.Restricted = &Restriction{RepliedBy: "Kaisa", Status: StatusLiftNoticeSent}
	r := restrictionEnv(received)
	r.ExecuteWorkflow(WorkflowName, in)
	next := continued(t, r)
	if next.Restricted == nil || next.Restricted.Status != StatusLiftNoticeSent || r.Now().Sub(received) != restrictionRunFor {
		t.Fatalf("continued at %v with %+v, want after %v with the lift notice sent", r.Now(), next.Restricted, restrictionRunFor)
	}
}
