package devstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/services/apiclient"
	"kirjaamo.dev/services/auth/devidp/devidptest"
	"kirjaamo.dev/services/internal/store/cases"
)

// browser is an HTTP client that keeps cookies, as a browser would, but does not follow redirects,
// so that a test sees each one.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs a browser in to a site (login path, e.g. /en/login) as a dev identity provider person.
func signIn(t *testing.T, hc *http.Client, site, loginPath, subject string) {
	t.Helper()
	resp, err := hc.Get(site + loginPath)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	back, err := devidptest.ChoosePerson(context.Background(), hc, resp.Header.Get("Location"), subject)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(back.String())
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %v %v", resp, err)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page fetches a page and returns its status, body and the CSRF token of its forms.
func page(t *testing.T, hc *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	token := ""
	if m := csrfField.FindSubmatch(body); m != nil {
		token = string(m[1])
	}
	return resp.StatusCode, string(body), token
}

func post(t *testing.T, hc *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := hc.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// idToken gets an ID token for a person through the real authorization-code flow with PKCE.
func idToken(t *testing.T, s *Stack, subject string) string {
	t.Helper()
	raw, err := s.IDToken(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func api(t *testing.T, method, u, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// fieldsOf lists the fields a problem document names.
func fieldsOf(problem map[string]any) []string {
	var out []string
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m["field"].(string))
		}
	}
	return out
}

func TestBadInputGetsAFieldLevel4xx(t *testing.T) {
	s := sharedStack(t)
	before, _ := s.Platform.Cases.List(context.Background(), cases.Filter{SubjectID: "demo-matti"})

	citizen := browser(t)
	signIn(t, citizen, s.PortalURL, "/en/login", "demo-matti")
	status, _, csrf := page(t, citizen, s.PortalURL+"/en/requests/new")
	if status != http.StatusOK || csrf == "" {
		t.Fatalf("form: %d, csrf %q", status, csrf)
	}
	form := url.Values{"csrf": {csrf}, "idempotency_key": {"0195d5c8-8d3e-7c1a-9f00-00000000b0b0"}, "right": {"access"}}

	bad := func(name string, change func(url.Values), want int, fieldID string) {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		change(f)
		status, body := post(t, citizen, s.PortalURL+"/en/requests", f)
		if status != want {
			t.Errorf("%s: status %d, want %d", name, status, want)
		}
		if fieldID != "" && !strings.Contains(body, `id="`+fieldID+`"`) {
			t.Errorf("%s: the page does not show %s", name, fieldID)
		}
	}
	bad("phone", func(f url.Values) { f.Set("phone", "12") }, http.StatusUnprocessableEntity, "error-phone")
	bad("right", func(f url.Values) { f.Set("right", "teleport") }, http.StatusUnprocessableEntity, "error-right")
	bad("e-mail", func(f url.Values) { f.Set("contact_email", "not an address") }, http.StatusUnprocessableEntity, "error-contact_email")
	bad("rectification", func(f url.Values) { f.Set("right", "rectification") }, http.StatusUnprocessableEntity, "error-rectify_field")
	bad("details", func(f url.Values) { f.Set("details", strings.Repeat("x", 4001)) }, http.StatusUnprocessableEntity, "error-details")
	bad("csrf", func(f url.Values) { f.Set("csrf", "forged") }, http.StatusBadRequest, "")
	bad("key", func(f url.Values) { f.Set("idempotency_key", "not-a-uuid") }, http.StatusUnprocessableEntity, "")
	if after, _ := s.Platform.Cases.List(context.Background(), cases.Filter{SubjectID: "demo-matti"}); len(after) != len(before) {
		t.Errorf("bad input left %d cases behind", len(after)-len(before))
	}
	for _, path := range []string{"/en/requests/not-a-uuid", "/en/requests/0195d5c8-8d3e-7c1a-9f00-00000000dead", "/en/requests/x/package.json"} {
		if status, _, _ := page(t, citizen, s.PortalURL+path); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}

	// The JSON API.
	token := idToken(t, s, "demo-matti")
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests", "", "application/json", `{}`); status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests", "forged.token.here", "application/json", `{}`); status != http.StatusUnauthorized {
		t.Errorf("forged token: %d, want 401", status)
	}
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "text/plain", `{}`); status != http.StatusUnsupportedMediaType {
		t.Errorf("text body: %d, want 415", status)
	}
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json", `{"right":`); status != http.StatusBadRequest {
		t.Errorf("broken JSON: %d, want 400", status)
	}
	if status, p := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json", `{"right":"access","language":"fi","shoe_size":43}`); status != http.StatusBadRequest || !strings.Contains(p["detail"].(string), "shoe_size") {
		t.Errorf("unknown field: %d %v, want 400 naming it", status, p)
	}
	status, p := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json", `{"right":"teleport","language":"de","phone":"12"}`)
	if status != http.StatusUnprocessableEntity || strings.Join(fieldsOf(p), ",") != "right,phone,language" {
		t.Errorf("bad values: %d, fields %v; want 422 naming right, phone, language", status, fieldsOf(p))
	}
	good := `{"right":"access","language":"en","idempotency_key":"0195d5c8-8d3e-7c1a-9f00-00000000c0c0"}`
	status, first := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json", good)
	_, again := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json", good)
	if status != http.StatusAccepted || first["request_id"] == nil || first["request_id"] != again["request_id"] {
		t.Errorf("submit twice with one key: %d %v then %v; want 202 and the same request", status, first, again)
	}
	if status, _ := api(t, "GET", s.PortalURL+"/api/v1/requests/"+first["request_id"].(string), idToken(t, s, "demo-liisa"), "", ""); status != http.StatusNotFound {
		t.Errorf("another person's request: %d, want 404", status)
	}

	// The office: a case opens only for a stated purpose.
	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	id := first["request_id"].(string)
	waitStatus(t, s, id, "in_review")
	status, body, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	if status != http.StatusOK || !strings.Contains(body, `id="open-case"`) || strings.Contains(body, "Matti") {
		t.Fatalf("a case opened without a purpose: %d", status)
	}
	if status, body := post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"curiosity"}}); status != http.StatusUnprocessableEntity || !strings.Contains(body, "purpose-error") {
		t.Errorf("an unlisted purpose: %d, want 422 with the field named", status)
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/approve", url.Values{"csrf": {"forged"}}); status != http.StatusBadRequest {
		t.Errorf("approval with a forged token: %d, want 400", status)
	}
	// A citizen who signs in at the office is turned away at the callback, and stays out.
	outsider := browser(t)
	resp, err := outsider.Get(s.OfficeURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	back, err := devidptest.ChoosePerson(context.Background(), outsider, resp.Header.Get("Location"), "demo-aino")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := page(t, outsider, back.String()); status != http.StatusForbidden {
		t.Errorf("a citizen signing in to the office: %d, want 403", status)
	}
	if status, _, _ := page(t, outsider, s.OfficeURL+"/"); status != http.StatusSeeOther {
		t.Errorf("a citizen turned away from the office still reaches the case list: %d", status)
	}
}

// handling states a clerk's purpose on an office API call: every decision states one.
const handling = "?purpose=handling+the+request"

// portalClient is the generated API client, calling the portal as a demo person.
func portalClient(t *testing.T, s *Stack, subject string) *apiclient.ClientWithResponses {
	t.Helper()
	token := idToken(t, s, subject)
	c, err := apiclient.NewClientWithResponses(s.PortalURL, apiclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
