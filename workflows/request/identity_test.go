package request

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"kirjaamo.dev/contracts"
)

// mailed is a request received by post: the subject as the letter states them, not verified.
func mailed() Input {
	in := input()
	in.Channel, in.RegisteredBy = ChannelMail, "Kaisa Kirjaaja <staff-kaisa>"
	in.Subject = Subject{ID: "office:" + in.RequestID, Name: "Matti Korhonen", IdentityLevel: IdentityUnverified,
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: "020794-9029"}}}
	return in
}

// identityEnv is a workflow test environment for a request awaiting identity. Intake, if it comes,
// dispatches to one register; intakes collects what it was given.
func identityEnv(t *testing.T, intakes *[]Input, alarms *[]Alarm) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	e.SetStartTime(received)
	e.RegisterWorkflow(Workflow)
	e.RegisterActivity(&Activities{})
	e.OnActivity(activities.RecordReceipt, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(activities.Intake, mock.Anything, mock.Anything).Return(func(_ context.Context, in Input) (IntakeResult, error) {
		*intakes = append(*intakes, in)
		return IntakeResult{Dispatched: 1}, nil
	})
	e.OnActivity(activities.Raise, mock.Anything, mock.Anything).Return(func(_ context.Context, a Alarm) error {
		*alarms = append(*alarms, a)
		return nil
	})
	return e
}

func TestAnUnverifiedRequestWaitsForTheClerkThenGoesToIntake(t *testing.T) {
	var intakes []Input
	var alarms []Alarm
	e := identityEnv(t, &intakes, &alarms)
	var verified VerifyIdentityInput
	e.OnActivity(activities.VerifyIdentity, mock.Anything, mock.Anything).Return(func(_ context.Context, v VerifyIdentityInput) error {
		verified = v
		return nil
	})
	e.OnActivity(activities.Review, mock.Anything, mock.Anything).Return(ReviewResult{}, nil)
	e.OnActivity(activities.Reply, mock.Anything, mock.Anything).Return(nil)
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusAwaitingIdentity || !st.Deadline.Equal(legalDeadline) {
			t.Errorf("before the clerk decides the request is %+v, want awaiting identity with its deadline", st)
		}
		if len(intakes) > 0 {
			t.Error("intake ran before the identity was verified: registers would be sent tasks")
		}
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Method: "passport checked"}, true)
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Clerk: "Kaisa"}, true)
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Clerk: "Kaisa", Method: "  "}, true)
		expectUpdate(t, e, UpdateRefuseIdentity, IdentityRefusal{Clerk: "Kaisa"}, true)
		expectUpdate(t, e, UpdateRefuseIdentity, IdentityRefusal{Reasons: "no reply to our letter"}, true)
		expectUpdate(t, e, UpdateWithdraw, Withdrawal{Channel: "web"}, true) // not offered while awaiting identity
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Clerk: "Kaisa", Method: "passport checked at the service point"}, false)
	}, 3*24*time.Hour)
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateVerifyIdentity, IdentityVerification{Clerk: "Kaisa", Method: "again"}, true)
		expectUpdate(t, e, UpdateRefuseIdentity, IdentityRefusal{Clerk: "Kaisa", Reasons: "changed my mind"}, true)
		if st := stateOf(t, e); st.Status != StatusDispatched || st.IdentityMethod != "passport checked at the service point" {
			t.Errorf("after verification the request is %+v, want dispatched with the method", st)
		}
		e.SignalWorkflow(SignalRegistersAnswered, Answered{Registers: 1})
	}, 4*24*time.Hour)
	e.RegisterDelayedCallback(func() { approve(t, e, "Kaisa", false) }, 5*24*time.Hour)

	e.ExecuteWorkflow(Workflow, mailed())
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusReplied {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if verified.Verification.Clerk != "Kaisa" || verified.Verification.Method != "passport checked at the service point" {
		t.Errorf("verification recorded as %+v", verified)
	}
	if len(intakes) != 1 {
		t.Fatalf("intake ran %d times, want once", len(intakes))
	}
	if s := intakes[0].Subject; s.IdentityLevel != IdentityVerified || s.IdentityMethod != "passport checked at the service point" {
		t.Errorf("intake got the subject %+v, want verified with the method", s)
	}
}

func TestARefusedIdentityClosesTheRequestAndStopsTheAlarms(t *testing.T) {
	var intakes []Input
	var alarms []Alarm
	e := identityEnv(t, &intakes, &alarms)
	var refused RefuseIdentityInput
	e.OnActivity(activities.RefuseIdentity, mock.Anything, mock.Anything).Return(func(_ context.Context, x RefuseIdentityInput) error {
		refused = x
		return nil
	})
	e.RegisterDelayedCallback(func() {
		expectUpdate(t, e, UpdateRefuseIdentity, IdentityRefusal{Clerk: "Kaisa", Reasons: "The letter's signature and the identity code do not match, and our letter asking for a copy of an identity document went unanswered."}, false)
	}, 10*24*time.Hour)
	e.ExecuteWorkflow(Workflow, mailed())
	var res Result
	if err := e.GetWorkflowResult(&res); err != nil || res.Status != StatusIdentityNotVerified {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if refused.Refusal.Clerk != "Kaisa" || refused.Refusal.Reasons == "" || refused.RequestID != mailed().RequestID {
		t.Errorf("refusal recorded as %+v", refused)
	}
	if len(intakes) != 0 {
		t.Error("intake ran for a request whose identity was refused")
	}
	if len(alarms) != 0 {
		t.Errorf("alarms raised after the request closed: %+v", alarms)
	}
}

func TestTheDeadlineAlarmsRunWhileAwaitingIdentity(t *testing.T) {
	var intakes []Input
	var alarms []Alarm
	e := identityEnv(t, &intakes, &alarms)
	e.OnActivity(activities.RefuseIdentity, mock.Anything, mock.Anything).Return(nil)
	// Nobody decides until two days after the deadline: the office is reminded and then alerted.
	e.RegisterDelayedCallback(func() {
		if st := stateOf(t, e); st.Status != StatusAwaitingIdentity || len(st.Alarms) != 3 {
			t.Errorf("two days after the deadline the request is %+v, want awaiting identity with three alarms", st)
		}
		expectUpdate(t, e, UpdateRefuseIdentity, IdentityRefusal{Clerk: "Kaisa", Reasons: "no answer to our letter"}, false)
	}, legalDeadline.Sub(received)+2*24*time.Hour)
	e.ExecuteWorkflow(Workflow, mailed())
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var kinds []AlarmKind
	for _, a := range alarms {
		kinds = append(kinds, a.Kind)
	}
	if len(kinds) != 3 || kinds[0] != AlarmReminder || kinds[1] != AlarmReminder || kinds[2] != AlarmEscalation {
		t.Errorf("alarms while awaiting identity: %v, want two reminders and the escalation", kinds)
	}
	if len(intakes) != 0 {
		t.Error("intake ran without a verified identity")
	}
}

func TestTheRulesSeeAClerksVerificationAsSubstantial(t *testing.T) {
	in := mailed()
	if got := RulesRequest(in, nil).IdentityLevel; got != "none" {
		t.Errorf("an unverified subject is %q to the rules, want none", got)
	}
	in.Subject.IdentityLevel = IdentityVerified
	if got := RulesRequest(in, nil).IdentityLevel; got != "substantial" {
		t.Errorf("a subject verified by a clerk is %q to the rules, want substantial", got)
	}
}
