package portal

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The portal's handlers, run against fakes of its ports: no database, broker or workflow engine.

// fakeRequests is the request workflow as the portal sees it.
type fakeRequests struct {
	started               []request.Input
	startErr, withdrawErr error
	withdrawn             []string
}

func (f *fakeRequests) Start(_ context.Context, in request.Input) error {
	if !in.ReceivedAt.IsZero() && in.Receipt.Deadline.IsZero() {
		in.Receipt = request.ReceiptOf(in.ReceivedAt)
	}
	// As the client does, before anything is sent.
	if ve := request.CheckInput(in); ve != nil {
		return &request.RefusedError{Fields: ve.Fields}
	}
	f.started = append(f.started, in)
	return f.startErr
}
func (f *fakeRequests) Running(context.Context, string) (bool, error) { return false, nil }
func (f *fakeRequests) Supply(context.Context, string, request.Supply) (request.State, error) {
	return request.State{}, nil
}
func (f *fakeRequests) Withdraw(_ context.Context, id string, _ request.Withdrawal) (request.State, error) {
	if f.withdrawErr != nil {
		return request.State{}, f.withdrawErr
	}
	f.withdrawn = append(f.withdrawn, id)
	return request.State{Status: request.StatusWithdrawn, Withdrawal: &request.WithdrawResult{Cancelled: []string{"clinic"}}}, nil
}

// fakeCases holds case files by request id.
type fakeCases map[string]*casefile.File

func (f fakeCases) List(_ context.Context, filter cases.Filter) ([]cases.Case, error) {
	out := []cases.Case{}
	for _, file := range f {
		if file.Case.SubjectID == filter.SubjectID {
			out = append(out, file.Case)
		}
	}
	return out, nil
}
func (f fakeCases) Registers(context.Context, string) ([]cases.Register, error) { return nil, nil }
func (f fakeCases) Owned(_ context.Context, id, subject, _ string) (bool, error) {
	file, ok := f[id]
	return ok && file.Case.SubjectID == subject, nil
}
func (f fakeCases) OpenFor(_ context.Context, subject, _ string) (int, error) {
	n := 0
	for _, file := range f {
		if file.Case.SubjectID == subject && file.Case.Status.Open() {
			n++
		}
	}
	return n, nil
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
func (f fakeCases) Waiting(context.Context, cases.Case) ([]request.WaitingRegister, error) {
	return nil, nil
}
func (f fakeCases) Load(_ context.Context, id string) (*casefile.File, error) {
	if file, ok := f[id]; ok {
		return file, nil
	}
	return nil, store.ErrNotFound
}

type noChallenges struct{}

// New makes a challenge as the store would, and sends nothing.
func (noChallenges) New(_ context.Context, requestID, _, idType, value, channel, _ string) (challenges.Challenge, error) {
	return challenges.Challenge{ID: "0195d5c8-8d3e-7c1a-9f00-0000000000cc", RequestID: requestID, Type: idType, Value: value, Channel: channel,
		ExpiresAt: time.Now().Add(challenges.ChallengeTTL)}, nil
}
func (noChallenges) Verify(context.Context, string, string, string) (challenges.Challenge, error) {
	return challenges.Challenge{}, challenges.ErrNoChallenge
}
func (noChallenges) Used(context.Context, string) error { return nil }
func (noChallenges) Pending(context.Context, string) ([]challenges.Challenge, error) {
	return nil, nil
}

type noPackages struct{}

func (noPackages) Open(context.Context, string, string, contracts.PackageRef) (io.ReadCloser, error) {
	return nil, errors.New("no packages here")
}

// readDemo reads a demo register's declaration, as the catalogue would hold it.
func readDemo(id string) ([]byte, error) {
	return os.ReadFile("../../adapters/demo/declarations/" + id + ".json")
}

// memSessions keeps sessions in memory, as JSON, the way the store does.
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

// tokens are ID tokens as the provider would have verified them.
type tokens map[string]oidclogin.Identity

func (t tokens) VerifyIDToken(_ context.Context, raw string) (oidclogin.Identity, error) {
	if id, ok := t[raw]; ok {
		return id, nil
	}
	return oidclogin.Identity{}, errors.New("invalid token")
}

var (
	ainoID  = oidclogin.Identity{Subject: "demo-aino", Name: "Aino Virtanen", PersonalIdentityCode: "150385-9013", ACR: "http://ftn.ficora.fi/2017/loa3"}
	mattiID = oidclogin.Identity{Subject: "demo-matti", Name: "Matti Meikäläinen", PersonalIdentityCode: "020794-9029", ACR: "http://ftn.ficora.fi/2017/loa3"}
)

const (
	ainosCase  = "0195d5c8-8d3e-7c1a-9f00-00000000aaaa"
	mattisCase = "0195d5c8-8d3e-7c1a-9f00-00000000bbbb"
)

type harness struct {
	handler  http.Handler
	requests *fakeRequests
	sessions memSessions
	files    fakeCases
	counts   memCounter
	// processing are the processing events the pages read (processing_test.go).
	processing *fakeProcessing
}

func newHarness(t testing.TB, tunes ...func(*Config)) *harness {
	t.Helper()
	files := fakeCases{
		ainosCase:  {Case: cases.Case{RequestID: ainosCase, SubjectID: ainoID.Subject, Status: request.StatusInReview, Right: contracts.RightAccess}},
		mattisCase: {Case: cases.Case{RequestID: mattisCase, SubjectID: mattiID.Subject, Status: request.StatusInReview, Right: contracts.RightAccess}},
	}
	h := &harness{requests: &fakeRequests{}, sessions: memSessions{}, files: files, counts: memCounter{}, processing: newFakeProcessing(t)}
	deps := Deps{Requests: h.requests, Cases: files, Files: files, Challenges: noChallenges{}, Sessions: h.sessions,
		Packages: noPackages{}, Catalogue: catalogue(t), Limits: h.counts, Processing: h.processing, Log: slog.New(slog.DiscardHandler)}
	cfg := DefaultConfig()
	cfg.PublicURL = "http://portal.test"
	cfg.ContactEmail = "kirjaamo@portal.test"
	for _, tune := range tunes {
		tune(&cfg)
	}
	p, err := newPortal(cfg, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.tokens = tokens{"aino-token": ainoID, "matti-token": mattiID}
	h.handler = p.routes()
	return h
}

func (h *harness) do(method, path, contentType, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

// page sends a request of a browser signed in as id, with a posted form if one is given (its CSRF
// token is the session's).
func (h *harness) page(t testing.TB, id oidclogin.Identity, method, path string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	data, _ := json.Marshal(web.Session{Identity: &id, CSRF: "t"})
	h.sessions["page-"+id.Subject] = data
	body, contentType := "", ""
	if form != nil {
		form.Set("csrf", "t")
		body, contentType = form.Encode(), "application/x-www-form-urlencoded"
	}
	return h.do(method, path, contentType, body, map[string]string{"Cookie": "kirjaamo_portal=page-" + id.Subject})
}

func (h *harness) api(method, path, token, body string) *httptest.ResponseRecorder {
	return h.do(method, path, "application/json", body, map[string]string{"Authorization": "Bearer " + token})
}

// problem decodes an RFC 9457 problem document.
func problem(t *testing.T, w *httptest.ResponseRecorder) web.Problem {
	t.Helper()
	var p web.Problem
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("answered %d with %s, not a problem document: %s", w.Code, ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTheAPITakesOnlyOneJSONObjectOfItsOwnMediaType(t *testing.T) {
	h := newHarness(t)
	good := `{"right":"access","language":"fi"}`
	for _, c := range []struct {
		name, contentType, body string
		want                    int
	}{
		{"form data", "application/x-www-form-urlencoded", "right=access", http.StatusUnsupportedMediaType},
		{"a JSON look-alike", "application/jsonx", good, http.StatusUnsupportedMediaType},
		{"another charset", "application/json; charset=latin1", good, http.StatusUnsupportedMediaType},
		{"trailing data", "application/json", good + `{"right":"erasure"}`, http.StatusBadRequest},
		{"an unknown field", "application/json", `{"right":"access","language":"fi","admin":true}`, http.StatusBadRequest},
		{"not an object", "application/json", `[1,2]`, http.StatusBadRequest},
		{"too large", "application/json", `{"details":"` + strings.Repeat("x", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		w := h.do(http.MethodPost, "/api/v1/requests", c.contentType, c.body, map[string]string{"Authorization": "Bearer aino-token"})
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, w.Code, c.want, w.Body)
			continue
		}
		if p := problem(t, w); strings.Contains(p.Detail, "json:") || strings.Contains(p.Detail, "*") {
			t.Errorf("%s: the problem shows Go's words: %q", c.name, p.Detail)
		}
	}
	if len(h.requests.started) != 0 {
		t.Errorf("%d requests started from bodies the API refused", len(h.requests.started))
	}
	if w := h.do(http.MethodPost, "/api/v1/requests", "application/json; charset=utf-8", good, map[string]string{"Authorization": "Bearer aino-token"}); w.Code != http.StatusAccepted {
		t.Errorf("a good request with charset=utf-8: %d %s", w.Code, w.Body)
	}
}

func TestASubmittedRequestStartsItsWorkflowForTheSignedInSubject(t *testing.T) {
	h := newHarness(t)
	if w := h.api(http.MethodPost, "/api/v1/requests", "", `{"right":"access","language":"fi"}`); w.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", w.Code)
	}
	w := h.api(http.MethodPost, "/api/v1/requests", "aino-token", `{"right":"erasure","language":"sv","details":"radera allt"}`)
	if w.Code != http.StatusAccepted || !strings.HasPrefix(w.Header().Get("Location"), "/api/v1/requests/") {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	in := h.requests.started[0]
	if in.Channel != request.ChannelAPI || in.Subject.ID != ainoID.Subject || in.Request.Right != contracts.RightErasure ||
		in.Subject.Identifiers[0] != (contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: ainoID.PersonalIdentityCode}) {
		t.Errorf("started %+v", in)
	}
	// The same idempotency key, twice, is the same request; from another person, another.
	body := `{"right":"access","language":"fi","idempotency_key":"6f1c0f0e-3c0a-4f3e-9a4b-6b1d2f6a9c11"}`
	h.api(http.MethodPost, "/api/v1/requests", "aino-token", body)
	h.api(http.MethodPost, "/api/v1/requests", "aino-token", body)
	h.api(http.MethodPost, "/api/v1/requests", "matti-token", body)
	ids := []string{h.requests.started[1].RequestID, h.requests.started[2].RequestID, h.requests.started[3].RequestID}
	if ids[0] != ids[1] || ids[0] == ids[2] {
		t.Errorf("request ids %v: a resubmission must land on the same request, another person's on another", ids)
	}
}

func TestBadTextGetsAFieldLevel422AndNothingStarts(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ body, field, rule string }{
		{`{"right":"access","language":"fi","details":"a\u0000b"}`, "details", "control"},
		{`{"right":"access","language":"fi","details":"` + strings.Repeat("ä", 4001) + `"}`, "details", "max"},
		{`{"right":"rectification","language":"fi","rectification":[{"field":"name","new_value":"x\u001b"}]}`, "rectification[0].new_value", "control"},
		{`{"right":"forgetting","language":"fi"}`, "right", "right"},
		{`{"right":"access","language":"fi","phone":"abc"}`, "phone", "e164"},
	} {
		w := h.api(http.MethodPost, "/api/v1/requests", "aino-token", c.body)
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422: %s", c.body[:min(60, len(c.body))], w.Code, w.Body)
			continue
		}
		p := problem(t, w)
		if len(p.Errors) == 0 || p.Errors[0].Field != c.field || p.Errors[0].Rule != c.rule {
			t.Errorf("%s: errors %+v, want %s (%s)", c.field, p.Errors, c.field, c.rule)
		}
	}
	if len(h.requests.started) != 0 {
		t.Errorf("%d requests started from invalid input", len(h.requests.started))
	}
}

func TestTheWorkflowsAnswersBecomeTheAPIsStatuses(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		err  error
		want int
	}{
		{&request.RefusedError{Reason: "withdraw: the request is replied; it can be withdrawn only before the reply"}, http.StatusConflict},
		{&request.RefusedError{Fields: []contracts.FieldError{{Field: "channel", Rule: "oneof", Message: "must be one of: web, api"}}}, http.StatusUnprocessableEntity},
		{request.ErrNotDone, http.StatusServiceUnavailable},
		{request.ErrUnavailable, http.StatusServiceUnavailable},
		{request.ErrNotFound, http.StatusConflict},
		{nil, http.StatusOK},
	} {
		h.requests.withdrawErr = c.err
		w := h.api(http.MethodPost, "/api/v1/requests/"+ainosCase+"/withdraw", "aino-token", `{}`)
		if w.Code != c.want {
			t.Errorf("withdrawal answered %v: %d, want %d: %s", c.err, w.Code, c.want, w.Body)
		}
	}
	if len(h.requests.withdrawn) != 1 {
		t.Errorf("withdrawn %v", h.requests.withdrawn)
	}
}

func TestAnotherPersonsRequestIsNotFound(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/api/v1/requests/" + mattisCase, "/api/v1/requests/not-a-uuid", "/api/v1/requests/" + strings.Repeat("9", 36)} {
		if w := h.api(http.MethodGet, path, "aino-token", ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s as Aino: %d, want 404", path, w.Code)
		}
	}
	if w := h.api(http.MethodPost, "/api/v1/requests/"+mattisCase+"/withdraw", "aino-token", `{}`); w.Code != http.StatusNotFound {
		t.Errorf("withdrawing Matti's request as Aino: %d, want 404", w.Code)
	}
	if w := h.api(http.MethodGet, "/api/v1/requests/"+ainosCase, "aino-token", ""); w.Code != http.StatusOK {
		t.Errorf("Aino's own request: %d", w.Code)
	}
}

func TestTheFormStartsARequestOnlyWithItsSessionsToken(t *testing.T) {
	h := newHarness(t)
	sess := web.Session{Identity: &ainoID, CSRF: "csrf-token"}
	data, _ := json.Marshal(sess)
	h.sessions["sid"] = data
	form := url.Values{"right": {"access"}, "idempotency_key": {"6f1c0f0e-3c0a-4f3e-9a4b-6b1d2f6a9c12"}}
	post := func(f url.Values) *httptest.ResponseRecorder {
		return h.do(http.MethodPost, "/fi/requests", "application/x-www-form-urlencoded", f.Encode(),
			map[string]string{"Cookie": "kirjaamo_portal=sid"})
	}
	if w := post(form); w.Code != http.StatusBadRequest || len(h.requests.started) != 0 {
		t.Fatalf("a form without its CSRF token: %d, %d started", w.Code, len(h.requests.started))
	}
	form.Set("csrf", "csrf-token")
	form.Set("details", "rivi\r\nrivi")
	w := post(form)
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/fi/requests/") {
		t.Fatalf("the form: %d %s", w.Code, w.Body)
	}
	if in := h.requests.started[0]; in.Channel != request.ChannelWeb || in.Request.Language != "fi" || in.Request.Details != "rivi\nrivi" {
		t.Errorf("started %+v", in)
	}
	form.Set("details", "a\x00b")
	if w := post(form); w.Code != http.StatusUnprocessableEntity || len(h.requests.started) != 1 {
		t.Errorf("a NUL in the form: %d, %d started", w.Code, len(h.requests.started))
	}
}
