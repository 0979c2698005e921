package office

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The office's handlers, run against fakes of its ports: no database, broker or workflow engine.

// fakeRequests records the decisions sent to the workflow and answers each with err.
type fakeRequests struct {
	err       error
	approvals []request.Approval
	verified  []request.IdentityVerification
	started   []request.Input
}

// checked refuses an input its Check refuses, as the client does before anything is sent.
func checked(ve *contracts.ValidationError, err error) error {
	if ve != nil {
		return &request.RefusedError{Fields: ve.Fields}
	}
	return err
}

func (f *fakeRequests) Start(_ context.Context, in request.Input) error {
	if !in.ReceivedAt.IsZero() && in.Receipt.Deadline.IsZero() {
		in.Receipt = request.ReceiptOf(in.ReceivedAt)
	}
	if err := checked(request.CheckInput(in), f.err); err != nil {
		return err
	}
	f.started = append(f.started, in)
	return nil
}
func (f *fakeRequests) Approve(_ context.Context, _ string, a request.Approval) (request.State, error) {
	if err := checked(request.CheckApproval(a), f.err); err != nil {
		return request.State{}, err
	}
	f.approvals = append(f.approvals, a)
	return request.State{Status: request.StatusReplied}, nil
}
func (f *fakeRequests) Extend(_ context.Context, _ string, x request.Extension) (request.State, error) {
	return request.State{}, checked(request.CheckExtension(x), f.err)
}
func (f *fakeRequests) VerifyIdentity(_ context.Context, _ string, v request.IdentityVerification) (request.State, error) {
	if err := checked(request.CheckVerification(v), f.err); err != nil {
		return request.State{}, err
	}
	f.verified = append(f.verified, v)
	return request.State{Status: request.StatusReceived}, nil
}
func (f *fakeRequests) RefuseIdentity(_ context.Context, _ string, x request.IdentityRefusal) (request.State, error) {
	return request.State{}, checked(request.CheckRefusal(x), f.err)
}
func (f *fakeRequests) SendLiftNotice(_ context.Context, _ string, l request.Lift) (request.State, error) {
	return request.State{}, checked(request.CheckLift(l), f.err)
}
func (f *fakeRequests) Lift(_ context.Context, _ string, l request.Lift) (request.State, error) {
	return request.State{}, checked(request.CheckLift(l), f.err)
}
func (f *fakeRequests) Retry(_ context.Context, _ string, x request.Retry) (request.State, error) {
	return request.State{}, checked(request.CheckRetry(x), f.err)
}

type fakeCases map[string]*casefile.File

func (f fakeCases) Case(_ context.Context, id string) (cases.Case, error) {
	if file, ok := f[id]; ok {
		return file.Case, nil
	}
	return cases.Case{}, store.ErrNotFound
}
func (f fakeCases) List(_ context.Context, filter cases.Filter) ([]cases.Case, error) {
	out := []cases.Case{}
	for _, file := range f {
		if filter.Status == "" || file.Case.Status == filter.Status {
			out = append(out, file.Case)
		}
	}
	return out, nil
}
func (f fakeCases) Registers(context.Context, string) ([]cases.Register, error) { return nil, nil }
func (f fakeCases) NeedingAttention(context.Context) (int, error) {
	n := 0
	for _, file := range f {
		if file.Case.Attention != nil {
			n++
		}
	}
	return n, nil
}
func (f fakeCases) Load(_ context.Context, id string) (*casefile.File, error) {
	if file, ok := f[id]; ok {
		return file, nil
	}
	return nil, store.ErrNotFound
}

// memRecord keeps the record in memory.
type memRecord struct{ entries []record.Entry }

func (m *memRecord) Write(_ context.Context, e record.Entry) error {
	e.At = time.Now()
	m.entries = append(m.entries, e)
	return nil
}

// WriteOnce writes unless an entry the same but for its time was written within the window, as the
// record's does.
func (m *memRecord) WriteOnce(ctx context.Context, e record.Entry, within time.Duration) (bool, error) {
	for _, seen := range m.entries {
		if seen.Actor == e.Actor && seen.Role == e.Role && seen.Action == e.Action && seen.RequestID == e.RequestID &&
			seen.Purpose == e.Purpose && toJSON(seen.Detail) == toJSON(e.Detail) && time.Since(seen.At) < within {
			return false, nil
		}
	}
	return true, m.Write(ctx, e)
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// actions are the record's actions, in order.
func (m *memRecord) actions() []string {
	var out []string
	for _, e := range m.entries {
		out = append(out, e.Action)
	}
	return out
}
func (m *memRecord) Trail(_ context.Context, id string) ([]record.Entry, error) {
	var out []record.Entry
	for _, e := range m.entries {
		if e.RequestID == id {
			out = append(out, e)
		}
	}
	return out, nil
}

type noDeclarations struct{}

func (noDeclarations) History(context.Context) ([]declarations.Version, error) { return nil, nil }
func (noDeclarations) VersionsInForce(context.Context, time.Time) ([]declarations.Version, error) {
	return nil, nil
}
func (noDeclarations) LastSeen(context.Context) (map[string]time.Time, error) { return nil, nil }
func (noDeclarations) Approve(context.Context, string, string, string) error  { return nil }

type noPackages struct{}

func (noPackages) Open(context.Context, string, string, contracts.PackageRef) (io.ReadCloser, error) {
	return nil, errors.New("no packages here")
}

type memSessions map[string][]byte

func (m memSessions) Load(_ context.Context, _ string, id string, v any) error {
	data, ok := m[id]
	if !ok {
		return store.ErrNotFound
	}
	return json.Unmarshal(data, v)
}
func (m memSessions) Save(_ context.Context, _ string, id string, v any, _ time.Time) error {
	data, err := json.Marshal(v)
	m[id] = data
	return err
}
func (m memSessions) Delete(_ context.Context, id string) error { delete(m, id); return nil }

type tokens map[string]oidclogin.Identity

func (t tokens) VerifyIDToken(_ context.Context, raw string) (oidclogin.Identity, error) {
	if id, ok := t[raw]; ok {
		return id, nil
	}
	return oidclogin.Identity{}, errors.New("invalid token")
}

var (
	kaisa = oidclogin.Identity{Subject: "staff-kaisa", Name: "Kaisa Kirjaaja", Roles: []string{RoleClerk}}
	auli  = oidclogin.Identity{Subject: "staff-auli", Name: "Auli Auditoija", Roles: []string{RoleAuditor}}
	aino  = oidclogin.Identity{Subject: "demo-aino", Name: "Aino Virtanen", PersonalIdentityCode: "150385-9013"}
)

const caseID = "0195d5c8-8d3e-7c1a-9f00-00000000cccc"

// handling states a clerk's purpose on an API call.
const handling = "?purpose=" + "handling+the+request"

type harness struct {
	handler  http.Handler
	requests *fakeRequests
	record   *memRecord
	sessions memSessions
	files    fakeCases
	mailbox  *memMailbox
}

// memCounter counts calls against limits in memory, by key, in one window.
type memCounter map[string]int

func (m memCounter) Take(_ context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	m[key]++
	if m[key] > limit {
		return window, nil
	}
	return 0, nil
}

// memMailbox is the dev mailbox, in memory.
type memMailbox struct{ msgs []outbox.MailboxMessage }

func (m *memMailbox) Mailbox(context.Context, int) ([]outbox.MailboxMessage, error) {
	return m.msgs, nil
}

func mailboxMessage(id int64) outbox.MailboxMessage {
	return outbox.MailboxMessage{ID: id, Channel: "email", Recipient: "aino@example.fi", Subject: "Your reply", Body: "…", SentAt: time.Now()}
}

func newHarness(t testing.TB, tunes ...func(*Config)) *harness {
	t.Helper()
	files := fakeCases{caseID: {Case: cases.Case{RequestID: caseID, Status: request.StatusInReview, Right: contracts.RightAccess}}}
	h := &harness{requests: &fakeRequests{}, record: &memRecord{}, sessions: memSessions{}, files: files, mailbox: &memMailbox{}}
	deps := Deps{Requests: h.requests, Cases: files, Files: files, Record: h.record, Declarations: noDeclarations{}, Sessions: h.sessions,
		Packages: noPackages{}, Mailbox: h.mailbox, Limits: memCounter{}, Processing: heldBack{}, Log: slog.New(slog.DiscardHandler)}
	cfg := DefaultConfig()
	cfg.PublicURL = "http://office.test"
	for _, tune := range tunes {
		tune(&cfg)
	}
	o, err := newOffice(cfg, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.tokens = tokens{"kaisa": kaisa, "auli": auli, "aino": aino}
	h.handler = o.routes()
	return h
}

func (h *harness) api(method, path, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func problem(t *testing.T, w *httptest.ResponseRecorder) web.Problem {
	t.Helper()
	var p web.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("answered %d, not a problem document: %s", w.Code, w.Body)
	}
	return p
}

func TestOnlyStaffUseTheOfficeAPIAndOnlyAClerkDecides(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"forged", http.StatusUnauthorized}, {"aino", http.StatusForbidden}, {"auli", http.StatusForbidden}} {
		if w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/reply"+handling, c.token, `{}`); w.Code != c.want {
			t.Errorf("reply as %q: %d, want %d", c.token, w.Code, c.want)
		}
	}
	if len(h.requests.approvals) != 0 {
		t.Fatal("an approval went through without a clerk")
	}
	w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/reply"+handling, "kaisa", `{"note":"ok"}`)
	if w.Code != http.StatusOK || h.requests.approvals[0].Clerk != "Kaisa Kirjaaja <staff-kaisa>" || h.requests.approvals[0].Note != "ok" ||
		h.requests.approvals[0].Purpose != "handling the request" {
		t.Fatalf("Kaisa's approval: %d %s, sent %+v", w.Code, w.Body, h.requests.approvals)
	}
	// The body may be left out: a note is optional.
	r := httptest.NewRequest(http.MethodPost, "/api/v1/cases/"+caseID+"/reply"+handling, nil)
	r.Header.Set("Authorization", "Bearer kaisa")
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Errorf("an approval without a body: %d %s", rec.Code, rec.Body)
	}
}

func TestADecisionTheWorkflowRefusesIsA4xxWithItsReason(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		err   error
		want  int
		field string
	}{
		{&request.RefusedError{Fields: []contracts.FieldError{{Field: "note", Rule: "control", Message: "must not contain control characters"}}},
			http.StatusUnprocessableEntity, "note"},
		{&request.RefusedError{Reason: "approval: the reply has already been approved"}, http.StatusConflict, ""},
		{request.ErrNotDone, http.StatusServiceUnavailable, ""},
	} {
		h.requests.err = c.err
		w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/reply"+handling, "kaisa", `{"note":"x"}`)
		if w.Code != c.want {
			t.Errorf("%v: %d, want %d", c.err, w.Code, c.want)
			continue
		}
		p := problem(t, w)
		if c.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != c.field) {
			t.Errorf("%v: errors %+v", c.err, p.Errors)
		}
		if strings.Contains(w.Body.String(), "*request") || strings.Contains(w.Body.String(), "errors.") {
			t.Errorf("the answer shows Go's type names: %s", w.Body)
		}
	}
}

func TestAMalformedCaseIDIsNotFoundNotAServerError(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/api/v1/cases/not-a-uuid/verify-identity", "/api/v1/cases/" + strings.Repeat("z", 36) + "/verify-identity"} {
		if w := h.api(http.MethodPost, path+handling, "kaisa", `{"method":"passport"}`); w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, w.Code)
		}
	}
	if w := h.api(http.MethodGet, "/api/v1/cases/not-a-uuid?purpose=handling", "kaisa", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET of a malformed id: %d, want 404", w.Code)
	}
	if len(h.requests.verified) != 0 {
		t.Error("a decision went to a malformed id")
	}
}

func TestTheCaseListTakesOnlyKnownStatuses(t *testing.T) {
	h := newHarness(t)
	w := h.api(http.MethodGet, "/api/v1/cases?status=lost", "auli", "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "identity_not_verified") {
		t.Errorf("an unknown status: %d %s; want 400 naming every status", w.Code, w.Body)
	}
	for _, s := range request.Statuses {
		if w := h.api(http.MethodGet, "/api/v1/cases?status="+url.QueryEscape(string(s)), "auli", ""); w.Code != http.StatusOK {
			t.Errorf("status %s: %d", s, w.Code)
		}
	}
}

func TestACaseIsShownOnlyOnceItsViewIsOnTheRecord(t *testing.T) {
	h := newHarness(t)
	if w := h.api(http.MethodGet, "/api/v1/cases/"+caseID, "kaisa", ""); w.Code != http.StatusBadRequest || len(h.record.entries) != 0 {
		t.Fatalf("a view without a purpose: %d, %d entries", w.Code, len(h.record.entries))
	}
	w := h.api(http.MethodGet, "/api/v1/cases/"+caseID+"?purpose="+url.QueryEscape("handling the request"), "kaisa", "")
	if w.Code != http.StatusOK {
		t.Fatalf("a view with a purpose: %d %s", w.Code, w.Body)
	}
	if len(h.record.entries) != 1 || h.record.entries[0].Action != "viewed" || h.record.entries[0].Purpose != "handling the request" ||
		h.record.entries[0].RequestID != caseID {
		t.Errorf("the record: %+v", h.record.entries)
	}
}

func TestAClerksFormDecisionTheWorkflowRefusesShowsTheField(t *testing.T) {
	h := newHarness(t)
	data, _ := json.Marshal(web.Session{Identity: &kaisa, CSRF: "t",
		Views: map[string]web.ViewGrant{caseID: {Purpose: "handling the request", Until: time.Now().Add(time.Hour)}}})
	h.sessions["sid"] = data
	h.requests.err = &request.RefusedError{Fields: []contracts.FieldError{{Field: "note", Rule: "control", Message: "must not contain control characters"}}}
	form := url.Values{"csrf": {"t"}, "note": {"Kaikki selvä\x07"}}
	r := httptest.NewRequest(http.MethodPost, "/cases/"+caseID+"/approve", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Cookie", "kirjaamo_office=sid")
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="note-error">must not contain control characters`) ||
		!strings.Contains(body, "Kaikki selvä") || !strings.Contains(body, `aria-describedby="note-error"`) {
		t.Fatalf("the refused form: %d, want the case again with what was typed and the error at the field:\n%s", w.Code, body)
	}
	// The case was shown again: its view is on the record first.
	if len(h.record.entries) != 1 || h.record.entries[0].Action != "viewed" {
		t.Errorf("the record: %+v", h.record.entries)
	}
	// A step out of turn comes back as a notice on the case page.
	h.requests.err = &request.RefusedError{Reason: "approval: the reply has already been approved"}
	r = httptest.NewRequest(http.MethodPost, "/cases/"+caseID+"/approve", strings.NewReader(url.Values{"csrf": {"t"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Cookie", "kirjaamo_office=sid")
	w = httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	var sess web.Session
	_ = json.Unmarshal(h.sessions["sid"], &sess)
	if w.Code != http.StatusSeeOther || sess.Notice != "Not done: approval: the reply has already been approved" {
		t.Errorf("out of turn: %d, the clerk is told %q", w.Code, sess.Notice)
	}
}
