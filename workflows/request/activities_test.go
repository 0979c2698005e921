package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

// The activities run here in Temporal's activity environment against in-memory ports: the rules
// are the real engine over the demo registers' real declarations, and what the activities store
// and publish is what a test checks.

// memoryCases keeps cases in memory, as the PostgreSQL store keeps them: a plan is made once, a
// register is marked dispatched once, and every recording is idempotent.
type memoryCases struct {
	Cases   // methods no test here calls
	cases   map[string]Input
	planned map[string][]PlannedRegister
	replies []RecipientNotice
	lifted  []string
	fail    error // returned by Record, when set
}

func newMemoryCases() *memoryCases {
	return &memoryCases{cases: map[string]Input{}, planned: map[string][]PlannedRegister{}}
}

func (m *memoryCases) Record(_ context.Context, in Input) error {
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.cases[in.RequestID]; !ok {
		m.cases[in.RequestID] = in
	}
	return nil
}
func (m *memoryCases) Load(_ context.Context, id string) (Input, error) { return m.cases[id], nil }
func (m *memoryCases) Prior(context.Context, Subject, time.Time) ([]rules.PriorRequest, error) {
	return nil, nil
}
func (m *memoryCases) SavePlan(_ context.Context, id string, plans []PlannedRegister) error {
	if len(m.planned[id]) == 0 {
		m.planned[id] = slices.Clone(plans)
	}
	return nil
}
func (m *memoryCases) Planned(_ context.Context, id string) ([]PlannedRegister, error) {
	return slices.Clone(m.planned[id]), nil
}
func (m *memoryCases) MarkDispatched(_ context.Context, id string, registers []string) error {
	for i, p := range m.planned[id] {
		if slices.Contains(registers, p.Outcome.RegisterID) {
			m.planned[id][i].Dispatched = true
		}
	}
	return nil
}
func (m *memoryCases) Reply(_ context.Context, _ string, _ Approval, art19 []RecipientNotice) error {
	m.replies = art19
	return nil
}
func (m *memoryCases) Lifted(_ context.Context, _ LiftInput, registers []string) error {
	m.lifted = registers
	return nil
}
func (m *memoryCases) Supplied(_ context.Context, id string, s contracts.Identifier, _ Channel) error {
	in := m.cases[id]
	if !slices.Contains(in.Subject.Identifiers, s) {
		in.Subject.Identifiers = append(in.Subject.Identifiers, s)
	}
	m.cases[id] = in
	return nil
}
func (m *memoryCases) Replan(_ context.Context, id string, plans []PlannedRegister, _ Status) error {
	for _, p := range plans {
		for i, q := range m.planned[id] {
			if q.Outcome.RegisterID == p.Outcome.RegisterID && !q.Dispatched {
				m.planned[id][i] = p
			}
		}
	}
	return nil
}

// demoCatalogue serves the demo registers' declarations, as approved in the catalogue.
type demoCatalogue []Declared

func (c demoCatalogue) InForce(context.Context, time.Time) ([]Declared, error) { return c, nil }
func (c demoCatalogue) Version(_ context.Context, registerID, _ string) (contracts.Declaration, error) {
	for _, d := range c {
		if d.Declaration.RegisterID == registerID {
			return d.Declaration, nil
		}
	}
	return contracts.Declaration{}, errors.New("no such register")
}

func demoDeclarations(t *testing.T, names ...string) demoCatalogue {
	t.Helper()
	var out demoCatalogue
	for _, n := range names {
		raw, err := os.ReadFile("../../adapters/demo/declarations/" + n + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var d contracts.Declaration
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, Declared{Declaration: d, Digest: "sha256:" + n})
	}
	return out
}

// publishedTasks keeps what was published, as the stream would, dropping a task id seen before.
type publishedTasks struct{ tasks []contracts.Task }

func (p *publishedTasks) Publish(_ context.Context, tasks []contracts.Task) error {
	for _, t := range tasks {
		if !slices.ContainsFunc(p.tasks, func(u contracts.Task) bool { return u.TaskID == t.TaskID }) {
			p.tasks = append(p.tasks, t)
		}
	}
	return nil
}

type fixedKey string

func (k fixedKey) PublicKey(context.Context, string) (string, error) { return string(k), nil }

const (
	identityCode = "150385-9013"
	emailAddress = "aino@example.fi"
)

func signedIn() Input {
	in := input()
	in.Subject = Subject{ID: "aino", IdentityMethod: "oidc loa3", IdentityLevel: "high", Identifiers: []contracts.Identifier{
		{Type: contracts.IdentifierPersonalIdentityCode, Value: identityCode}, {Type: contracts.IdentifierEmail, Value: emailAddress}}}
	return in
}

func activityEnv(a *Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestActivityEnvironment()
	e.RegisterActivity(a)
	return e
}

func TestIntakeSendsEachRegisterItsTaskWithOnlyWhatItMatches(t *testing.T) {
	cases, tasks := newMemoryCases(), &publishedTasks{}
	a := &Activities{Cases: cases, Catalogue: demoDeclarations(t, "kanta-client-register", "koronavilkku", "clinic-event-invitations"),
		Tasks: tasks, Keys: fixedKey("public-key")}
	e := activityEnv(a)
	in := signedIn()
	for attempt := range 2 { // a retried intake changes nothing
		v, err := e.ExecuteActivity(a.Intake, in)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		var res IntakeResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		if res.Dispatched != 2 || len(res.Plans) != 3 {
			t.Fatalf("attempt %d: %+v, want 3 plans and 2 tasks", attempt, res)
		}
	}
	if len(tasks.tasks) != 2 {
		t.Fatalf("published %d tasks, want 2 (a retry republishes the same ids)", len(tasks.tasks))
	}
	for _, task := range tasks.tasks {
		if task.TaskID != contracts.TaskID(in.RequestID, task.RegisterID) || task.Package == nil || !task.Deadline.Equal(in.Receipt.Deadline) {
			t.Errorf("task %+v", task)
		}
		switch task.RegisterID {
		case "clinic-event-invitations":
			if len(task.Identifiers) != 1 || task.Identifiers[0].Type != contracts.IdentifierEmail {
				t.Errorf("the clinic was sent %v, want the e-mail address only", task.Identifiers)
			}
		case "kanta-client-register":
			if slices.ContainsFunc(task.Identifiers, func(id contracts.Identifier) bool { return id.Type == contracts.IdentifierPhone }) {
				t.Errorf("Kanta was sent %v", task.Identifiers)
			}
		default:
			t.Errorf("a task went to %s", task.RegisterID)
		}
	}
	planned := cases.planned[in.RequestID]
	koronavilkku := planned[slices.IndexFunc(planned, func(p PlannedRegister) bool { return p.Outcome.RegisterID == "koronavilkku" })]
	if koronavilkku.Dispatched || len(Suppliable(koronavilkku.Outcome.Code, koronavilkku.Outcome.Identifiers)) == 0 {
		t.Errorf("Koronavilkku, without a phone number, planned as %+v; want it waiting for one", koronavilkku.Outcome)
	}
}

func TestAnIntakeTheStoreRefusesFailsAtOnce(t *testing.T) {
	cases := newMemoryCases()
	cases.fail = fmt.Errorf("store: record receipt: %w: invalid byte sequence (22021)", ErrPermanent)
	a := &Activities{Cases: cases, Catalogue: demoDeclarations(t), Tasks: &publishedTasks{}}
	_, err := activityEnv(a).ExecuteActivity(a.Intake, signedIn())
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != permanentType {
		t.Fatalf("intake failed with %v, want a non-retryable failure", err)
	}
	if m := app.Message(); m != "intake: refused; retrying cannot help" {
		t.Errorf("the failure says %q: it must carry none of the store's words, which may quote the data", m)
	}
	cases.fail = errors.New("connection refused")
	_, err = activityEnv(a).ExecuteActivity(a.Intake, signedIn())
	if !errors.As(err, &app) || app.NonRetryable() {
		t.Fatalf("intake with the store down failed with %v, want a retryable failure", err)
	}
}

func TestASuppliedPhoneNumberSendsTheWaitingRegisterItsTask(t *testing.T) {
	cases, tasks := newMemoryCases(), &publishedTasks{}
	a := &Activities{Cases: cases, Catalogue: demoDeclarations(t, "kanta-client-register", "koronavilkku"), Tasks: tasks}
	e := activityEnv(a)
	in := signedIn()
	if _, err := e.ExecuteActivity(a.Intake, in); err != nil {
		t.Fatal(err)
	}
	phone := contracts.Identifier{Type: contracts.IdentifierPhone, Value: "+358401110001"}
	v, err := e.ExecuteActivity(a.SupplyIdentifier, SupplyInput{RequestID: in.RequestID, Identifier: phone, Channel: ChannelWeb,
		Registers: []string{"koronavilkku"}})
	if err != nil {
		t.Fatal(err)
	}
	var res SupplyResult
	_ = v.Get(&res)
	if res.Dispatched != 1 || len(res.Plans) != 1 || !res.Plans[0].Dispatch {
		t.Fatalf("supply result %+v, want Koronavilkku dispatched", res)
	}
	last := tasks.tasks[len(tasks.tasks)-1]
	if last.RegisterID != "koronavilkku" || len(last.Identifiers) != 1 || last.Identifiers[0] != phone {
		t.Errorf("Koronavilkku's task %+v, want the phone number only", last)
	}
	if _, err := e.ExecuteActivity(a.SupplyIdentifier, SupplyInput{RequestID: in.RequestID,
		Identifier: contracts.Identifier{Type: contracts.IdentifierPhone, Value: "abc"}, Registers: []string{"koronavilkku"}}); err == nil {
		t.Error("an invalid phone number was taken")
	}
}

func TestALiftGoesOnlyToTheRegistersThatRestricted(t *testing.T) {
	cases, tasks := newMemoryCases(), &publishedTasks{}
	in := signedIn()
	in.Request.Right = contracts.RightRestriction
	cases.cases[in.RequestID] = in
	applied := &contracts.Result{Status: contracts.StatusApplied}
	cases.planned[in.RequestID] = []PlannedRegister{
		{Outcome: rules.Outcome{RegisterID: "clinic-event-invitations", Identifiers: []contracts.IdentifierType{contracts.IdentifierEmail}}, Dispatched: true, Result: applied},
		{Outcome: rules.Outcome{RegisterID: "kanta-client-register"}, Dispatched: true, Result: &contracts.Result{Status: contracts.StatusNoData}},
	}
	a := &Activities{Cases: cases, Tasks: tasks}
	if _, err := activityEnv(a).ExecuteActivity(a.Lift, LiftInput{RequestID: in.RequestID, Clerk: "Kaisa"}); err != nil {
		t.Fatal(err)
	}
	if len(tasks.tasks) != 1 || !slices.Equal(cases.lifted, []string{"clinic-event-invitations"}) {
		t.Fatalf("lift tasks %+v, lifted %v; want the clinic only", tasks.tasks, cases.lifted)
	}
	task := tasks.tasks[0]
	if task.Operation != contracts.OpLiftRestriction || task.TaskID != contracts.FollowUpTaskID(in.RequestID, task.RegisterID, contracts.OpLiftRestriction) ||
		len(task.Identifiers) != 1 || task.Identifiers[0].Type != contracts.IdentifierEmail {
		t.Errorf("lift task %+v", task)
	}
}

func TestAReplyNamesEachRecipientOnceForItsArt19Notice(t *testing.T) {
	cases := newMemoryCases()
	in := signedIn()
	notify := rules.FollowUp{Kind: rules.FollowUpNotifyRecipients, Recipients: []contracts.Text{{FI: "Kela", SV: "FPA", EN: "Kela"}, {FI: "Kela", SV: "FPA", EN: "Kela"}}}
	cases.planned[in.RequestID] = []PlannedRegister{{
		Outcome: rules.Outcome{RegisterID: "clinic-event-invitations", Right: contracts.RightErasure, Operation: contracts.OpErase,
			Code: rules.CodeDispatch, Dispatch: true, FollowUps: []rules.FollowUp{notify}},
		Dispatched: true, Result: &contracts.Result{Status: contracts.StatusApplied, Recipients: []string{"Kela", "Mailing house Oy"}},
	}}
	a := &Activities{Cases: cases}
	e := activityEnv(a)
	if _, err := e.ExecuteActivity(a.Reply, ReplyInput{RequestID: in.RequestID, Approval: Approval{Clerk: "Kaisa"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range cases.replies {
		got = append(got, n.Recipient)
	}
	if !slices.Equal(got, []string{"Kela", "Mailing house Oy"}) {
		t.Errorf("Art 19 notices to %v", got)
	}
	if _, err := e.ExecuteActivity(a.Reply, ReplyInput{RequestID: in.RequestID, Approval: Approval{Clerk: "Kaisa", Note: "\x00"}}); err == nil {
		t.Error("a reply with a NUL in its note was recorded")
	}
}
