package oidclogin_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/auth/oidclogin"
)

// Suomi.fi e-Identification sends the identity code only from its userinfo
// endpoint, signed and encrypted. devidp plays it with the attributes left
// out of the ID token; a test may put a forged userinfo response in place of
// devidp's own, signed with the provider's real key where the forgery needs
// it, so that each refusal below is for the one flaw the response has.

// userinfoIdP is devidp in Suomi.fi mode behind a front that counts the
// userinfo calls and can replace their answers.
type userinfoIdP struct {
	*suomi
	provKey *rsa.PrivateKey // devidp's signing key, loaded from a file we wrote
	kid     string          // its kid in the provider's JWKS
	calls   atomic.Int32

	mu     sync.Mutex
	forged http.HandlerFunc // replaces devidp's userinfo, if set
}

func newUserinfoIdP(t *testing.T, keys *oidclogin.ClientKeys, attrsInUserinfoOnly bool) *userinfoIdP {
	t.Helper()
	return newUserinfoIdPWith(t, keys, nil, attrsInUserinfoOnly)
}

func newUserinfoIdPWith(t *testing.T, keys *oidclogin.ClientKeys, register func(*devidp.Client), attrsInUserinfoOnly bool) *userinfoIdP {
	t.Helper()
	provKey := rsaKey(4)
	der, err := x509.MarshalPKCS8PrivateKey(provKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSuomiWith(t, keys, register, func(c *devidp.Config) {
		c.SigningKeyFile = keyFile
		c.AttributesInUserinfoOnly = attrsInUserinfoOnly
	})
	u := &userinfoIdP{suomi: s, provKey: provKey}
	provider := s.idp.Config.Handler
	s.idp.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/userinfo" {
			u.calls.Add(1)
			u.mu.Lock()
			forged := u.forged
			u.mu.Unlock()
			if forged != nil {
				forged(w, r)
				return
			}
		}
		provider.ServeHTTP(w, r)
	})
	resp, err := http.Get(s.idp.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("provider JWKS: %v", err)
	}
	u.kid = set.Keys[0].KeyID
	return u
}

func (u *userinfoIdP) forge(h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.forged = h
}

func (u *userinfoIdP) client(t *testing.T, keys *oidclogin.ClientKeys, policy oidclogin.UserinfoPolicy) *oidclogin.Client {
	t.Helper()
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL:         u.idp.URL,
		ClientID:          portalID,
		Keys:              keys,
		RedirectURL:       portalCB,
		Scopes:            []string{"profile"},
		IdentityCodeClaim: suomiHETUClaim,
		Userinfo:          policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userinfoClaims are what the provider would say about the citizen.
func (u *userinfoIdP) userinfoClaims() map[string]any {
	return map[string]any{
		"iss": u.idp.URL, "aud": portalID, "sub": citizen.Subject,
		"name": citizen.Name, suomiHETUClaim: citizen.PersonalIdentityCode,
	}
}

// signed is a JWS of claims by key, labelled with the provider's kid.
func (u *userinfoIdP) signed(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", u.kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// unsigned is a JWT with alg "none", which go-jose will not make.
func unsigned(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// encrypted is a compact JWE of content to the public key of jwk.
func encrypted(t *testing.T, jwk jose.JSONWebKey, content string, cty string) string {
	t.Helper()
	e, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: jwk.Key, KeyID: jwk.KeyID},
		(&jose.EncrypterOptions{}).WithContentType(jose.ContentType(cty)))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt([]byte(content))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func respond(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}
}

func suomiKeys(t *testing.T) *oidclogin.ClientKeys {
	return clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, []crypto.PrivateKey{rsaKey(1)})
}

func TestSuomiFiIdentityCodeOnlyInUserinfo(t *testing.T) {
	keys := suomiKeys(t)
	u := newUserinfoIdP(t, keys, true)
	c := u.client(t, keys, "")
	flow, q := login(t, c, citizen.Subject)
	id, err := c.Finish(t.Context(), flow, q)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Subject != citizen.Subject || id.PersonalIdentityCode != citizen.PersonalIdentityCode ||
		id.Name != citizen.Name || id.GivenName != citizen.GivenName || id.Email != citizen.Email || id.ACR != citizen.ACR || id.AuthTime.IsZero() {
		t.Errorf("identity %+v does not match the person chosen", id)
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("userinfo called %d times, want 1", n)
	}

	// The ID token alone, as a bearer credential, has no identity code:
	// it really did come from userinfo.
	raw := rawSuomiToken(t, u.suomi)
	if bare, err := c.VerifyIDToken(t.Context(), raw); err != nil || bare.PersonalIdentityCode != "" || bare.Subject != citizen.Subject {
		t.Errorf("ID token alone: %+v, %v", bare, err)
	}
}

func TestUserinfoOnlyWhenAClaimIsMissing(t *testing.T) {
	keys := suomiKeys(t)
	// Everything is in the ID token: the default policy does not ask.
	u := newUserinfoIdP(t, keys, false)
	c := u.client(t, keys, "")
	flow, q := login(t, c, citizen.Subject)
	if id, err := c.Finish(t.Context(), flow, q); err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Fatalf("Finish: %+v, %v", id, err)
	}
	if n := u.calls.Load(); n != 0 {
		t.Errorf("userinfo called %d times with nothing missing", n)
	}

	// Configured to ask always, it asks even so.
	always := u.client(t, keys, oidclogin.UserinfoAlways)
	flow, q = login(t, always, citizen.Subject)
	if id, err := always.Finish(t.Context(), flow, q); err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Fatalf("Finish, always: %+v, %v", id, err)
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("userinfo called %d times with policy always, want 1", n)
	}

	// And never means never, even with the identity code only in userinfo:
	// the login completes without it, and the caller's admission decides.
	u2 := newUserinfoIdP(t, keys, true)
	never := u2.client(t, keys, oidclogin.UserinfoNever)
	flow, q = login(t, never, citizen.Subject)
	if id, err := never.Finish(t.Context(), flow, q); err != nil || id.PersonalIdentityCode != "" || u2.calls.Load() != 0 {
		t.Fatalf("Finish, never: %+v, %v, %d calls", id, err, u2.calls.Load())
	}
}

func TestUserinfoPlainJSONForSecretClients(t *testing.T) {
	e := newEnv(t) // secret clients: devidp answers userinfo in plain JSON
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL: e.idp.URL, ClientID: portalID, ClientSecret: portalSecret, RedirectURL: portalCB,
		Scopes: []string{"profile", "email"}, Userinfo: oidclogin.UserinfoAlways,
	})
	if err != nil {
		t.Fatal(err)
	}
	flow, q := login(t, c, citizen.Subject)
	id, err := c.Finish(t.Context(), flow, q)
	if err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode || id.Email != citizen.Email {
		t.Fatalf("Finish: %+v, %v", id, err)
	}
}

func TestForgedUserinfoRefused(t *testing.T) {
	keys := suomiKeys(t)
	stranger := clientKeys(t, nil, []crypto.PrivateKey{rsaKey(3)})
	u := newUserinfoIdP(t, keys, true)
	c := u.client(t, keys, "")
	ours := keys.PublicJWKS().Keys[1]
	theirs := stranger.PublicJWKS().Keys[0]
	with := func(edit func(map[string]any)) map[string]any {
		claims := u.userinfoClaims()
		edit(claims)
		return claims
	}
	good := u.userinfoClaims()
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
		why    string // in the error, so that each case fails for its own flaw
	}{
		{"sub of another person", respond("application/jwt",
			encrypted(t, ours, u.signed(t, u.provKey, with(func(c map[string]any) { c["sub"] = staff.Subject })), "JWT")), "sub is not the ID token's"},
		{"no sub", respond("application/jwt",
			encrypted(t, ours, u.signed(t, u.provKey, with(func(c map[string]any) { delete(c, "sub") })), "JWT")), "has no sub"},
		{"encrypted to another key", respond("application/jwt", encrypted(t, theirs, u.signed(t, u.provKey, good), "JWT")), "which is not ours"},
		{"signed by another key under the provider's kid", respond("application/jwt", encrypted(t, ours, u.signed(t, rsaKey(2), good), "JWT")), "not signed by the provider"},
		{"encrypted but not signed", respond("application/jwt", encrypted(t, ours, mustJSON(good), "JSON")), "response is not signed"},
		{"alg none", respond("application/jwt", encrypted(t, ours, unsigned(good), "JWT")), "not signed with an accepted algorithm"},
		{"signed but not encrypted", respond("application/jwt", u.signed(t, u.provKey, good)), "response is not encrypted"},
		{"plain JSON while encryption is expected", respond("application/json", mustJSON(good)), "must come encrypted"},
		{"made for another client", respond("application/jwt",
			encrypted(t, ours, u.signed(t, u.provKey, with(func(c map[string]any) { c["aud"] = []string{officeID} })), "JWT")), "aud is not this client"},
		{"from another issuer", respond("application/jwt",
			encrypted(t, ours, u.signed(t, u.provKey, with(func(c map[string]any) { c["iss"] = "https://elsewhere.example" })), "JWT")), "iss is not the provider"},
		{"not a JWT", respond("application/jwt", "not.a.jwt.at.all"), "parse JWE"},
		{"another content type", respond("text/html", "<p>hello</p>"), "unexpected content type"},
		{"access token refused", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "nope", http.StatusUnauthorized)
		}, "status 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u.forge(tc.answer)
			flow, q := login(t, c, citizen.Subject)
			id, err := c.Finish(t.Context(), flow, q)
			if !errors.Is(err, oidclogin.ErrUserinfo) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("got %+v, %v; want ErrUserinfo because %s", id, err, tc.why)
			}
			// The error may end up in a log; it must not name anybody.
			for _, personal := range []string{citizen.Subject, staff.Subject, citizen.PersonalIdentityCode, citizen.Name} {
				if strings.Contains(err.Error(), personal) {
					t.Errorf("error %q quotes personal data", err)
				}
			}
		})
	}

	// The forger's tools are sound: the same response without a flaw, and
	// with claims the ID token alone may state, is accepted, and those
	// claims are the ID token's.
	u.forge(respond("application/jwt", encrypted(t, ours, u.signed(t, u.provKey, with(func(c map[string]any) {
		c["acr"] = "http://ftn.ficora.fi/2017/loa2"
		c["auth_time"] = time.Now().Add(-time.Hour).Unix()
		c["nonce"] = "not-the-flow's"
	})), "JWT")))
	flow, q := login(t, c, citizen.Subject)
	id, err := c.Finish(t.Context(), flow, q)
	if err != nil {
		t.Fatalf("flawless forgery: %v", err)
	}
	if id.PersonalIdentityCode != citizen.PersonalIdentityCode || id.ACR != citizen.ACR || time.Since(id.AuthTime) > time.Minute {
		t.Errorf("merged identity %+v: userinfo overrode the ID token's authentication claims", id)
	}
}

func TestUserinfoWithoutEncryptionKey(t *testing.T) {
	// A client without an encryption key (here one with a secret) takes a
	// signed userinfo JWT or plain JSON, but not a JWE it cannot open.
	u := newUserinfoIdPWith(t, suomiKeys(t), func(c *devidp.Client) { c.JWKSURL, c.Secret = "", portalSecret }, true)
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL: u.idp.URL, ClientID: portalID, ClientSecret: portalSecret, RedirectURL: portalCB, IdentityCodeClaim: suomiHETUClaim,
	})
	if err != nil {
		t.Fatal(err)
	}
	// devidp's own answer to a secret client: plain JSON.
	flow, q := login(t, c, citizen.Subject)
	if id, err := c.Finish(t.Context(), flow, q); err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Fatalf("plain userinfo: %+v, %v", id, err)
	}
	good := u.userinfoClaims()
	u.forge(respond("application/jwt", u.signed(t, u.provKey, good)))
	flow, q = login(t, c, citizen.Subject)
	if id, err := c.Finish(t.Context(), flow, q); err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Fatalf("signed userinfo: %+v, %v", id, err)
	}
	u.forge(respond("application/jwt", u.signed(t, rsaKey(2), good)))
	flow, q = login(t, c, citizen.Subject)
	if _, err := c.Finish(t.Context(), flow, q); !errors.Is(err, oidclogin.ErrUserinfo) {
		t.Fatalf("userinfo signed by another key: got %v", err)
	}
	u.forge(respond("application/jwt", unsigned(good)))
	flow, q = login(t, c, citizen.Subject)
	if _, err := c.Finish(t.Context(), flow, q); !errors.Is(err, oidclogin.ErrUserinfo) {
		t.Fatalf("unsigned userinfo JWT: got %v", err)
	}
	u.forge(respond("application/jwt", encrypted(t, suomiKeys(t).PublicJWKS().Keys[1], u.signed(t, u.provKey, good), "JWT")))
	flow, q = login(t, c, citizen.Subject)
	if _, err := c.Finish(t.Context(), flow, q); !errors.Is(err, oidclogin.ErrUserinfo) {
		t.Fatalf("encrypted userinfo without an encryption key: got %v", err)
	}
}

func TestUserinfoPolicyConfig(t *testing.T) {
	// A provider without a userinfo endpoint cannot be asked at every login.
	srv := httptest.NewServer(nil)
	defer srv.Close()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": srv.URL, "authorization_endpoint": srv.URL + "/a", "token_endpoint": srv.URL + "/t", "jwks_uri": srv.URL + "/k",
		})
	})
	cfg := oidclogin.Config{IssuerURL: srv.URL, ClientID: portalID, ClientSecret: portalSecret, RedirectURL: portalCB}
	if _, err := oidclogin.New(t.Context(), cfg); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	cfg.Userinfo = oidclogin.UserinfoAlways
	if _, err := oidclogin.New(t.Context(), cfg); err == nil {
		t.Error("policy always without a userinfo endpoint was accepted")
	}
	cfg.Userinfo = "sometimes"
	if _, err := oidclogin.New(t.Context(), cfg); err == nil {
		t.Error("an unknown policy was accepted")
	}
	for in, want := range map[string]oidclogin.UserinfoPolicy{"": oidclogin.UserinfoWhenMissing, "missing": oidclogin.UserinfoWhenMissing, "always": oidclogin.UserinfoAlways, "never": oidclogin.UserinfoNever} {
		if got, err := oidclogin.ParseUserinfoPolicy(in); err != nil || got != want {
			t.Errorf("ParseUserinfoPolicy(%q) = %q, %v", in, got, err)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
