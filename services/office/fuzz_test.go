package office

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The office's input decoders, fuzzed through its handlers against fakes of its ports: the
// registration of a letter through the form and the API, the purpose a case is opened for, and the
// decision forms. Whatever arrives, the answer is never a 5xx or a panic, and nothing accepted
// carries a text the store refuses.

// unlimited lifts the rate limits, which would otherwise refuse all but the fuzzer's first calls.
func unlimited(c *Config) { c.CallsPerMinute, c.CallsPerAddressPerMinute = 1<<30, 1<<30 }

var hostile = []string{"", "\x00", "a\x00b", "\xff", "\x1b[2J", "e\u0301", strings.Repeat("é", 2001), "<b>", "%00", "\r\n"}

func checkStarted(t *testing.T, h *harness) {
	t.Helper()
	for _, in := range h.requests.started {
		if ve := request.CheckInput(in); ve != nil {
			t.Fatalf("an invalid request was registered: %v", ve)
		}
	}
}

func FuzzRegistration(f *testing.F) {
	f.Add("Aino Virtanen", "150385-9013", "access", "fi", "mail", "", "", "")
	for _, s := range hostile {
		f.Add(s, s, s, s, s, s, s, s)
	}
	h := newHarness(f, unlimited)
	clerk := h.browse(f, kaisa, "kaisa", nil)
	f.Fuzz(func(t *testing.T, name, code, right, language, channel, receivedOn, email, details string) {
		h.requests.started = nil
		body, _ := json.Marshal(map[string]string{"name": name, "personal_identity_code": code, "right": right, "language": language,
			"channel": channel, "received_on": receivedOn, "contact_email": email, "details": details})
		if w := h.api(http.MethodPost, "/api/v1/cases", "kaisa", string(body)); w.Code >= 500 {
			t.Fatalf("the API answered %d: %s", w.Code, w.Body)
		}
		form := url.Values{"name": {name}, "personal_identity_code": {code}, "right": {right}, "language": {language}, "channel": {channel},
			"received_on": {receivedOn}, "contact_email": {email}, "details": {details}}
		if w := clerk(http.MethodPost, "/cases", form); w.Code >= 500 {
			t.Fatalf("the form answered %d", w.Code)
		}
		checkStarted(t, h)
	})
}

func FuzzCaseForms(f *testing.F) {
	f.Add("handling the request", "", "approve", "ok", "1")
	for _, s := range hostile {
		f.Add(s, s, s, s, s)
	}
	h := newHarness(f, unlimited)
	clerk := h.browse(f, kaisa, "kaisa", map[string]web.ViewGrant{caseID: {Purpose: "handling the request", Until: time.Now().Add(time.Hour)}})
	f.Fuzz(func(t *testing.T, purpose, detail, decision, text, months string) {
		if w := clerk(http.MethodPost, "/cases/"+caseID+"/purpose", url.Values{"purpose": {purpose}, "purpose_detail": {detail}}); w.Code >= 500 {
			t.Fatalf("the purpose form answered %d", w.Code)
		}
		path := "/cases/" + caseID + "/" + url.PathEscape(decision)
		form := url.Values{"note": {text}, "reasons": {text}, "method": {text}, "months": {months}}
		if w := clerk(http.MethodPost, path, form); w.Code >= 500 {
			t.Fatalf("POST %s answered %d", path, w.Code)
		}
		if w := h.api(http.MethodGet, "/api/v1/cases/"+caseID+"?purpose="+url.QueryEscape(purpose)+"&purpose_detail="+url.QueryEscape(detail), "kaisa", ""); w.Code >= 500 {
			t.Fatalf("the API's case with a purpose answered %d", w.Code)
		}
	})
}
