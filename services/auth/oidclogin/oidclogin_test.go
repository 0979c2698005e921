package oidclogin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/auth/devidp/devidptest"
	"kirjaamo.dev/services/auth/oidclogin"
)

// All people below are made up; the identity codes use the 900-999
// individual-number range reserved for artificial identities.
var (
	citizen = devidp.Person{
		Subject:              "citizen-0001",
		Name:                 "Testi Kansalainen",
		GivenName:            "Testi",
		FamilyName:           "Kansalainen",
		PersonalIdentityCode: "010170-900J",
		Email:                "testi.kansalainen@example.invalid",
		Phone:                "+358000000001",
		ACR:                  "http://ftn.ficora.fi/2017/loa3",
	}
	staff = devidp.Person{
		Subject:    "staff-0001",
		Name:       "Vilja Virkailija",
		GivenName:  "Vilja",
		FamilyName: "Virkailija",
		Email:      "vilja.virkailija@example.invalid",
		Roles:      []string{"clerk", "dpo"},
		ACR:        "http://ftn.ficora.fi/2017/loa2",
	}
)

const (
	portalID     = "portal"
	portalSecret = "portal-secret"
	portalCB     = "https://portal.example.test/auth/callback"
	officeID     = "office"
	officeSecret = "office-secret"
	officeCB     = "https://office.example.test/auth/callback"
)

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type env struct {
	idp   *httptest.Server
	clock *clock
}

// newEnv starts a devidp on a real listener. extraRedirect lets a test
// register a callback served by its own httptest server.
func newEnv(t *testing.T, extraRedirect ...string) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	clk := &clock{}
	p, err := devidp.New(devidp.Config{
		Issuer: srv.URL,
		Clients: []devidp.Client{
			{ID: portalID, Secret: portalSecret, RedirectURIs: append([]string{portalCB}, extraRedirect...)},
			{ID: officeID, Secret: officeSecret, RedirectURIs: []string{officeCB}},
		},
		People: []devidp.Person{citizen, staff},
		Now:    clk.Now,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	return &env{idp: srv, clock: clk}
}

func (e *env) client(t *testing.T, id, secret, redirect string) *oidclogin.Client {
	t.Helper()
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL:    e.idp.URL,
		ClientID:     id,
		ClientSecret: secret,
		RedirectURL:  redirect,
		Scopes:       []string{"profile", "email"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) portal(t *testing.T) *oidclogin.Client {
	return e.client(t, portalID, portalSecret, portalCB)
}

// login runs Begin and the identification page, returning the flow and the
// callback query as the browser would deliver it.
func login(t *testing.T, c *oidclogin.Client, subject string) (oidclogin.Flow, url.Values) {
	t.Helper()
	flow, authURL := c.Begin()
	cb, err := devidptest.ChoosePerson(t.Context(), nil, authURL, subject)
	if err != nil {
		t.Fatal(err)
	}
	return flow, cb.Query()
}

func TestFullFlowThroughRelyingPartyServer(t *testing.T) {
	// A minimal relying party: one pending flow stands in for the session.
	var (
		mu      sync.Mutex
		pending *oidclogin.Flow
		rp      *oidclogin.Client
	)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			flow, authURL := rp.Begin()
			mu.Lock()
			pending = &flow
			mu.Unlock()
			http.Redirect(w, r, authURL, http.StatusFound)
		case "/callback":
			mu.Lock()
			flow := pending
			pending = nil // single use, whatever the outcome
			mu.Unlock()
			if flow == nil {
				http.Error(w, "no login in progress", http.StatusBadRequest)
				return
			}
			id, err := rp.Finish(r.Context(), *flow, r.URL.Query())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(id)
		default:
			http.NotFound(w, r)
		}
	}))
	defer rpSrv.Close()

	e := newEnv(t, rpSrv.URL+"/callback")
	rp = e.client(t, portalID, portalSecret, rpSrv.URL+"/callback")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(rpSrv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL := resp.Header.Get("Location")
	if !strings.HasPrefix(authURL, e.idp.URL+"/authorize?") {
		t.Fatalf("login redirected to %q", authURL)
	}
	q := mustParse(t, authURL).Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE, nonce or state: %v", q)
	}

	page, err := devidptest.Open(t.Context(), nil, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(page.Subjects, []string{citizen.Subject, staff.Subject}) {
		t.Fatalf("page offers %v", page.Subjects)
	}
	cb, err := page.Submit(t.Context(), nil, citizen.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb.String(), rpSrv.URL+"/callback?") {
		t.Fatalf("provider redirected to %q", cb)
	}
	resp, err = http.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %s: %s", resp.Status, body)
	}
	var got oidclogin.Identity
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := oidclogin.Identity{
		Subject:              citizen.Subject,
		Name:                 citizen.Name,
		GivenName:            citizen.GivenName,
		FamilyName:           citizen.FamilyName,
		PersonalIdentityCode: citizen.PersonalIdentityCode,
		Email:                citizen.Email,
		Phone:                citizen.Phone,
		ACR:                  citizen.ACR,
	}
	if time.Since(got.AuthTime) > time.Minute || time.Until(got.AuthTime) > time.Second {
		t.Errorf("auth_time %v is not about now", got.AuthTime)
	}
	got.AuthTime = time.Time{}
	if !identityEqual(got, want) {
		t.Errorf("identity\n got %+v\nwant %+v", got, want)
	}
}

func TestStaffLoginCarriesRoles(t *testing.T) {
	e := newEnv(t)
	office := e.client(t, officeID, officeSecret, officeCB)
	flow, q := login(t, office, staff.Subject)
	id, err := office.Finish(t.Context(), flow, q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Roles, staff.Roles) || id.PersonalIdentityCode != "" || id.Subject != staff.Subject || id.ACR != staff.ACR {
		t.Errorf("staff identity %+v", id)
	}
}

func TestReusedCodeRefused(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, citizen.Subject)
	if _, err := c.Finish(t.Context(), flow, q); err != nil {
		t.Fatal(err)
	}
	_, err := c.Finish(t.Context(), flow, q)
	wantOAuthError(t, err, oidclogin.ErrExchange, "invalid_grant")
}

func TestWrongPKCEVerifierRefused(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, citizen.Subject)
	flow.Verifier = oauth2.GenerateVerifier()
	_, err := c.Finish(t.Context(), flow, q)
	wantOAuthError(t, err, oidclogin.ErrExchange, "invalid_grant")
}

func TestWrongClientSecretRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, portalID, "not-the-secret", portalCB)
	flow, q := login(t, c, citizen.Subject)
	_, err := c.Finish(t.Context(), flow, q)
	wantOAuthError(t, err, oidclogin.ErrExchange, "invalid_client")
}

func TestUnregisteredRedirectURIGets400WithoutRedirect(t *testing.T) {
	e := newEnv(t)
	for _, redirect := range []string{
		"https://evil.example.test/callback",
		portalCB + "/extra",     // prefix match must not be enough
		portalCB + "?next=evil", // nor a different query
		officeCB,                // registered, but for another client
	} {
		t.Run(redirect, func(t *testing.T) {
			c := e.client(t, portalID, portalSecret, redirect)
			_, authURL := c.Begin()
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := noFollow.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d location %q, want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestStateMismatch(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, citizen.Subject)

	forged := url.Values{"code": {q.Get("code")}, "state": {"forged"}}
	if _, err := c.Finish(t.Context(), flow, forged); !errors.Is(err, oidclogin.ErrStateMismatch) {
		t.Errorf("forged state: %v", err)
	}
	noState := url.Values{"code": {q.Get("code")}}
	if _, err := c.Finish(t.Context(), oidclogin.Flow{}, noState); !errors.Is(err, oidclogin.ErrStateMismatch) {
		t.Errorf("empty state on both sides must not match: %v", err)
	}
	// Another flow's callback, even a genuine one, belongs to that flow only.
	other, _ := c.Begin()
	if _, err := c.Finish(t.Context(), other, q); !errors.Is(err, oidclogin.ErrStateMismatch) {
		t.Errorf("other flow: %v", err)
	}
	// An error response with the wrong state is rejected for the state.
	if _, err := c.Finish(t.Context(), flow, url.Values{"error": {"access_denied"}, "state": {"x"}}); !errors.Is(err, oidclogin.ErrStateMismatch) {
		t.Errorf("error with forged state: %v", err)
	}
}

func TestNonceMismatch(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, citizen.Subject)
	flow.Nonce = "nonce-of-another-login"
	if _, err := c.Finish(t.Context(), flow, q); !errors.Is(err, oidclogin.ErrNonceMismatch) {
		t.Fatalf("got %v, want ErrNonceMismatch", err)
	}
}

func TestExpiredCodeRefused(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, citizen.Subject)
	e.clock.Advance(61 * time.Second)
	_, err := c.Finish(t.Context(), flow, q)
	wantOAuthError(t, err, oidclogin.ErrExchange, "invalid_grant")
}

func TestCancelIsAccessDenied(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, q := login(t, c, "") // the Cancel button
	_, err := c.Finish(t.Context(), flow, q)
	var pe *oidclogin.ProviderError
	if !errors.Is(err, oidclogin.ErrAccessDenied) || !errors.As(err, &pe) || pe.Code != "access_denied" {
		t.Fatalf("got %v, want access_denied", err)
	}
}

func TestMissingCode(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	flow, _ := c.Begin()
	if _, err := c.Finish(t.Context(), flow, url.Values{"state": {flow.State}}); !errors.Is(err, oidclogin.ErrMissingCode) {
		t.Fatalf("got %v", err)
	}
}

// rawIDToken performs the code exchange by hand to get at the ID token a
// bearer-token API caller would send.
func rawIDToken(t *testing.T, e *env, c *oidclogin.Client, id, secret, redirect, subject string) string {
	t.Helper()
	flow, q := login(t, c, subject)
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {redirect},
		"code_verifier": {flow.Verifier},
	}
	req, _ := http.NewRequest(http.MethodPost, e.idp.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("token response: %s, %v", resp.Status, err)
	}
	return tok.IDToken
}

func TestVerifyIDToken(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	raw := rawIDToken(t, e, c, portalID, portalSecret, portalCB, citizen.Subject)

	id, err := c.VerifyIDToken(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != citizen.Subject || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Errorf("identity %+v", id)
	}

	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(string(payload), citizen.Subject, staff.Subject, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(swapped)) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	// A token for the office must not open the portal's API.
	office := e.client(t, officeID, officeSecret, officeCB)
	officeToken := rawIDToken(t, e, office, officeID, officeSecret, officeCB, staff.Subject)

	for name, tok := range map[string]string{
		"tampered payload": tampered,
		"alg none":         none,
		"other audience":   officeToken,
		"garbage":          "not.a.jwt",
		"empty":            "",
	} {
		if _, err := c.VerifyIDToken(t.Context(), tok); !errors.Is(err, oidclogin.ErrInvalidToken) {
			t.Errorf("%s: got %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestVerifyIDTokenRejectsForeignKey(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)

	// An impostor claiming the same issuer, with the same client
	// registration but its own key. It is driven in-process because its
	// endpoints advertise the real issuer's URLs.
	impostor, err := devidp.New(devidp.Config{
		Issuer:  e.idp.URL,
		Clients: []devidp.Client{{ID: portalID, Secret: portalSecret, RedirectURIs: []string{portalCB}}},
		People:  []devidp.Person{citizen},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	authz := url.Values{
		"client_id": {portalID}, "redirect_uri": {portalCB}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"subject": {citizen.Subject},
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(authz.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	impostor.ServeHTTP(rec, req)
	code := mustParse(t, rec.Header().Get("Location")).Query().Get("code")

	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {portalCB}, "code_verifier": {verifier},
	}
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(portalID, portalSecret)
	impostor.ServeHTTP(rec, req)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("impostor token: %d %s", rec.Code, rec.Body)
	}
	if _, err := c.VerifyIDToken(t.Context(), tok.IDToken); !errors.Is(err, oidclogin.ErrInvalidToken) {
		t.Fatalf("token signed by a foreign key: got %v", err)
	}
}

func TestVerifyIDTokenExpired(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	// Issue the token "an hour ago" so it has already expired by real time.
	e.clock.Advance(-time.Hour)
	raw := rawIDToken(t, e, c, portalID, portalSecret, portalCB, citizen.Subject)
	_, err := c.VerifyIDToken(t.Context(), raw)
	if !errors.Is(err, oidclogin.ErrTokenExpired) || !errors.Is(err, oidclogin.ErrInvalidToken) {
		t.Fatalf("got %v, want ErrTokenExpired and ErrInvalidToken", err)
	}
}

func TestNewIssuerUnreachable(t *testing.T) {
	srv := httptest.NewServer(nil)
	dead := srv.URL
	srv.Close()
	_, err := oidclogin.New(t.Context(), oidclogin.Config{IssuerURL: dead, ClientID: "x", ClientSecret: "x", RedirectURL: portalCB})
	if !errors.Is(err, oidclogin.ErrIssuerUnreachable) {
		t.Errorf("closed port: got %v", err)
	}

	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	_, err = oidclogin.New(t.Context(), oidclogin.Config{IssuerURL: unavailable.URL, ClientID: "x", ClientSecret: "x", RedirectURL: portalCB})
	if !errors.Is(err, oidclogin.ErrIssuerUnreachable) {
		t.Errorf("503: got %v", err)
	}
}

func TestNewIssuerMismatchIsNotRetryable(t *testing.T) {
	e := newEnv(t)
	// Same server, different spelling of the issuer: must be refused, and
	// not reported as transient.
	alias := strings.Replace(e.idp.URL, "127.0.0.1", "localhost", 1)
	_, err := oidclogin.New(t.Context(), oidclogin.Config{IssuerURL: alias, ClientID: portalID, ClientSecret: portalSecret, RedirectURL: portalCB})
	if err == nil || errors.Is(err, oidclogin.ErrIssuerUnreachable) {
		t.Fatalf("got %v, want a non-transient error", err)
	}
}

func TestBeginIsRandomAndURLSafe(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	a, _ := c.Begin()
	b, authURL := c.Begin()
	if a.State == b.State || a.Nonce == b.Nonce || a.Verifier == b.Verifier {
		t.Fatal("flows must not repeat")
	}
	for _, s := range []string{b.State, b.Nonce, b.Verifier} {
		if len(s) < 26 || url.QueryEscape(s) != s {
			t.Errorf("%q is too short or not URL-safe", s)
		}
	}
	q := mustParse(t, authURL).Query()
	if q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(b.Verifier) {
		t.Error("challenge does not match the verifier")
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") {
		t.Errorf("scope %q lacks openid", q.Get("scope"))
	}
}

func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t)
	c := e.portal(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			subject := []string{citizen.Subject, staff.Subject}[i%2]
			flow, authURL := c.Begin()
			cb, err := devidptest.ChoosePerson(context.Background(), nil, authURL, subject)
			if err != nil {
				t.Error(err)
				return
			}
			id, err := c.Finish(context.Background(), flow, cb.Query())
			if err != nil || id.Subject != subject {
				t.Errorf("login %d: %v %q", i, err, id.Subject)
			}
		})
	}
	wg.Wait()
}

func wantOAuthError(t *testing.T, err error, sentinel error, code string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %v", err, sentinel)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("got %v, want OAuth error %q", err, code)
	}
}

func identityEqual(a, b oidclogin.Identity) bool {
	return a.Subject == b.Subject && a.Name == b.Name && a.GivenName == b.GivenName &&
		a.FamilyName == b.FamilyName && a.PersonalIdentityCode == b.PersonalIdentityCode &&
		a.Email == b.Email && a.Phone == b.Phone && slices.Equal(a.Roles, b.Roles) &&
		a.ACR == b.ACR && a.AuthTime.Equal(b.AuthTime)
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
