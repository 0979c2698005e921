package portal

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/texts"
)

func TestStateChangingCallsArePerPersonAndPerAddressLimited(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CallsPerMinute, c.CallsPerAddressPerMinute = 3, 5 })
	withdraw := func(token string) *http.Response {
		return h.api(http.MethodPost, "/api/v1/requests/"+ainosCase+"/withdraw", token, "").Result()
	}
	for range 3 {
		if resp := withdraw("aino-token"); resp.StatusCode != http.StatusOK {
			t.Fatalf("a withdrawal within the limit: %d", resp.StatusCode)
		}
	}
	resp := withdraw("aino-token")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("Aino's fourth call in a minute: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(h.requests.withdrawn); n != 3 {
		t.Errorf("%d withdrawals reached the workflow, want the 3 within the limit", n)
	}
	// Reading is not limited.
	for range 10 {
		if w := h.api(http.MethodGet, "/api/v1/requests", "aino-token", ""); w.Code != http.StatusOK {
			t.Fatalf("a read past the limit of changes: %d", w.Code)
		}
	}
	// Matti has his own limit, but shares the address: its fifth call is its last.
	if resp := withdraw("matti-token"); resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("Matti's first call was refused for Aino's")
	}
	if resp := withdraw("matti-token"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the address's sixth call in a minute: %d", resp.StatusCode)
	}
	// Even unsigned and malformed, a call counts against its address; the page answers in its language.
	w := h.do(http.MethodPost, "/sv/requests", "application/x-www-form-urlencoded", "csrf=x", nil)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), texts.In(contracts.Swedish).T("portal.too_many_requests")) {
		t.Errorf("a form past the address's limit: %d\n%s", w.Code, w.Body)
	}
}

func TestAPersonSendsAFewRequestsAnHourAndHasAFewOpen(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.SubmissionsPerHour, c.MaxOpenRequests = 2, 3 })
	submit := func(key string) *http.Response {
		return h.api(http.MethodPost, "/api/v1/requests", "matti-token", `{"right":"access","language":"en","idempotency_key":"`+key+`"}`).Result()
	}
	keys := []string{"0195d5c8-8d3e-7c1a-9f00-0000000000a1", "0195d5c8-8d3e-7c1a-9f00-0000000000a2", "0195d5c8-8d3e-7c1a-9f00-0000000000a3"}
	for _, key := range keys[:2] {
		if resp := submit(key); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("a request within the hour's limit: %d", resp.StatusCode)
		}
	}
	if resp := submit(keys[2]); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the third request in an hour: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(h.requests.started); n != 2 {
		t.Errorf("%d requests started, want 2", n)
	}

	// Aino has one request open; with two more she is at the cap, and a fourth is refused, saying why.
	h = newHarness(t, func(c *Config) { c.MaxOpenRequests = 3 })
	for _, id := range []string{"0195d5c8-8d3e-7c1a-9f00-0000000000b1", "0195d5c8-8d3e-7c1a-9f00-0000000000b2"} {
		file := *h.files[ainosCase]
		file.Case.RequestID = id
		h.files[id] = &file
	}
	data := `{"right":"erasure","language":"fi"}`
	w := h.api(http.MethodPost, "/api/v1/requests", "aino-token", data)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(problem(t, w).Detail, "3 requests open") {
		t.Fatalf("a request past the cap on open requests: %d %s", w.Code, w.Body)
	}
	if len(h.requests.started) != 0 {
		t.Error("a request past the cap was started")
	}
	form := url.Values{"csrf": {"t"}, "right": {"erasure"}, "idempotency_key": {"0195d5c8-8d3e-7c1a-9f00-0000000000c1"}}
	w = h.page(t, ainoID, http.MethodPost, "/en/requests", form)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), texts.In(contracts.English).T("portal.too_many_open", 3)) {
		t.Errorf("the form past the cap: %d\n%s", w.Code, w.Body)
	}
}

// A field that fails is told at the field, in the page's language: by what the form asks there, or
// by the rule its value broke.
func TestAFieldIsToldWhatIsWrongInThePagesLanguage(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		lang contracts.Language
		form url.Values
		id   string
		want string
	}{
		{contracts.Finnish, url.Values{"right": {"objection"}, "details": {"a\x00b"}}, "error-details", texts.In(contracts.Finnish).Of("portal.invalid", "control")},
		{contracts.Swedish, url.Values{"right": {"objection"}, "details": {strings.Repeat("å", 4001)}}, "error-details", texts.In(contracts.Swedish).T("error.details.max")},
		{contracts.English, url.Values{"right": {"objection"}, "contact_email": {"caf\xe9@example.fi"}}, "error-contact_email", texts.In(contracts.English).T("error.contact_email.email")},
		{contracts.Finnish, url.Values{"right": {"rectification"}, "rectify_field": {"name"}, "rectify_value": {"\x1b[2J"}}, "error-rectify_value", texts.In(contracts.Finnish).Of("portal.invalid", "control")},
		{contracts.Swedish, url.Values{"right": {"rectification"}, "rectify_field": {"name"}, "rectify_value": {"a\xffb"}}, "error-rectify_value", texts.In(contracts.Swedish).Of("portal.invalid", "utf8")},
	} {
		w := h.page(t, ainoID, http.MethodPost, "/"+string(c.lang)+"/requests", c.form)
		body := html.UnescapeString(w.Body.String())
		_, message, _ := strings.Cut(body, `id="`+c.id+`">`)
		message, _, _ = strings.Cut(message, "</p>")
		if w.Code != http.StatusUnprocessableEntity || !strings.HasSuffix(message, "</span> "+c.want) {
			t.Errorf("%s %q: %d, want 422 saying %q at %s, said %q", c.lang, c.form, w.Code, c.want, c.id, message)
		}
	}
	if len(h.requests.started) != 0 {
		t.Error("a refused form started a request")
	}
}
