package devidp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kirjaamo.dev/services/auth/devidp"
)

// The provider offers RP-initiated logout: its end_session_endpoint sends the browser back only to
// a post-logout address the client registered, with the state it was given.
func TestLogoutSendsTheBrowserBackOnlyWhereTheClientRegistered(t *testing.T) {
	const back = "https://portal.example.test/"
	p := start(t, func(c *devidp.Config) { c.Clients[0].PostLogoutRedirectURIs = []string{back} })
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	getJSON(t, p.srv.URL+"/.well-known/openid-configuration", &meta)
	if meta.EndSession != p.srv.URL+"/logout" {
		t.Fatalf("end_session_endpoint %q", meta.EndSession)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	logout := func(q url.Values) *http.Response {
		t.Helper()
		resp, err := noFollow.Get(meta.EndSession + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := logout(url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {back}, "state": {"xyz"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back+"?state=xyz" {
		t.Fatalf("a registered return: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, q := range []url.Values{
		{"client_id": {clientID}, "post_logout_redirect_uri": {"https://evil.example/"}},
		{"client_id": {otherID}, "post_logout_redirect_uri": {back}},
		{"client_id": {"nobody"}, "post_logout_redirect_uri": {back}},
	} {
		if resp := logout(q); resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Location"), "evil") {
			t.Errorf("%v: %d to %q, want 400", q, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
