package oidclogin_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/auth/oidclogin"
)

// The Suomi.fi e-Identification profile: the client authenticates with
// private_key_jwt, the provider encrypts the ID token to the client's key and
// sends the identity code as urn:oid:1.2.246.21. devidp plays the provider.

const suomiHETUClaim = "urn:oid:1.2.246.21"

// testKeys are generated once: RSA key generation is slow enough to matter
// when every test wants a few.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 5)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func rsaKey(i int) *rsa.PrivateKey { return testKeys()[i] }

type suomi struct {
	idp  *httptest.Server
	jwks *httptest.Server // the relying party's published JWKS
	keys *oidclogin.ClientKeys
}

// newSuomi starts the relying party's JWKS endpoint and a devidp in Suomi.fi
// mode whose portal client is registered by that JWKS URL; register may
// change the registration (e.g. to fixed public keys).
func newSuomi(t *testing.T, keys *oidclogin.ClientKeys, register func(*devidp.Client)) *suomi {
	t.Helper()
	return newSuomiWith(t, keys, register, nil)
}

// newSuomiWith is newSuomi with a last say on the provider's configuration.
func newSuomiWith(t *testing.T, keys *oidclogin.ClientKeys, register func(*devidp.Client), configure func(*devidp.Config)) *suomi {
	t.Helper()
	jwks := httptest.NewServer(keys)
	t.Cleanup(jwks.Close)
	idp := httptest.NewServer(nil)
	t.Cleanup(idp.Close)
	client := devidp.Client{ID: portalID, JWKSURL: jwks.URL + "/.well-known/jwks.json", RedirectURIs: []string{portalCB}}
	if register != nil {
		register(&client)
	}
	cfg := devidp.Config{
		Issuer:            idp.URL,
		Clients:           []devidp.Client{client},
		People:            []devidp.Person{citizen, staff},
		IdentityCodeClaim: suomiHETUClaim,
		Logger:            slog.New(slog.DiscardHandler),
	}
	if configure != nil {
		configure(&cfg)
	}
	p, err := devidp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idp.Config.Handler = p
	return &suomi{idp: idp, jwks: jwks, keys: keys}
}

func (s *suomi) client(t *testing.T, keys *oidclogin.ClientKeys) *oidclogin.Client {
	t.Helper()
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL:         s.idp.URL,
		ClientID:          portalID,
		Keys:              keys,
		RedirectURL:       portalCB,
		Scopes:            []string{"profile"},
		IdentityCodeClaim: suomiHETUClaim,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientKeys(t *testing.T, signing, encryption []crypto.PrivateKey) *oidclogin.ClientKeys {
	t.Helper()
	k, err := oidclogin.NewClientKeys(signing, encryption)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicOnly is a registration by public keys, as if given to the provider
// out of band, with only the listed keys of the set.
func publicOnly(keys *oidclogin.ClientKeys, pick func(jose.JSONWebKey) bool) func(*devidp.Client) {
	return func(c *devidp.Client) {
		set := keys.PublicJWKS()
		set.Keys = slices.DeleteFunc(set.Keys, func(k jose.JSONWebKey) bool { return !pick(k) })
		c.JWKSURL, c.PublicKeys = "", &set
	}
}

func TestSuomiFiLogin(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		signing crypto.PrivateKey
		enc     string
	}{
		{"RS256 assertion, A256GCM", rsaKey(0), ""},
		{"ES256 assertion, A128CBC-HS256", ec, string(jose.A128CBC_HS256)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := clientKeys(t, []crypto.PrivateKey{tc.signing}, []crypto.PrivateKey{rsaKey(1)})
			s := newSuomi(t, keys, func(c *devidp.Client) { c.ContentEncryption = tc.enc })
			c := s.client(t, keys)
			flow, q := login(t, c, citizen.Subject)
			id, err := c.Finish(t.Context(), flow, q)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Subject != citizen.Subject || id.PersonalIdentityCode != citizen.PersonalIdentityCode || id.Name != citizen.Name || id.ACR != citizen.ACR {
				t.Errorf("identity %+v does not match the person chosen", id)
			}
		})
	}
}

// rawSuomiToken returns the ID token exactly as devidp's token endpoint
// sends it, from a login by a client that records the token response.
func rawSuomiToken(t *testing.T, s *suomi) string {
	t.Helper()
	var raw string
	c2, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL: s.idp.URL, ClientID: portalID, Keys: s.keys, RedirectURL: portalCB, IdentityCodeClaim: suomiHETUClaim,
		HTTPClient: &http.Client{Transport: teeIDToken{&raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	flow, q := login(t, c2, citizen.Subject)
	if _, err := c2.Finish(t.Context(), flow, q); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return raw
}

type teeIDToken struct{ raw *string }

func (tt teeIDToken) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/token") {
		return resp, err
	}
	var body map[string]any
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&body); err != nil {
		return nil, err
	}
	resp.Body.Close()
	*tt.raw, _ = body["id_token"].(string)
	b, _ := json.Marshal(body)
	resp.Body = nopCloser{strings.NewReader(string(b))}
	resp.ContentLength = int64(len(b))
	return resp, nil
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestSuomiFiIDTokenIsEncryptedAndVerifiesAsBearer(t *testing.T) {
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, []crypto.PrivateKey{rsaKey(1)})
	s := newSuomi(t, keys, nil)
	c := s.client(t, keys)
	raw := rawSuomiToken(t, s)
	if strings.Count(raw, ".") != 4 {
		t.Fatalf("ID token is not a compact JWE (%d dots)", strings.Count(raw, "."))
	}
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if jwe.Header.KeyID != keys.PublicJWKS().Keys[1].KeyID {
		t.Errorf("JWE kid %q is not the client's encryption key", jwe.Header.KeyID)
	}
	id, err := c.VerifyIDToken(t.Context(), raw)
	if err != nil || id.PersonalIdentityCode != citizen.PersonalIdentityCode {
		t.Fatalf("VerifyIDToken: %+v, %v", id, err)
	}
}

func TestSuomiFiWrongAssertionKeyRefused(t *testing.T) {
	published := clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, []crypto.PrivateKey{rsaKey(1)})
	s := newSuomi(t, published, nil)
	// Same client id, but the assertion is signed by a key the client never
	// published: devidp must refuse the client, so the exchange fails.
	impostor := clientKeys(t, []crypto.PrivateKey{rsaKey(2)}, []crypto.PrivateKey{rsaKey(1)})
	c := s.client(t, impostor)
	flow, q := login(t, c, citizen.Subject)
	_, err := c.Finish(t.Context(), flow, q)
	wantOAuthError(t, err, oidclogin.ErrExchange, "invalid_client")
}

func TestSuomiFiTokenEncryptedToAnotherKeyRefused(t *testing.T) {
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, []crypto.PrivateKey{rsaKey(1)})
	stranger := clientKeys(t, nil, []crypto.PrivateKey{rsaKey(3)})
	// The provider holds the client's signing key but a stranger's
	// encryption key: the token it returns is not ours to read.
	s := newSuomi(t, keys, func(c *devidp.Client) {
		set := keys.PublicJWKS()
		set.Keys = append(set.Keys[:1], stranger.PublicJWKS().Keys...)
		c.JWKSURL, c.PublicKeys = "", &set
	})
	c := s.client(t, keys)
	flow, q := login(t, c, citizen.Subject)
	_, err := c.Finish(t.Context(), flow, q)
	if !errors.Is(err, oidclogin.ErrInvalidToken) {
		t.Fatalf("got %v, want ErrInvalidToken", err)
	}
}

func TestSuomiFiInnerTokenNotSignedByProviderRefused(t *testing.T) {
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, []crypto.PrivateKey{rsaKey(1)})
	s := newSuomi(t, keys, nil)
	c := s.client(t, keys)
	// Everything about this token is right (issuer, audience, claims, the
	// provider's kid, encrypted to our key), except who signed it.
	var provJWKS jose.JSONWebKeySet
	resp, err := http.Get(s.idp.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&provJWKS); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey(4)},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", provJWKS.Keys[0].KeyID))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": s.idp.URL, "sub": citizen.Subject, "aud": portalID, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		suomiHETUClaim: citizen.PersonalIdentityCode,
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := jws.CompactSerialize()
	encKey := keys.PublicJWKS().Keys[1]
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: encKey.Key, KeyID: encKey.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := obj.CompactSerialize()
	if _, err := c.VerifyIDToken(t.Context(), forged); !errors.Is(err, oidclogin.ErrInvalidToken) {
		t.Fatalf("forged inner JWS: got %v, want ErrInvalidToken", err)
	}
}

func TestPlainIDTokenRefusedWhenEncryptionIsExpected(t *testing.T) {
	e := newEnv(t) // the secret-based devidp signs but does not encrypt
	c, err := oidclogin.New(t.Context(), oidclogin.Config{
		IssuerURL: e.idp.URL, ClientID: portalID, ClientSecret: portalSecret, RedirectURL: portalCB,
		Keys: clientKeys(t, nil, []crypto.PrivateKey{rsaKey(1)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	flow, q := login(t, c, citizen.Subject)
	if _, err := c.Finish(t.Context(), flow, q); !errors.Is(err, oidclogin.ErrInvalidToken) {
		t.Fatalf("got %v, want ErrInvalidToken", err)
	}
}

func TestClientJWKSServesOnlyPublicKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0), ec}, []crypto.PrivateKey{rsaKey(1), rsaKey(2)})
	srv := httptest.NewServer(keys)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Fatalf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var uses, algs, kids []string
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v publishes private parameter %q", k["kid"], private)
			}
		}
		uses = append(uses, k["use"].(string))
		algs = append(algs, k["alg"].(string))
		kid, _ := k["kid"].(string)
		if kid == "" || slices.Contains(kids, kid) {
			t.Errorf("kid %q is empty or repeated", kid)
		}
		kids = append(kids, kid)
	}
	if want := []string{"sig", "sig", "enc", "enc"}; !slices.Equal(uses, want) {
		t.Errorf("uses %v, want %v (active key of each use first)", uses, want)
	}
	if want := []string{"RS256", "ES256", "RSA-OAEP-256", "RSA-OAEP-256"}; !slices.Equal(algs, want) {
		t.Errorf("algs %v, want %v", algs, want)
	}
	post, _ := http.Post(srv.URL, "text/plain", nil)
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", post.Status)
	}
	post.Body.Close()
}

func TestSuomiFiKeyRotation(t *testing.T) {
	// Two keys of each use. The provider was given only the second
	// encryption key (say, the one being phased in) and the second signing
	// key is unknown to it: tokens encrypted to the second key still
	// decrypt, and assertions are signed by the first, active key.
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0), rsaKey(2)}, []crypto.PrivateKey{rsaKey(1), rsaKey(3)})
	second := keys.PublicJWKS().Keys[3].KeyID
	first := keys.PublicJWKS().Keys[0].KeyID
	s := newSuomi(t, keys, publicOnly(keys, func(k jose.JSONWebKey) bool { return k.KeyID == second || k.KeyID == first }))
	c := s.client(t, keys)
	raw := rawSuomiToken(t, s)
	jwe, err := jose.ParseEncryptedCompact(raw, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil || jwe.Header.KeyID != second {
		t.Fatalf("token not encrypted to the second key (%v)", err)
	}
	if _, err := c.VerifyIDToken(t.Context(), raw); err != nil {
		t.Fatalf("token encrypted to the second key: %v", err)
	}

	// Fetched by JWKS URL, the provider encrypts to the first key; a token
	// encrypted to either verifies with the same client.
	s2 := newSuomi(t, keys, nil)
	c2 := s2.client(t, keys)
	flow, q := login(t, c2, citizen.Subject)
	if _, err := c2.Finish(t.Context(), flow, q); err != nil {
		t.Fatalf("login with rotated keys: %v", err)
	}
}

func TestConfigNeedsSecretOrKey(t *testing.T) {
	e := newEnv(t)
	keys := clientKeys(t, []crypto.PrivateKey{rsaKey(0)}, nil)
	for name, cfg := range map[string]oidclogin.Config{
		"neither":                  {IssuerURL: e.idp.URL, ClientID: portalID, RedirectURL: portalCB},
		"both":                     {IssuerURL: e.idp.URL, ClientID: portalID, RedirectURL: portalCB, ClientSecret: portalSecret, Keys: keys},
		"encryption key is no key": {IssuerURL: e.idp.URL, ClientID: portalID, RedirectURL: portalCB, Keys: clientKeys(t, nil, []crypto.PrivateKey{rsaKey(1)})},
	} {
		if _, err := oidclogin.New(t.Context(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadClientKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, keys ...crypto.PrivateKey) string {
		var b []byte
		for _, k := range keys {
			der, err := x509.MarshalPKCS8PrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sig := write("sig.pem", rsaKey(0))
	enc := write("enc.pem", rsaKey(1), rsaKey(3))
	keys, err := oidclogin.LoadClientKeys(sig, enc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(keys.PublicJWKS().Keys); n != 3 || !keys.HasSigningKey() || !keys.HasEncryptionKey() {
		t.Errorf("loaded %d keys", n)
	}
	if _, err := oidclogin.LoadClientKeys(filepath.Join(dir, "missing.pem"), ""); err == nil {
		t.Error("a missing key file was accepted")
	}
	empty := filepath.Join(dir, "empty.pem")
	_ = os.WriteFile(empty, []byte("not a key\n"), 0o600)
	if _, err := oidclogin.LoadClientKeys(empty, ""); err == nil {
		t.Error("a file without keys was accepted")
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := oidclogin.LoadClientKeys("", write("ec.pem", ec)); err == nil {
		t.Error("an EC encryption key was accepted")
	}
}
