package office

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// Every read of personal data in the office is on the record before it is shown, with the purpose
// the reader's roles let them state; a reload is not another view.

// browse signs a staff member in on a session of their own (sid) and returns a function that sends
// a request on it.
func (h *harness) browse(t testing.TB, id oidclogin.Identity, sid string, views map[string]web.ViewGrant) func(method, path string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	data, _ := json.Marshal(web.Session{Identity: &id, CSRF: "t", Views: views})
	h.sessions[sid] = data
	return func(method, path string, form url.Values) *httptest.ResponseRecorder {
		var r *http.Request
		if form != nil {
			form.Set("csrf", "t")
			r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			r = httptest.NewRequest(method, path, nil)
		}
		r.Header.Set("Cookie", "kirjaamo_office="+sid)
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, r)
		return w
	}
}

func TestAPurposeOpensACaseOnlyToTheRolesThatStateIt(t *testing.T) {
	h := newHarness(t)
	auditor := h.browse(t, auli, "auli", nil)
	if w := auditor(http.MethodGet, "/cases/"+caseID, nil); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "handling the request") ||
		!strings.Contains(w.Body.String(), `<option value="audit"`) {
		t.Fatalf("the auditor's purpose form offers: %d\n%s", w.Code, w.Body)
	}
	w := auditor(http.MethodPost, "/cases/"+caseID+"/purpose", url.Values{"purpose": {"handling the request"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="purpose-error"`) {
		t.Fatalf("an auditor handling the request: %d, want 422 at the purpose", w.Code)
	}
	w = auditor(http.MethodPost, "/cases/"+caseID+"/purpose", url.Values{"purpose": {"audit"}, "purpose_detail": {"annual audit\x00"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="purpose_detail-error">must not contain control characters`) ||
		!strings.Contains(w.Body.String(), `<option value="audit" selected>`) {
		t.Fatalf("a NUL in the purpose's detail: %d, want 422 at the detail, with the purpose kept:\n%s", w.Code, w.Body)
	}
	if w := auditor(http.MethodPost, "/cases/"+caseID+"/purpose", url.Values{"purpose": {"audit"}, "purpose_detail": {"annual audit"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("an auditor auditing: %d", w.Code)
	}
	// The API likewise.
	if w := h.api(http.MethodGet, "/api/v1/cases/"+caseID+handling, "auli", ""); w.Code != http.StatusBadRequest || problem(t, w).Errors[0].Field != "purpose" {
		t.Errorf("an auditor handling the request through the API: %d %s", w.Code, w.Body)
	}
	if w := h.api(http.MethodGet, "/api/v1/cases/"+caseID+"?purpose=audit&purpose_detail=%ff", "auli", ""); w.Code != http.StatusBadRequest ||
		problem(t, w).Errors[0].Field != "purpose_detail" {
		t.Errorf("invalid UTF-8 in the purpose's detail: %d %s", w.Code, w.Body)
	}
	if w := h.api(http.MethodGet, "/api/v1/cases/"+caseID+"?purpose=audit&purpose_detail=annual", "auli", ""); w.Code != http.StatusOK ||
		h.record.entries[len(h.record.entries)-1].Purpose != "audit: annual" {
		t.Errorf("an auditor auditing through the API: %d, record %+v", w.Code, h.record.entries)
	}
}

func TestAViewIsRecordedOncePerSessionAndPurposeWithinTheWindow(t *testing.T) {
	h := newHarness(t)
	grant := map[string]web.ViewGrant{caseID: {Purpose: "handling the request", Until: time.Now().Add(time.Hour)}}
	kaisaOne, kaisaTwo := h.browse(t, kaisa, "one", grant), h.browse(t, kaisa, "two", grant)
	for range 3 {
		if w := kaisaOne(http.MethodGet, "/cases/"+caseID, nil); w.Code != http.StatusOK {
			t.Fatalf("the case page: %d", w.Code)
		}
	}
	if got := h.record.actions(); !slices.Equal(got, []string{"viewed"}) {
		t.Fatalf("three reloads in one session: the record %v, want one view", got)
	}
	kaisaTwo(http.MethodGet, "/cases/"+caseID, nil)
	if got := h.record.actions(); len(got) != 2 || h.record.entries[0].Detail["session"] == h.record.entries[1].Detail["session"] {
		t.Fatalf("another session's view: the record %+v", h.record.entries)
	}
	// Once the window has passed, a view is another view.
	h.record.entries[0].At = time.Now().Add(-time.Hour)
	h.record.entries[1].At = time.Now().Add(-time.Hour)
	kaisaOne(http.MethodGet, "/cases/"+caseID, nil)
	if got := h.record.actions(); len(got) != 3 {
		t.Fatalf("a view after the window: the record %v", got)
	}
}

func TestListsTheAPIsRecordsAndTheMailboxAreOnTheRecordFirst(t *testing.T) {
	h := newHarness(t)
	h.files[caseID].Registers = []casefile.Register{{ID: "kanta-client-register", Records: 1,
		Data: []contracts.Record{{Category: "visits", Fields: map[string]string{"unit": "Terveysasema"}}}}, {ID: "koronavilkku"}}
	dpo := h.browse(t, oidclogin.Identity{Subject: "staff-tuomas", Name: "Tuomas Tietosuoja", Roles: []string{RoleDPO}}, "dpo", nil)
	h.files[caseID].Case.Attention = &request.Attention{Step: request.StepIntake, Trouble: request.TroubleRefused, Since: time.Now()}
	w := dpo(http.MethodGet, "/", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="needs-attention"`) || !strings.Contains(w.Body.String(), "1 request needs attention") {
		t.Fatalf("the DPO's case list does not count the requests needing attention: %d\n%s", w.Code, w.Body)
	}
	listed := h.record.entries[0]
	if listed.Action != "listed_cases" || !slices.Equal(listed.Detail["cases"].([]string), []string{caseID}) {
		t.Fatalf("the list's entry: %+v", listed)
	}
	if w := dpo(http.MethodGet, "/?status=lost", nil); w.Code != http.StatusBadRequest {
		t.Errorf("a list by an unknown status: %d", w.Code)
	}

	w = h.api(http.MethodGet, "/api/v1/cases/"+caseID+handling, "kaisa", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Terveysasema") {
		t.Fatalf("the API's case: %d %s", w.Code, w.Body)
	}
	got := h.record.actions()
	if !slices.Equal(got[len(got)-2:], []string{"viewed", "viewed_records"}) || h.record.entries[len(got)-1].Detail["register_id"] != "kanta-client-register" {
		t.Fatalf("the API returned a register's records: the record %v", h.record.entries)
	}

	h.mailbox.msgs = append(h.mailbox.msgs, mailboxMessage(7))
	clerk := h.browse(t, kaisa, "kaisa", nil)
	if w := clerk(http.MethodGet, "/dev/mailbox", nil); w.Code != http.StatusOK {
		t.Fatalf("the mailbox: %d", w.Code)
	}
	last := h.record.entries[len(h.record.entries)-1]
	if last.Action != "read_mailbox" || !slices.Equal(last.Detail["messages"].([]int64), []int64{7}) {
		t.Fatalf("the mailbox's entry: %+v", last)
	}
}

func TestADecisionStatesItsPurpose(t *testing.T) {
	h := newHarness(t)
	// A form decision on a case not opened for a purpose is not taken: the case asks for one.
	clerk := h.browse(t, kaisa, "kaisa", nil)
	if w := clerk(http.MethodPost, "/cases/"+caseID+"/approve", url.Values{"note": {"ok"}}); w.Code != http.StatusSeeOther || len(h.requests.approvals) != 0 {
		t.Fatalf("an approval on a case never opened: %d, %d approvals", w.Code, len(h.requests.approvals))
	}
	opened := h.browse(t, kaisa, "opened", map[string]web.ViewGrant{caseID: {Purpose: "reviewing register outcomes", Until: time.Now().Add(time.Hour)}})
	if w := opened(http.MethodPost, "/cases/"+caseID+"/approve", url.Values{"note": {"ok"}}); w.Code != http.StatusSeeOther ||
		len(h.requests.approvals) != 1 || h.requests.approvals[0].Purpose != "reviewing register outcomes" {
		t.Fatalf("an approval on an opened case: %d, %+v", w.Code, h.requests.approvals)
	}
	// Through the API, the purpose is stated with the call.
	if w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/reply", "kaisa", `{}`); w.Code != http.StatusBadRequest || len(h.requests.approvals) != 1 {
		t.Fatalf("an API approval without a purpose: %d", w.Code)
	}
	if w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/verify-identity?purpose=audit", "kaisa", `{"method":"passport"}`); w.Code != http.StatusBadRequest {
		t.Fatalf("a clerk verifying an identity for an auditor's purpose: %d", w.Code)
	}
}

func TestAStaffMembersChangesAreLimited(t *testing.T) {
	h := newHarness(t)
	for i := range 31 {
		w := h.api(http.MethodPost, "/api/v1/cases/"+caseID+"/reply"+handling, "kaisa", `{}`)
		if i < 30 && w.Code != http.StatusOK {
			t.Fatalf("approval %d: %d", i+1, w.Code)
		}
		if i == 30 && (w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "") {
			t.Fatalf("the 31st change in a minute: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := h.api(http.MethodGet, "/api/v1/cases", "kaisa", ""); w.Code != http.StatusOK {
		t.Errorf("a read past the limit of changes: %d", w.Code)
	}
}
