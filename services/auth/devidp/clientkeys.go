package devidp

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Suomi.fi-style clients: authenticated by private_key_jwt (RFC 7523, OIDC
// Core section 9) and given ID tokens and userinfo encrypted to their own
// key, as Suomi.fi e-Identification does, so the relying party's side of that
// profile can be tested end to end against a real provider.

// clientAssertionType is the only client_assertion_type accepted.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	// maxAssertionLife refuses long-lived assertions: one is made for one
	// token request, and a long life would make the replay cache the only
	// defence against a leaked one.
	maxAssertionLife = 5 * time.Minute
	// clockSkew tolerates a client clock slightly ahead or behind ours.
	clockSkew = 5 * time.Second
	// maxJWKSBytes bounds a fetched client JWKS.
	maxJWKSBytes = 64 << 10
)

// assertionAlgs are the signature algorithms accepted on client assertions;
// "none" and HMAC (which would need a shared secret) are not among them.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256}

// usesKeys reports whether the client is registered the Suomi.fi way.
func (c Client) usesKeys() bool { return c.JWKSURL != "" || c.PublicKeys != nil }

// clientJWKS returns the client's public keys: those given at registration,
// or else fetched from its JWKS URL. The fetch is not cached: a dev provider
// sees few logins, and a client that rotated its keys is then always seen
// with its current set.
func (p *Provider) clientJWKS(ctx context.Context, c Client) (*jose.JSONWebKeySet, error) {
	if c.PublicKeys != nil {
		return c.PublicKeys, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch client JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("fetch client JWKS: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("fetch client JWKS: decode: %w", err)
	}
	for _, k := range set.Keys {
		// A client that publishes its private key has lost it.
		if !k.IsPublic() {
			return nil, errors.New("fetch client JWKS: the set contains a private key")
		}
	}
	return &set, nil
}

// authenticateAssertion authenticates a client by private_key_jwt. On failure
// it has already written the response. Failures are logged with a reason but
// never with the assertion.
func (p *Provider) authenticateAssertion(w http.ResponseWriter, r *http.Request, form url.Values) (Client, bool) {
	if _, _, basic := r.BasicAuth(); basic || form.Has("client_secret") {
		// RFC 6749 section 2.3: exactly one authentication method.
		oauthError(w, http.StatusBadRequest, "invalid_request", "use exactly one client authentication method")
		return Client{}, false
	}
	if form.Get("client_assertion_type") != clientAssertionType {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_assertion_type must be "+clientAssertionType)
		return Client{}, false
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil {
		p.assertionRefused(w, "", "unparsable assertion")
		return Client{}, false
	}
	// The issuer names the client whose keys verify the signature; nothing
	// else in the assertion is believed before that.
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		p.assertionRefused(w, "", "unparsable assertion claims")
		return Client{}, false
	}
	client, known := p.clients[unverified.Issuer]
	if !known || !client.usesKeys() {
		p.assertionRefused(w, unverified.Issuer, "not a client registered for private_key_jwt")
		return Client{}, false
	}
	if form.Has("client_id") && form.Get("client_id") != client.ID {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the client assertion")
		return Client{}, false
	}
	set, err := p.clientJWKS(r.Context(), client)
	if err != nil {
		p.log.Warn("client keys unavailable", "client_id", client.ID, "err", err)
		p.assertionRefused(w, client.ID, "client keys unavailable")
		return Client{}, false
	}
	var claims jwt.Claims
	if !verifyWithAny(tok, sigKeys(set, tok.Headers[0].KeyID), &claims) {
		p.assertionRefused(w, client.ID, "bad signature")
		return Client{}, false
	}
	if reason := p.checkAssertion(client.ID, claims); reason != "" {
		p.assertionRefused(w, client.ID, reason)
		return Client{}, false
	}
	return client, true
}

// checkAssertion applies RFC 7523 section 3 and records the jti, returning
// why the assertion is refused or "".
func (p *Provider) checkAssertion(clientID string, c jwt.Claims) string {
	now := p.now()
	switch {
	case c.Issuer != clientID || c.Subject != clientID:
		return "iss and sub must both be the client_id"
	case !c.Audience.Contains(p.issuer + "/token"):
		// Only the token endpoint, as Suomi.fi requires: an assertion made
		// for another endpoint or server must not work here.
		return "aud is not this token endpoint"
	case c.Expiry == nil:
		return "no exp"
	case now.After(c.Expiry.Time().Add(clockSkew)):
		return "expired"
	case c.Expiry.Time().Sub(now) > maxAssertionLife:
		return "exp too far in the future"
	case c.NotBefore != nil && now.Add(clockSkew).Before(c.NotBefore.Time()):
		return "not yet valid"
	case c.IssuedAt != nil && now.Add(clockSkew).Before(c.IssuedAt.Time()):
		return "issued in the future"
	case c.ID == "" || len(c.ID) > maxParamLen:
		return "no usable jti"
	}
	key := clientID + "\x00" + c.ID
	p.mu.Lock()
	defer p.mu.Unlock()
	if exp, seen := p.jtis[key]; seen && !now.After(exp) {
		return "jti replayed"
	}
	// Kept until the assertion could no longer be accepted anyway.
	p.jtis[key] = c.Expiry.Time().Add(clockSkew)
	return ""
}

func (p *Provider) assertionRefused(w http.ResponseWriter, clientID, reason string) {
	p.log.Info("client authentication failed", "client_id", clientID, "method", "private_key_jwt", "reason", reason)
	oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
}

// sigKeys are the client's verification keys, narrowed to the named kid.
func sigKeys(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if (k.Use == "sig" || k.Use == "") && (kid == "" || k.KeyID == kid) {
			out = append(out, k)
		}
	}
	return out
}

func verifyWithAny(tok *jwt.JSONWebToken, keys []jose.JSONWebKey, dest *jwt.Claims) bool {
	alg := tok.Headers[0].Algorithm
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if tok.Claims(k.Key, dest) == nil {
			return true
		}
	}
	return false
}

// encryptFor encrypts a signed JWT to the client's first encryption key
// (the active one of a rotating set), as a nested JWT (cty "JWT").
func (p *Provider) encryptFor(ctx context.Context, c Client, signed string) (string, error) {
	set, err := p.clientJWKS(ctx, c)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(set.Keys, func(k jose.JSONWebKey) bool {
		_, rsaKey := k.Key.(*rsa.PublicKey)
		return k.Use == "enc" && rsaKey
	})
	if i < 0 {
		return "", errors.New("the client has no RSA encryption key")
	}
	key := set.Keys[i]
	alg := jose.RSA_OAEP_256
	if key.Algorithm == string(jose.RSA_OAEP) {
		alg = jose.RSA_OAEP
	}
	enc := jose.ContentEncryption(c.ContentEncryption)
	if enc == "" {
		enc = jose.A256GCM
	}
	opts := (&jose.EncrypterOptions{}).WithContentType("JWT").WithType("JWT")
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: key.Key, KeyID: key.KeyID}, opts)
	if err != nil {
		return "", fmt.Errorf("encrypter: %w", err)
	}
	obj, err := e.Encrypt([]byte(signed))
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	return obj.CompactSerialize()
}
