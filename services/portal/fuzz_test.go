package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"kirjaamo.dev/workflows/request"
)

// The portal's input decoders, fuzzed through its handlers against fakes of its ports: the request
// form, and every API body and path. Whatever arrives, the answer is a 2xx or 3xx for a valid
// input, a 4xx otherwise, never a 5xx or a panic; and whatever was accepted is a request whose
// every text the store takes.

// checkStarted fails if a started request carries a text the store would refuse.
func checkStarted(t *testing.T, h *harness) {
	t.Helper()
	for _, in := range h.requests.started {
		if ve := request.CheckInput(in); ve != nil {
			t.Fatalf("an invalid request was started: %v", ve)
		}
		for _, s := range []string{in.Request.Details, in.Request.ContactEmail} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("a request was started with the text %q", s)
			}
		}
	}
}

// unlimited lifts the rate limits, which would otherwise refuse all but the fuzzer's first calls.
func unlimited(c *Config) {
	c.CallsPerMinute, c.CallsPerAddressPerMinute, c.SubmissionsPerHour, c.MaxOpenRequests = 1<<30, 1<<30, 1<<30, 1<<30
}

var hostile = []string{"", "\x00", "a\x00b", "\xff", "\x1b[2J", "e\u0301", strings.Repeat("é", 2001), "<b>", "%00", "../../", "\r\n"}

func FuzzRequestForm(f *testing.F) {
	f.Add("access", "", "aino.virtanen@example.fi", "All my data", "", "", "0195d5c8-8d3e-7c1a-9f00-00000000f001")
	f.Add("rectification", "+358 40 111 0001", "", "", "address", "Kuusitie 5", "")
	for _, s := range hostile {
		f.Add("objection", s, s, s, s, s, s)
	}
	h := newHarness(f, unlimited)
	f.Fuzz(func(t *testing.T, right, phone, email, details, field, value, key string) {
		h.requests.started = nil
		form := url.Values{"right": {right}, "phone": {phone}, "contact_email": {email}, "details": {details}, "rectify_field": {field},
			"rectify_value": {value}, "idempotency_key": {key}}
		w := h.page(t, ainoID, http.MethodPost, "/fi/requests", form)
		if w.Code >= 500 {
			t.Fatalf("the form answered %d", w.Code)
		}
		if w.Code == http.StatusSeeOther && len(h.requests.started) != 1 {
			t.Fatalf("the form was taken, and %d requests started", len(h.requests.started))
		}
		checkStarted(t, h)
	})
}

func FuzzAPI(f *testing.F) {
	f.Add("POST", "", "application/json", []byte(`{"right":"access","language":"fi"}`))
	f.Add("POST", "/"+ainosCase+"/identifiers", "application/json", []byte(`{"type":"phone","value":"+358401110001"}`))
	f.Add("POST", "/"+ainosCase+"/identifiers/verify", "application/json", []byte(`{"code":"123456"}`))
	f.Add("POST", "/"+ainosCase+"/withdraw", "", []byte(nil))
	f.Add("GET", "/"+ainosCase, "", []byte(nil))
	f.Add("GET", "/not-a-uuid%00", "", []byte(nil))
	f.Add("POST", "", "application/json", []byte(`{"right":"access","language":"fi","details":"a\u0000b"}`))
	f.Add("POST", "", "application/json; charset=utf-8", []byte("{\"right\":\"access\",\"language\":\"fi\",\"details\":\"\xff\"}"))
	h := newHarness(f, unlimited)
	f.Fuzz(func(t *testing.T, method, path, contentType string, body []byte) {
		h.requests.started = nil
		target := "/api/v1/requests" + path
		if _, err := url.ParseRequestURI(target); err != nil || (method != "GET" && method != "POST") {
			return // not a request a client could send
		}
		w := h.do(method, target, contentType, string(body), map[string]string{"Authorization": "Bearer aino-token"})
		if w.Code >= 500 {
			t.Fatalf("%s %s answered %d: %s", method, target, w.Code, w.Body)
		}
		checkStarted(t, h)
	})
}
