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
		e.SignalWorkflow(SignalRegistersAnswered, Answered{})
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
		e.SignalWorkflow(SignalRegistersAnswered, Answered{})
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
		alarms = append(alarms, a.Kind+" "+e.Now().Format("2006-01-02"))
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

func TestARestrictionIsLiftedOnlyAfterTheNotice(t *testing.T) {
	e := env(t, 1)
	in := input()
	in.Request.Right = contracts.RightRestriction
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(nil)
	var steps []string
	e.OnActivity(activities.SendLiftNotice, mock.Anything, mock.Anything).Return(func(context.Context, LiftInput) error {
		steps = append(steps, "notice")
		return nil
	})
	e.OnActivity(activities.Lift, mock.Anything, mock.Anything).Return(func(context.Context, LiftInput) error {
		steps = append(steps, "lift")
		return nil
	})
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(SignalRegistersAnswered, Answered{})
	}, time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 2*time.Hour)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateLiftRestriction, LiftInput{Clerk: "Kaisa"}, true) // no Art 18(3) notice yet
		expectUpdate(t, e, UpdateSendLiftNotice, LiftInput{Clerk: "Kaisa"}, false)
	}, 90*24*time.Hour)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateLiftRestriction, LiftInput{Clerk: "Kaisa"}, false)
	}, 120*24*time.Hour)
	e.ExecuteWorkflow(Workflow, in)
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	_ = e.GetWorkflowResult(&res)
	if res.Status != StatusLifted || !slices.Equal(steps, []string{"notice", "lift"}) {
		t.Errorf("restriction ended %s after %v, want lifted after notice, lift", res.Status, steps)
	}
}
