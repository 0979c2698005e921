package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// openRedirects are return_to values that lead a browser off the site: backslashes (a browser reads
// them as slashes), tabs and line breaks (a browser strips them), dot segments, encoded slashes,
// other schemes, credentials, and their mixtures.
var openRedirects = []string{
	"//evil.example/x", `/\evil.example/x`, `/\/evil.example`, `\\evil.example`, `/./\evil.example`, "/\t/evil.example",
	"/\n/evil.example", "/\r\n/evil.example", " //evil.example", "\x00//evil.example", `/.\/evil.example`, "/%2F%2Fevil.example",
	"/%2f/evil.example", "/%5Cevil.example", "/%5C%5Cevil.example", "https://evil.example/", "http://evil.example", "HTTPS://evil.example",
	"https:evil.example", "http:/evil.example", "//kirjaamo.example.test@evil.example", "https://kirjaamo.example.test@evil.example/",
	"https://user:pw@kirjaamo.example.test/x", "javascript:alert(1)", "data:text/html,<script>", "/..//evil.example",
	"/../../evil.example/..//evil.example", "/%2e%2e/%2e%2e//evil.example", "/.%2e/evil.example", "///evil.example", `/\\evil.example`,
	"/\t\\evil.example", "https://kirjaamo.example.test:8443/x", "http://kirjaamo.example.test/x", "", "   ", "\t",
}

func TestReturnToStaysOnTheSite(t *testing.T) {
	const site = "https://kirjaamo.example.test"
	for _, payload := range openRedirects {
		got, ok := SameOrigin(site, payload)
		if !ok {
			continue
		}
		// What is given back must be a path of the site however a browser reads it.
		u, err := url.Parse(site + got)
		if err != nil || u.Host != "kirjaamo.example.test" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\t\r\n") {
			t.Errorf("return_to %q leads to %q", payload, got)
		}
	}
	for payload, want := range map[string]string{
		"/fi/requests":                      "/fi/requests",
		"/fi/requests/abc?x=1#frag":         "/fi/requests/abc?x=1",
		"https://kirjaamo.example.test/sv/": "/sv/",
		"/fi/./requests/../requests":        "/fi/requests",
		"/fi/\trequests":                    "/fi/requests",
		`/fi\requests`:                      "/fi/requests",
		"requests":                          "/requests",
	} {
		if got, ok := SameOrigin(site, payload); !ok || got != want {
			t.Errorf("return_to %q: %q, %v; want %q", payload, got, ok, want)
		}
	}
}

type memStore map[string]bool

func (m memStore) Load(context.Context, string, string, any) error { return nil }
func (m memStore) Save(_ context.Context, _, id string, _ any, _ time.Time) error {
	m[id] = true
	return nil
}
func (m memStore) Delete(_ context.Context, id string) error { delete(m, id); return nil }

// Over HTTPS the session cookie is Secure and __Host-, and browsers are told to keep to HTTPS.
func TestASiteOverHTTPSIsKeptToHTTPS(t *testing.T) {
	for _, https := range []bool{true, false} {
		s := &Sessions{Store: memStore{}, Site: "portal", Cookie: CookieName("kirjaamo_portal", https), Secure: https, TTL: time.Minute}
		h := SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = s.Save(r.Context(), w, &Session{})
		}), https)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		cookie := w.Result().Cookies()[0]
		hsts := w.Header().Get("Strict-Transport-Security")
		if https && (cookie.Name != "__Host-kirjaamo_portal" || !cookie.Secure || cookie.Path != "/" || cookie.Domain != "" || !strings.Contains(hsts, "max-age=31536000")) {
			t.Errorf("over HTTPS: cookie %+v, HSTS %q", cookie, hsts)
		}
		if !https && (cookie.Name != "kirjaamo_portal" || cookie.Secure || hsts != "") {
			t.Errorf("over HTTP (dev): cookie %+v, HSTS %q", cookie, hsts)
		}
	}
}
