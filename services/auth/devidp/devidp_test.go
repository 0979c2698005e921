package devidp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/auth/devidp/devidptest"
)

// Made-up people only; 900-999 is the artificial-identity range.
var (
	citizen = devidp.Person{
		Subject:              "citizen-0002",
		Name:                 "Maija Meikäläinen",
		GivenName:            "Maija",
		FamilyName:           "Meikäläinen",
		PersonalIdentityCode: "150385-9024",
		Email:                "maija@example.invalid",
		Phone:                "+358000000002",
		ACR:                  "http://ftn.ficora.fi/2017/loa3",
	}
	auditor = devidp.Person{
		Subject: "staff-0002",
		Name:    "Aulis Auditoija",
		Roles:   []string{"auditor"},
	}
)

const (
	clientID = "portal"
	secret   = "s3cret/+&=" // needs form-encoding inside Basic auth
	callback = "https://portal.example.test/cb?lang=fi"
	otherID  = "office"
	otherCB  = "https://office.example.test/cb"
)

type idp struct {
	srv *httptest.Server
	log *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func start(t *testing.T, mutate ...func(*devidp.Config)) *idp {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	buf, mu := &bytes.Buffer{}, &sync.Mutex{}
	cfg := devidp.Config{
		Issuer: srv.URL,
		Clients: []devidp.Client{
			{ID: clientID, Secret: secret, RedirectURIs: []string{callback}},
			{ID: otherID, Secret: "other", RedirectURIs: []string{otherCB}},
		},
		People: []devidp.Person{citizen, auditor},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{mu, buf}, nil)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := devidp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	return &idp{srv: srv, log: buf, mu: mu}
}

func (i *idp) logs() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.log.String()
}

// authParams returns a valid authorization request plus its PKCE verifier.
func authParams() (url.Values, string) {
	v := oauth2.GenerateVerifier()
	return url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {callback},
		"response_type":         {"code"},
		"scope":                 {"openid profile"},
		"state":                 {"state-1"},
		"nonce":                 {"nonce-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(v)},
		"code_challenge_method": {"S256"},
	}, v
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// code runs the identification page for subject and returns the code.
func (i *idp) code(t *testing.T, params url.Values, subject string) string {
	t.Helper()
	cb, err := devidptest.ChoosePerson(t.Context(), nil, i.srv.URL+"/authorize?"+params.Encode(), subject)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("state") != params.Get("state") || cb.Query().Get("lang") != "fi" {
		t.Fatalf("callback %s lost state or the registered query", cb)
	}
	return cb.Query().Get("code")
}

type tokenResp struct {
	status int
	header http.Header
	body   map[string]any
}

func (i *idp) token(t *testing.T, form url.Values, basicUser, basicPass string) tokenResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, i.srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := tokenResp{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&out.body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return out
}

func redeemForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {callback},
		"code_verifier": {verifier},
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	i := start(t)
	var doc map[string]any
	resp := get(t, i.srv.URL+"/.well-known/openid-configuration")
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != i.srv.URL || doc["token_endpoint"] != i.srv.URL+"/token" || doc["jwks_uri"] != i.srv.URL+"/jwks" {
		t.Errorf("discovery %v", doc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	resp = get(t, i.srv.URL+"/jwks")
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["alg"] != "RS256" || set.Keys[0]["kty"] != "RSA" || set.Keys[0]["kid"] == "" {
		t.Fatalf("jwks %v", set)
	}
	if _, private := set.Keys[0]["d"]; private {
		t.Fatal("jwks leaks the private key")
	}
}

func TestChooserPage(t *testing.T) {
	i := start(t)
	params, _ := authParams()
	resp := get(t, i.srv.URL+"/authorize?"+params.Encode())
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, page)
	}
	if len(resp.Cookies()) != 0 {
		t.Error("the page must not set cookies")
	}
	for _, want := range []string{"Test identification — choose a test person", `lang="en"`, "Maija Meikäläinen", "150385-****", "auditor"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, citizen.PersonalIdentityCode) {
		t.Error("page shows the unmasked identity code")
	}
	for _, external := range []string{"<script", "<link", "src=", "<img", "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("page loads external resources (%q)", external)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

func TestAuthorizeRejectsBadClientWithoutRedirect(t *testing.T) {
	i := start(t)
	for name, mutate := range map[string]func(url.Values){
		"unknown client":         func(v url.Values) { v.Set("client_id", "nobody") },
		"missing client":         func(v url.Values) { v.Del("client_id") },
		"unregistered redirect":  func(v url.Values) { v.Set("redirect_uri", "https://evil.example.test/cb") },
		"other client's URI":     func(v url.Values) { v.Set("redirect_uri", otherCB) },
		"missing redirect":       func(v url.Values) { v.Del("redirect_uri") },
		"duplicate redirect_uri": func(v url.Values) { v.Add("redirect_uri", "https://evil.example.test/cb") },
	} {
		t.Run(name, func(t *testing.T) {
			params, _ := authParams()
			mutate(params)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var resp *http.Response
				if method == http.MethodGet {
					resp = get(t, i.srv.URL+"/authorize?"+params.Encode())
				} else {
					params.Set("subject", citizen.Subject)
					var err error
					resp, err = noFollow.PostForm(i.srv.URL+"/authorize", params)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				}
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Errorf("%s: status %d location %q", method, resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		})
	}
}

func TestAuthorizeRedirectsOtherErrors(t *testing.T) {
	i := start(t)
	for name, tc := range map[string]struct {
		mutate func(url.Values)
		want   string
	}{
		"response_type token": {func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		"no openid scope":     {func(v url.Values) { v.Set("scope", "profile") }, "invalid_scope"},
		"no state":            {func(v url.Values) { v.Del("state") }, "invalid_request"},
		"no nonce":            {func(v url.Values) { v.Del("nonce") }, "invalid_request"},
		"no PKCE":             {func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		"plain PKCE":          {func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		"short challenge":     {func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		"duplicate state":     {func(v url.Values) { v.Add("state", "again") }, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			params, _ := authParams()
			tc.mutate(params)
			resp := get(t, i.srv.URL+"/authorize?"+params.Encode())
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusSeeOther || err != nil {
				t.Fatalf("status %d, location %v", resp.StatusCode, err)
			}
			if !strings.HasPrefix(loc.String(), "https://portal.example.test/cb?") || loc.Query().Get("error") != tc.want || loc.Query().Get("lang") != "fi" {
				t.Errorf("redirect %s, want error %s", loc, tc.want)
			}
			if loc.Query().Get("code") != "" {
				t.Error("error redirect carries a code")
			}
		})
	}
}

func TestUnknownPersonIsNotLoggedIn(t *testing.T) {
	i := start(t)
	params, _ := authParams()
	params.Set("subject", "no-such-person")
	resp, err := noFollow.PostForm(i.srv.URL+"/authorize", params)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
		t.Fatalf("got %d %v", resp.StatusCode, loc)
	}
}

func TestTokenAndUserinfo(t *testing.T) {
	i := start(t)
	params, verifier := authParams()
	// client_secret_post
	form := redeemForm(i.code(t, params, citizen.Subject), verifier)
	form.Set("client_id", clientID)
	form.Set("client_secret", secret)
	tr := i.token(t, form, "", "")
	if tr.status != http.StatusOK || tr.body["token_type"] != "Bearer" || tr.body["id_token"] == nil || tr.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v", tr.status, tr.body)
	}
	access, _ := tr.body["access_token"].(string)

	req, _ := http.NewRequest(http.MethodGet, i.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info["sub"] != citizen.Subject || info["personal_identity_code"] != citizen.PersonalIdentityCode || info["phone_number"] != citizen.Phone {
		t.Errorf("userinfo %v", info)
	}
	if _, ok := info["roles"]; ok {
		t.Error("citizen has roles")
	}

	for _, auth := range []string{"", "Bearer wrong", "Basic " + access, "Bearer"} {
		req, _ := http.NewRequest(http.MethodGet, i.srv.URL+"/userinfo", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("userinfo with %q: %d", auth, resp.StatusCode)
		}
	}
}

func TestCodeReplayRevokesAccessToken(t *testing.T) {
	i := start(t)
	params, verifier := authParams()
	form := redeemForm(i.code(t, params, citizen.Subject), verifier)
	first := i.token(t, form, clientID, secret)
	if first.status != http.StatusOK {
		t.Fatalf("first redemption: %v", first.body)
	}
	if again := i.token(t, form, clientID, secret); again.status != http.StatusBadRequest || again.body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", again.status, again.body)
	}
	req, _ := http.NewRequest(http.MethodGet, i.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+first.body["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token survived a code replay: %d", resp.StatusCode)
	}
}

func TestTokenGrantChecks(t *testing.T) {
	i := start(t)
	for name, tc := range map[string]struct {
		mutate     func(url.Values)
		user, pass string
	}{
		"wrong redirect_uri": {func(v url.Values) { v.Set("redirect_uri", otherCB) }, clientID, secret},
		"no redirect_uri":    {func(v url.Values) { v.Del("redirect_uri") }, clientID, secret},
		"wrong verifier":     {func(v url.Values) { v.Set("code_verifier", oauth2.GenerateVerifier()) }, clientID, secret},
		"short verifier":     {func(v url.Values) { v.Set("code_verifier", "x") }, clientID, secret},
		"other client":       {func(v url.Values) { v.Set("redirect_uri", otherCB) }, otherID, "other"},
		"unknown code":       {func(v url.Values) { v.Set("code", "nope") }, clientID, secret},
	} {
		t.Run(name, func(t *testing.T) {
			params, verifier := authParams()
			form := redeemForm(i.code(t, params, citizen.Subject), verifier)
			tc.mutate(form)
			tr := i.token(t, form, tc.user, tc.pass)
			if tr.status != http.StatusBadRequest || tr.body["error"] != "invalid_grant" {
				t.Fatalf("got %d %v", tr.status, tr.body)
			}
			// A failed attempt consumes the code: no second guess at PKCE.
			if name != "unknown code" {
				retry := redeemForm(form.Get("code"), verifier)
				if tr := i.token(t, retry, clientID, secret); tr.status != http.StatusBadRequest {
					t.Errorf("code usable after a failed attempt: %d %v", tr.status, tr.body)
				}
			}
		})
	}
}

func TestTokenEndpointBadInputNeverFails500(t *testing.T) {
	i := start(t)
	cases := []struct {
		name, method, ctype, body, basic string
		want                             int
	}{
		{"GET", http.MethodGet, "", "", "", http.StatusMethodNotAllowed},
		{"empty", http.MethodPost, "application/x-www-form-urlencoded", "", "", http.StatusUnauthorized},
		{"json body", http.MethodPost, "application/json", `{"grant_type":"authorization_code"}`, "", http.StatusUnauthorized},
		{"bad percent", http.MethodPost, "application/x-www-form-urlencoded", "code=%zz", "", http.StatusBadRequest},
		{"bad basic encoding", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=authorization_code", "%zz:x", http.StatusUnauthorized},
		{"wrong secret basic", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x", clientID + ":wrong", http.StatusUnauthorized},
		{"wrong secret post", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x&client_id=" + clientID + "&client_secret=wrong", "", http.StatusUnauthorized},
		{"unknown client", http.MethodPost, "application/x-www-form-urlencoded", "client_id=nobody&client_secret=x", "", http.StatusUnauthorized},
		{"two auth methods", http.MethodPost, "application/x-www-form-urlencoded", "client_secret=" + url.QueryEscape(secret), clientID + ":" + url.QueryEscape(secret), http.StatusBadRequest},
		{"refresh grant", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=refresh_token", clientID + ":" + url.QueryEscape(secret), http.StatusBadRequest},
		{"no code", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=authorization_code&code_verifier=x", clientID + ":" + url.QueryEscape(secret), http.StatusBadRequest},
		{"duplicate code", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=authorization_code&code=a&code=b", clientID + ":" + url.QueryEscape(secret), http.StatusBadRequest},
		{"huge body", http.MethodPost, "application/x-www-form-urlencoded", "code=" + strings.Repeat("a", 1<<20), "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, i.srv.URL+"/token", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.basic != "" {
				u, p, _ := strings.Cut(tc.basic, ":")
				req.SetBasicAuth(u, p)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] == nil {
				t.Errorf("not an OAuth JSON error: %v %v", body, err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d (%v)", resp.StatusCode, tc.want, body)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	i := start(t)
	params, _ := authParams()
	cb, err := devidptest.ChoosePerson(t.Context(), nil, i.srv.URL+"/authorize?"+params.Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("error") != "access_denied" || cb.Query().Get("state") != "state-1" || cb.Query().Get("code") != "" {
		t.Fatalf("cancel redirected to %s", cb)
	}
}

func TestLogsCarryNoPersonalData(t *testing.T) {
	i := start(t)
	params, verifier := authParams()
	code := i.code(t, params, citizen.Subject)
	tr := i.token(t, redeemForm(code, verifier), clientID, secret)
	if tr.status != http.StatusOK {
		t.Fatal(tr.body)
	}
	i.token(t, redeemForm(code, verifier), clientID, secret) // replay, logged as rejected
	logs := i.logs()
	if !strings.Contains(logs, "client_id="+clientID) {
		t.Fatalf("expected client ids in the log:\n%s", logs)
	}
	for _, secretish := range []string{citizen.Subject, citizen.Name, citizen.GivenName, citizen.PersonalIdentityCode, citizen.Email, citizen.Phone, code, tr.body["access_token"].(string)} {
		if strings.Contains(logs, secretish) {
			t.Errorf("log contains %q:\n%s", secretish, logs)
		}
	}
}

func TestSigningKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp-key.pem")
	kid := func() string {
		return jwksKid(t, start(t, func(c *devidp.Config) { c.SigningKeyFile = path }))
	}
	first := kid()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	if second := kid(); second != first {
		t.Errorf("restart changed the key: %s -> %s", first, second)
	}
	// Without a file every instance has its own key.
	a, b := start(t), start(t)
	ka, kb := jwksKid(t, a), jwksKid(t, b)
	if ka == kb {
		t.Error("in-memory keys must differ between instances")
	}
}

func jwksKid(t *testing.T, i *idp) string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(get(t, i.srv.URL+"/jwks").Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set.Keys[0].Kid
}

func TestMountedUnderPath(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := devidp.New(devidp.Config{
		Issuer:  srv.URL + "/idp/",
		Clients: []devidp.Client{{ID: clientID, Secret: secret, RedirectURIs: []string{callback}}},
		People:  []devidp.Person{citizen},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != srv.URL+"/idp" {
		t.Fatalf("issuer %q", p.Issuer())
	}
	mux.Handle("/idp/", p)
	params, _ := authParams()
	cb, err := devidptest.ChoosePerson(t.Context(), nil, srv.URL+"/idp/authorize?"+params.Encode(), citizen.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("code") == "" {
		t.Fatalf("no code in %s", cb)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := devidp.Config{
		Issuer:  "http://127.0.0.1:8090",
		Clients: []devidp.Client{{ID: "a", Secret: "b", RedirectURIs: []string{"http://127.0.0.1:8080/cb"}}},
		People:  []devidp.Person{citizen},
	}
	for name, mutate := range map[string]func(*devidp.Config){
		"relative issuer":   func(c *devidp.Config) { c.Issuer = "/idp" },
		"issuer with query": func(c *devidp.Config) { c.Issuer = "http://x/?a=b" },
		"no clients":        func(c *devidp.Config) { c.Clients = nil },
		"no secret":         func(c *devidp.Config) { c.Clients = []devidp.Client{{ID: "a", RedirectURIs: []string{"http://x/cb"}}} },
		"relative redirect": func(c *devidp.Config) {
			c.Clients = []devidp.Client{{ID: "a", Secret: "b", RedirectURIs: []string{"/cb"}}}
		},
		"duplicate client": func(c *devidp.Config) {
			c.Clients = append(c.Clients, c.Clients[0])
		},
		"no people":         func(c *devidp.Config) { c.People = nil },
		"person no subject": func(c *devidp.Config) { c.People = []devidp.Person{{Name: "x"}} },
		"duplicate person":  func(c *devidp.Config) { c.People = []devidp.Person{citizen, citizen} },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := devidp.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := devidp.New(ok); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
