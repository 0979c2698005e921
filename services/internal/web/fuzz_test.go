package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzReadJSON: whatever the media type and the body, an API body is admitted as one JSON object of
// known fields, or answered 400, 413 or 415 with a problem document that says what is wrong
// without Go's names for things; never a 5xx, never a panic.
func FuzzReadJSON(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"right":"access"}`}, {"application/json; charset=utf-8", `{"details":"a\u0000b"}`},
		{"application/json", `{"right":"access"}{"right":"erasure"}`}, {"application/json", `{"admin":true}`},
		{"text/plain", `{}`}, {"application/jsonx", `{}`}, {"application/json; charset=latin1", `{}`}, {"", ""},
		{"application/json", "\xff\xfe"}, {"application/json", `{"right":1}`}, {"application/json", `[{}]`}, {"application/json", "{\"details\":\"" + strings.Repeat("x", 70<<10) + "\"}"},
	} {
		f.Add(seed.ct, []byte(seed.body), false)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte, optional bool) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/x", strings.NewReader(string(body)))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		var v struct {
			Right   string `json:"right"`
			Details string `json:"details"`
		}
		if ReadJSON(w, r, 64<<10, &v, optional) {
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Fatalf("admitted, yet answered %d", w.Code)
			}
			return
		}
		switch w.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("a refused body answered %d", w.Code)
		}
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Detail == "" {
			t.Fatalf("the refusal is no problem document: %s", w.Body)
		}
		if strings.Contains(p.Detail, "json:") || strings.Contains(p.Detail, "Go struct") || strings.Contains(p.Detail, "*") {
			t.Fatalf("the refusal speaks Go: %q", p.Detail)
		}
	})
}

// FuzzSameOrigin: a return_to is either refused or a path of the site, however it is read.
func FuzzSameOrigin(f *testing.F) {
	for _, payload := range openRedirects {
		f.Add(payload)
	}
	f.Add("/fi/requests?x=1")
	const site = "https://kirjaamo.example.test"
	f.Fuzz(func(t *testing.T, returnTo string) {
		got, ok := SameOrigin(site, returnTo)
		if !ok {
			return
		}
		// As a browser reads the path given back: it strips tabs and line breaks, and takes a
		// backslash for a slash; none may be in it anyway.
		if strings.ContainsAny(got, "\\\t\r\n") || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("return_to %q leads to %q", returnTo, got)
		}
		u, err := url.Parse(site + got)
		if err != nil || u.Host != "kirjaamo.example.test" || u.User != nil {
			t.Fatalf("return_to %q leads to %q, host %q", returnTo, got, u.Host)
		}
	})
}
