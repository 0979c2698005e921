package devidp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"kirjaamo.dev/services/auth/devidp"
)

// devidp in Suomi.fi mode: the portal client is registered by its JWKS URL,
// authenticates with private_key_jwt and gets encrypted tokens.

var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

const hetuOID = "urn:oid:1.2.246.21"

type keyClient struct {
	*idp
	sig, enc *rsa.PrivateKey
	now      func() time.Time
	clockMu  sync.Mutex
	offset   time.Duration
}

func (k *keyClient) advance(d time.Duration) {
	k.clockMu.Lock()
	defer k.clockMu.Unlock()
	k.offset += d
}

func startSuomi(t *testing.T, mutate ...func(*devidp.Config)) *keyClient {
	t.Helper()
	kc := &keyClient{sig: rsaKeys()[0], enc: rsaKeys()[1]}
	kc.now = func() time.Time {
		kc.clockMu.Lock()
		defer kc.clockMu.Unlock()
		return time.Now().Add(kc.offset)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &kc.sig.PublicKey, KeyID: "sig-1", Algorithm: "RS256", Use: "sig"},
		{Key: &kc.enc.PublicKey, KeyID: "enc-1", Algorithm: "RSA-OAEP-256", Use: "enc"},
	}}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(jwks.Close)
	kc.idp = start(t, func(c *devidp.Config) {
		c.Clients[0] = devidp.Client{ID: clientID, JWKSURL: jwks.URL, RedirectURIs: []string{callback}}
		c.IdentityCodeClaim = hetuOID
		c.Now = kc.now
		for _, m := range mutate {
			m(c)
		}
	})
	return kc
}

// assertion signs claims over the defaults of a valid assertion.
func (k *keyClient) assertion(t *testing.T, key *rsa.PrivateKey, kid string, edit func(map[string]any)) string {
	t.Helper()
	now := k.now()
	claims := map[string]any{
		"iss": clientID, "sub": clientID, "aud": k.srv.URL + "/token",
		"jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
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

func withAssertion(form url.Values, assertion string) url.Values {
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	return form
}

func TestPrivateKeyJWTRefusals(t *testing.T) {
	k := startSuomi(t)
	params, verifier := authParams()
	code := k.code(t, params, citizen.Subject)
	replayed := k.assertion(t, k.sig, "sig-1", nil)
	for _, tc := range []struct {
		name      string
		assertion string
	}{
		{"signed by another key", k.assertion(t, rsaKeys()[2], "sig-1", nil)},
		{"signed by another key, no kid", k.assertion(t, rsaKeys()[2], "", nil)},
		{"signed by the encryption key", k.assertion(t, k.enc, "enc-1", nil)},
		{"audience is the issuer", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { c["aud"] = k.srv.URL })},
		{"audience is another server", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" })},
		{"expired", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { c["exp"] = k.now().Add(-time.Minute).Unix() })},
		{"no exp", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { delete(c, "exp") })},
		{"exp too far away", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { c["exp"] = k.now().Add(time.Hour).Unix() })},
		{"no jti", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { delete(c, "jti") })},
		{"sub is not the client", k.assertion(t, k.sig, "sig-1", func(c map[string]any) { c["sub"] = otherID })},
		{"not a JWT", "not.a.jwt"},
	} {
		resp := k.token(t, withAssertion(redeemForm(code, verifier), tc.assertion), "", "")
		if resp.status != http.StatusUnauthorized || resp.body["error"] != "invalid_client" || resp.body["id_token"] != nil {
			t.Errorf("%s: got %d %v", tc.name, resp.status, resp.body["error"])
		}
	}
	if strings.Contains(k.logs(), k.assertion(t, k.sig, "sig-1", nil)[:20]) {
		t.Error("an assertion was logged")
	}
	// None of the refusals used up the code: a good assertion redeems it.
	resp := k.token(t, withAssertion(redeemForm(code, verifier), replayed), "", "")
	if resp.status != http.StatusOK {
		t.Fatalf("valid assertion: %d %v", resp.status, resp.body)
	}
	// The same assertion again, even for a fresh code, is a replay.
	params2, verifier2 := authParams()
	code2 := k.code(t, params2, citizen.Subject)
	if resp := k.token(t, withAssertion(redeemForm(code2, verifier2), replayed), "", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("replayed assertion: %d %v", resp.status, resp.body)
	}
	// An assertion that expires while in flight is refused once the clock passes exp.
	late := k.assertion(t, k.sig, "sig-1", nil)
	k.advance(2 * time.Minute)
	if resp := k.token(t, withAssertion(redeemForm(code2, verifier2), late), "", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("assertion used after its exp: %d %v", resp.status, resp.body)
	}
}

func TestKeyClientCannotUseSecrets(t *testing.T) {
	k := startSuomi(t)
	params, verifier := authParams()
	code := k.code(t, params, citizen.Subject)
	// A key client has no secret; an empty one must not pass for it.
	for _, tc := range []struct {
		name string
		form url.Values
		user string
	}{
		{"empty secret in form", func() url.Values {
			f := redeemForm(code, verifier)
			f.Set("client_id", clientID)
			f.Set("client_secret", "")
			return f
		}(), ""},
		{"client_id only", func() url.Values { f := redeemForm(code, verifier); f.Set("client_id", clientID); return f }(), ""},
		{"basic with empty secret", redeemForm(code, verifier), clientID},
	} {
		if resp := k.token(t, tc.form, tc.user, ""); resp.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %v", tc.name, resp.status, resp.body)
		}
	}
	// Mixing an assertion with a secret is refused outright.
	f := withAssertion(redeemForm(code, verifier), k.assertion(t, k.sig, "sig-1", nil))
	f.Set("client_secret", "x")
	if resp := k.token(t, f, "", ""); resp.status != http.StatusBadRequest {
		t.Errorf("assertion plus secret: %d %v", resp.status, resp.body)
	}
}

func TestKeyClientGetsEncryptedTokensAndUserinfo(t *testing.T) {
	k := startSuomi(t)
	params, verifier := authParams()
	code := k.code(t, params, citizen.Subject)
	resp := k.token(t, withAssertion(redeemForm(code, verifier), k.assertion(t, k.sig, "sig-1", nil)), "", "")
	if resp.status != http.StatusOK {
		t.Fatalf("token: %d %v", resp.status, resp.body)
	}
	claims := decryptAndVerify(t, k, resp.body["id_token"].(string))
	if claims[hetuOID] != citizen.PersonalIdentityCode || claims["personal_identity_code"] != nil || claims["aud"] != clientID {
		t.Errorf("ID token claims: identity code under %q missing or duplicated", hetuOID)
	}

	req, _ := http.NewRequest(http.MethodGet, k.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+resp.body["access_token"].(string))
	ui, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Body.Close()
	body, _ := io.ReadAll(ui.Body)
	if ui.StatusCode != http.StatusOK || ui.Header.Get("Content-Type") != "application/jwt" {
		t.Fatalf("userinfo: %s %q", ui.Status, ui.Header.Get("Content-Type"))
	}
	info := decryptAndVerify(t, k, string(body))
	if info["sub"] != citizen.Subject || info[hetuOID] != citizen.PersonalIdentityCode || info["aud"] != clientID {
		t.Errorf("userinfo claims do not match the person")
	}
}

func TestAttributesInUserinfoOnly(t *testing.T) {
	k := startSuomi(t, func(c *devidp.Config) { c.AttributesInUserinfoOnly = true })
	params, verifier := authParams()
	code := k.code(t, params, citizen.Subject)
	resp := k.token(t, withAssertion(redeemForm(code, verifier), k.assertion(t, k.sig, "sig-1", nil)), "", "")
	if resp.status != http.StatusOK {
		t.Fatalf("token: %d %v", resp.status, resp.body)
	}
	claims := decryptAndVerify(t, k, resp.body["id_token"].(string))
	if claims["sub"] != citizen.Subject || claims["acr"] != citizen.ACR || claims["nonce"] == nil {
		t.Errorf("ID token lost who authenticated and how: sub, acr or nonce missing")
	}
	for _, attr := range []string{hetuOID, "personal_identity_code", "name", "given_name", "family_name", "email", "phone_number"} {
		if _, ok := claims[attr]; ok {
			t.Errorf("ID token carries %s", attr)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, k.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+resp.body["access_token"].(string))
	ui, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Body.Close()
	body, _ := io.ReadAll(ui.Body)
	info := decryptAndVerify(t, k, string(body))
	if info["sub"] != citizen.Subject || info[hetuOID] != citizen.PersonalIdentityCode || info["name"] != citizen.Name {
		t.Errorf("userinfo does not carry the attributes")
	}
}

// decryptAndVerify opens a nested JWT with the client's key and checks the
// inner signature against the provider's published JWKS.
func decryptAndVerify(t *testing.T, k *keyClient, raw string) map[string]any {
	t.Helper()
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatalf("not a JWE: %v", err)
	}
	if jwe.Header.KeyID != "enc-1" || jwe.Header.ExtraHeaders["cty"] != "JWT" {
		t.Errorf("JWE header kid %q cty %v", jwe.Header.KeyID, jwe.Header.ExtraHeaders["cty"])
	}
	inner, err := jwe.Decrypt(k.enc)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(string(inner), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	r := get(t, k.srv.URL+"/jwks")
	if err := json.NewDecoder(r.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(set)
	if err != nil {
		t.Fatalf("inner JWS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestKeyClientValidation(t *testing.T) {
	pub := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rsaKeys()[0].PublicKey, Use: "sig"}}}
	priv := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: rsaKeys()[0], Use: "sig"}}}
	for name, c := range map[string]devidp.Client{
		"secret and keys":      {ID: "c", Secret: "s", PublicKeys: pub, RedirectURIs: []string{callback}},
		"URL and keys":         {ID: "c", JWKSURL: "https://rp.example/jwks", PublicKeys: pub, RedirectURIs: []string{callback}},
		"private key given":    {ID: "c", PublicKeys: priv, RedirectURIs: []string{callback}},
		"relative JWKS URL":    {ID: "c", JWKSURL: "/jwks", RedirectURIs: []string{callback}},
		"unknown content enc":  {ID: "c", PublicKeys: pub, ContentEncryption: "A1GCM", RedirectURIs: []string{callback}},
		"no secret and no key": {ID: "c", RedirectURIs: []string{callback}},
	} {
		_, err := devidp.New(devidp.Config{Issuer: "http://127.0.0.1:1", Clients: []devidp.Client{c}, People: []devidp.Person{citizen}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
