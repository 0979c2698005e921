package portal

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// registers is the catalogue as the portal reads it: a register that lets a phone number and a name
// be corrected, and erases; one that keeps its data under law; and the Kanta processing log, whose
// processing events "Who has used my data" shows.
type registers []request.Declared

func (r registers) InForce(context.Context, time.Time) ([]request.Declared, error) { return r, nil }

func catalogue(t testing.TB) registers {
	t.Helper()
	read := func(path string) contracts.Declaration {
		var d contracts.Declaration
		raw, err := readDemo(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return registers{{Declaration: read("kanta-client-register")}, {Declaration: read("clinic-event-invitations")},
		{Declaration: read("kanta-processing-log")}}
}

// signedInAs puts a session of the person in the harness, and returns a function that posts a form
// with the session's cookie and CSRF token.
func (h *harness) signedInAs(id *web.Session) func(method, path string, form url.Values) *httptest.ResponseRecorder {
	data, _ := json.Marshal(id)
	h.sessions["sid"] = data
	return func(method, path string, form url.Values) *httptest.ResponseRecorder {
		if form == nil {
			form = url.Values{}
		}
		form.Set("csrf", "csrf-token")
		ct := ""
		if method == http.MethodPost {
			ct = "application/x-www-form-urlencoded"
		}
		return h.do(method, path, ct, form.Encode(), map[string]string{"Cookie": "kirjaamo_portal=sid"})
	}
}

func TestAFieldErrorIsInThePagesLanguageAndTiedToItsField(t *testing.T) {
	h := newHarness(t)
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	send(http.MethodPost, "/sv/requests/new", url.Values{"right": {"access"}})
	send(http.MethodPost, "/sv/requests/new/details", url.Values{})
	w := send(http.MethodPost, "/sv/requests/new/contact", url.Values{"phone": {"abc"}})
	body := html.UnescapeString(w.Body.String())
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a phone number in letters: %d", w.Code)
	}
	want := texts.In(contracts.Swedish).T("error.phone.e164")
	for _, s := range []string{`<html lang="sv">`, "<title>Fel: ", `<a href="#phone">` + want, `aria-describedby="phone-hint error-phone"`,
		`aria-invalid="true"`, `id="error-summary"`, "autofocus"} {
		if !strings.Contains(body, s) {
			t.Errorf("the refused step does not hold %q", s)
		}
	}
	if strings.Contains(body, "must be") || strings.Contains(body, "international form") {
		t.Error("the validator's English reached the page")
	}
}

func TestRectificationOffersTheRegistersFieldsAndChecksTheValue(t *testing.T) {
	h := newHarness(t)
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	send(http.MethodPost, "/fi/requests/new", url.Values{"right": {"rectification"}})
	w := send(http.MethodGet, "/fi/requests/new/details", nil)
	if !strings.Contains(w.Body.String(), `<option value="phone">Puhelinnumero – Kanta-palvelujen asiakasrekisteri</option>`) {
		t.Fatalf("the form does not offer the register's correctable phone number:\n%s", w.Body)
	}
	if strings.Contains(w.Body.String(), `value="organisation"`) {
		t.Error("the form offers a field the register does not let be corrected")
	}
	w = send(http.MethodPost, "/fi/requests/new/details", url.Values{"rectify_field": {"phone"}, "rectify_value": {"Puhelinnumero"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(w.Body.String()), texts.In(contracts.Finnish).T("error.phone.e164")) {
		t.Fatalf("a phone number in words: %d", w.Code)
	}
	w = send(http.MethodPost, "/fi/requests/new/details", url.Values{"rectify_field": {"phone"}, "rectify_value": {"12345"}})
	if w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a phone number too short: %d", w.Code)
	}
	// A Finnish number as people write it is taken in its international form.
	w = send(http.MethodPost, "/fi/requests/new/details", url.Values{"rectify_field": {"phone"}, "rectify_value": {"040 111 0099"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/fi/requests/new/contact" {
		t.Fatalf("a good correction: %d to %s", w.Code, w.Header().Get("Location"))
	}
	send(http.MethodPost, "/fi/requests/new/contact", url.Values{})
	w = send(http.MethodGet, "/fi/requests/new/check", nil)
	if !strings.Contains(w.Body.String(), `name="rectify_value" value="&#43;358401110099"`) {
		t.Fatalf("the check page does not carry the normalized number:\n%s", w.Body)
	}
	// Through the API, a field no register lets be corrected is refused field by field.
	r := h.api(http.MethodPost, "/api/v1/requests", "aino-token", `{"right":"rectification","language":"fi","rectification":[{"field":"organisation","new_value":"x"}]}`)
	if p := problem(t, r); r.Code != http.StatusUnprocessableEntity || p.Errors[0].Field != "rectification[0].field" {
		t.Errorf("an uncorrectable field through the API: %d %+v", r.Code, p.Errors)
	}
}

func TestTheCheckOfAnErasureSaysWhichRegistersEraseAtOnce(t *testing.T) {
	h := newHarness(t)
	// Signed in with her e-mail address, by which the clinic finds its invitations.
	aino := ainoID
	aino.Email = "aino.virtanen@example.fi"
	send := h.signedInAs(&web.Session{Identity: &aino, CSRF: "csrf-token"})
	send(http.MethodPost, "/en/requests/new", url.Values{"right": {"erasure"}})
	send(http.MethodPost, "/en/requests/new/details", url.Values{"details": {"I withdraw my consent"}})
	send(http.MethodPost, "/en/requests/new/contact", url.Values{"contact_email": {"aino@example.fi"}})
	body := send(http.MethodGet, "/en/requests/new/check", nil).Body.String()
	for _, s := range []string{"Erasure cannot be undone", `<ul id="erase-at-once"><li>Video-meeting invitations`,
		`<ul id="erase-not"><li>Kanta Services client register: `, "Send the erasure request"} {
		if !strings.Contains(body, s) {
			t.Errorf("the check page does not say %q", s)
		}
	}
	if len(h.requests.started) != 0 {
		t.Fatal("the check page sent the request")
	}
}

func TestSendingTheSameFormAgainSendsNothingMore(t *testing.T) {
	h := newHarness(t)
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	form := url.Values{"right": {"access"}, "idempotency_key": {"6f1c0f0e-3c0a-4f3e-9a4b-6b1d2f6a9c13"}}
	first := send(http.MethodPost, "/fi/requests", form)
	again := send(http.MethodPost, "/fi/requests", form)
	if first.Code != http.StatusSeeOther || again.Header().Get("Location") != first.Header().Get("Location") || len(h.requests.started) != 1 {
		t.Fatalf("sent twice: %s, then %s; %d started", first.Header().Get("Location"), again.Header().Get("Location"), len(h.requests.started))
	}
	var sess web.Session
	_ = json.Unmarshal(h.sessions["sid"], &sess)
	if sess.Notice != "portal.already_sent" {
		t.Errorf("the page says %q after the second send", sess.Notice)
	}
}

func TestWithdrawingAsksFirst(t *testing.T) {
	h := newHarness(t)
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	w := send(http.MethodGet, "/fi/requests/"+ainosCase+"/withdraw", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="confirm-withdraw"`) || len(h.requests.withdrawn) != 0 {
		t.Fatalf("the question: %d, %d withdrawn", w.Code, len(h.requests.withdrawn))
	}
	if w := send(http.MethodPost, "/fi/requests/"+ainosCase+"/withdraw", url.Values{}); w.Code != http.StatusSeeOther || len(h.requests.withdrawn) != 1 {
		t.Fatalf("the answer: %d, %d withdrawn", w.Code, len(h.requests.withdrawn))
	}
}

func TestAnUnknownAddressIsAStyledPageInItsLanguage(t *testing.T) {
	h := newHarness(t)
	for _, l := range contracts.Languages {
		w := h.do(http.MethodGet, "/"+string(l)+"/no-such-page", "", "", nil)
		body := w.Body.String()
		if w.Code != http.StatusNotFound || !strings.Contains(body, `<html lang="`+string(l)+`">`) ||
			!strings.Contains(body, texts.In(l).T("portal.not_found_heading")) || !strings.Contains(body, "/static/portal.css") {
			t.Errorf("%s: %d\n%s", l, w.Code, body)
		}
	}
	if w := h.do(http.MethodGet, "/api/v1/nothing", "", "", nil); w.Code != http.StatusNotFound || problem(t, w).Status != 404 {
		t.Errorf("an unknown API address: %d", w.Code)
	}
}

// TestEveryPageIsInEveryLanguage renders the pages that need no case in each language and finds no
// key missing and no other language's words in them.
func TestEveryPageIsInEveryLanguage(t *testing.T) {
	h := newHarness(t)
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	for _, l := range contracts.Languages {
		p := "/" + string(l)
		send(http.MethodPost, p+"/requests/new", url.Values{"right": {"rectification"}})
		send(http.MethodPost, p+"/requests/new/details", url.Values{"rectify_field": {"name"}, "rectify_value": {"Aino"}})
		send(http.MethodPost, p+"/requests/new/contact", url.Values{})
		for _, path := range []string{"/", "/help", "/privacy", "/accessibility", "/requests", "/requests/new", "/requests/new/details",
			"/requests/new/contact", "/requests/new/check", "/requests/" + ainosCase, "/requests/" + ainosCase + "/withdraw"} {
			w := send(http.MethodGet, p+path, nil)
			body := w.Body.String()
			if w.Code != http.StatusOK || strings.Contains(body, "⟦") {
				t.Errorf("%s%s: %d, or a key missing", l, path, w.Code)
			}
			for _, other := range contracts.Languages {
				if other != l && strings.Contains(body, texts.In(other).T("portal.skip")) {
					t.Errorf("%s%s holds the %s catalogue's words", l, path, other)
				}
			}
		}
	}
}
