package devidp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// personClaims are the identity claims shared by the ID token and userinfo.
type personClaims struct {
	ACR                  string   `json:"acr,omitempty"`
	Name                 string   `json:"name,omitempty"`
	GivenName            string   `json:"given_name,omitempty"`
	FamilyName           string   `json:"family_name,omitempty"`
	Email                string   `json:"email,omitempty"`
	PhoneNumber          string   `json:"phone_number,omitempty"`
	PersonalIdentityCode string   `json:"personal_identity_code,omitempty"`
	Roles                []string `json:"roles,omitempty"`
}

type idTokenClaims struct {
	Issuer          string `json:"iss"`
	Subject         string `json:"sub"`
	Audience        string `json:"aud"`
	AuthorizedParty string `json:"azp"`
	Expiry          int64  `json:"exp"`
	IssuedAt        int64  `json:"iat"`
	AuthTime        int64  `json:"auth_time"`
	Nonce           string `json:"nonce"`
	AccessTokenHash string `json:"at_hash"`
	personClaims
}

type userinfoClaims struct {
	Subject string `json:"sub"`
	personClaims
}

type signedUserinfo struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	userinfoClaims
}

func claimsOf(person Person) personClaims {
	return personClaims{
		ACR:                  person.ACR,
		Name:                 person.Name,
		GivenName:            person.GivenName,
		FamilyName:           person.FamilyName,
		Email:                person.Email,
		PhoneNumber:          person.Phone,
		PersonalIdentityCode: person.PersonalIdentityCode,
		Roles:                person.Roles,
	}
}

// tokenError is an RFC 6749 section 5.2 error decided while redeeming a code.
type tokenError struct{ code, description string }

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "token requests must use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	// Only the body counts: credentials and codes do not belong in URLs.
	form := r.PostForm
	for _, name := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "client_assertion_type", "client_assertion"} {
		if len(form[name]) > 1 {
			oauthError(w, http.StatusBadRequest, "invalid_request", "duplicate parameter "+name)
			return
		}
	}
	var client Client
	var ok bool
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		client, ok = p.authenticateAssertion(w, r, form)
	} else {
		client, ok = p.authenticateClient(w, r, form)
	}
	if !ok {
		return
	}
	if form.Get("grant_type") != "authorization_code" {
		p.log.Info("token rejected", "client_id", client.ID, "error", "unsupported_grant_type")
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" || verifier == "" {
		p.log.Info("token rejected", "client_id", client.ID, "error", "invalid_request")
		oauthError(w, http.StatusBadRequest, "invalid_request", "code and code_verifier are required")
		return
	}

	access := rand.Text()
	g, terr := p.redeem(code, client.ID, form.Get("redirect_uri"), verifier, access)
	if terr != nil {
		p.log.Info("token rejected", "client_id", client.ID, "error", terr.code, "reason", terr.description)
		oauthError(w, http.StatusBadRequest, terr.code, terr.description)
		return
	}
	person := p.byID[g.subject]
	attrs := claimsOf(person)
	if p.attrsInUserinfo {
		// How the person authenticated stays in the ID token; who they
		// are is for the userinfo endpoint to tell.
		attrs = personClaims{ACR: person.ACR}
	}
	now := p.now()
	idToken, err := p.sign(idTokenClaims{
		Issuer:          p.issuer,
		Subject:         person.Subject,
		Audience:        client.ID,
		AuthorizedParty: client.ID,
		Expiry:          now.Add(tokenTTL).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        g.authTime.Unix(),
		Nonce:           g.nonce,
		AccessTokenHash: atHash(access),
		personClaims:    attrs,
	})
	if err != nil {
		p.log.Error("token signing failed", "client_id", client.ID, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "could not sign the ID token")
		return
	}
	if client.usesKeys() {
		if idToken, err = p.encryptFor(r.Context(), client, idToken); err != nil {
			p.log.Error("token encryption failed", "client_id", client.ID, "err", err)
			oauthError(w, http.StatusInternalServerError, "server_error", "could not encrypt the ID token")
			return
		}
	}
	p.log.Info("tokens issued", "client_id", client.ID)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"id_token":     idToken,
		"token_type":   "Bearer",
		"expires_in":   int(tokenTTL / time.Second),
	})
}

// authenticateClient supports client_secret_basic and client_secret_post.
// On failure it has already written the 401 response.
func (p *Provider) authenticateClient(w http.ResponseWriter, r *http.Request, form url.Values) (Client, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 section 2.3.1 forbids combining methods.
		if form.Has("client_secret") {
			oauthError(w, http.StatusBadRequest, "invalid_request", "use exactly one client authentication method")
			return Client{}, false
		}
		// The credentials are form-encoded before Basic encoding (RFC 6749
		// section 2.3.1); golang.org/x/oauth2 does exactly that.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			p.unauthorized(w, true, "")
			return Client{}, false
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			oauthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
			return Client{}, false
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	client, known := p.clients[id]
	// A client registered with keys has no secret, and an empty secret
	// must never authenticate it.
	known = known && client.Secret != ""
	// Compare even for unknown clients so timing does not reveal which ids exist.
	want := client.Secret
	if !known {
		want = "\x00unknown"
	}
	if id == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || !known {
		p.unauthorized(w, basic, id)
		return Client{}, false
	}
	return client, true
}

func (p *Provider) unauthorized(w http.ResponseWriter, basic bool, clientID string) {
	p.log.Info("client authentication failed", "client_id", clientID)
	if basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
	}
	oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
}

// redeem consumes the code. Any attempt consumes it, even a failing one, so
// a stolen code cannot be retried against the PKCE check; a second use of a
// redeemed code also revokes the access token issued for it.
func (p *Provider) redeem(code, clientID, redirectURI, verifier, access string) (grant, *tokenError) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[code]
	if !ok {
		return grant{}, &tokenError{"invalid_grant", "unknown authorization code"}
	}
	if g.redeemed {
		delete(p.codes, code)
		delete(p.tokens, g.accessToken)
		return grant{}, &tokenError{"invalid_grant", "authorization code already used"}
	}
	if now.After(g.expires) {
		delete(p.codes, code)
		return grant{}, &tokenError{"invalid_grant", "authorization code expired"}
	}
	g.redeemed = true
	if g.clientID != clientID {
		return grant{}, &tokenError{"invalid_grant", "authorization code was issued to another client"}
	}
	if g.redirectURI != redirectURI {
		return grant{}, &tokenError{"invalid_grant", "redirect_uri does not match the authorization request"}
	}
	if !validVerifier(verifier) || subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(g.challenge)) != 1 {
		return grant{}, &tokenError{"invalid_grant", "PKCE verification failed"}
	}
	g.accessToken = access
	p.tokens[access] = accessToken{clientID: clientID, subject: g.subject, authTime: g.authTime, expires: now.Add(tokenTTL)}
	return *g, nil
}

// validVerifier applies RFC 7636 section 4.1: 43-128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !isBase64URL(c) && c != '.' && c != '~' {
			return false
		}
	}
	return true
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// atHash lets the client bind the access token to the ID token (OIDC Core
// section 3.1.3.6): left half of the SHA-256, base64url.
func atHash(access string) string {
	sum := sha256.Sum256([]byte(access))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (p *Provider) sign(claims any) (string, error) {
	payload, err := p.marshalClaims(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		// RFC 6750 section 3.1: no error code when no credentials were sent.
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp"`)
		oauthError(w, http.StatusUnauthorized, "invalid_request", "bearer access token required")
		return
	}
	now := p.now()
	p.mu.Lock()
	t, ok := p.tokens[token]
	p.mu.Unlock()
	if !ok || now.After(t.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp", error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token", "access token is invalid or expired")
		return
	}
	info := userinfoClaims{Subject: t.subject, personClaims: claimsOf(p.byID[t.subject])}
	client := p.clients[t.clientID]
	if !client.usesKeys() {
		body, err := p.marshalClaims(info)
		if err != nil {
			oauthError(w, http.StatusInternalServerError, "server_error", "could not build the userinfo response")
			return
		}
		p.log.Info("userinfo served", "client_id", t.clientID)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
		return
	}
	// OIDC Core section 5.3.2: a signed and then encrypted JWT, with iss
	// and aud so that it cannot be passed off to another client.
	jwtResp, err := p.sign(signedUserinfo{Issuer: p.issuer, Audience: client.ID, userinfoClaims: info})
	if err == nil {
		jwtResp, err = p.encryptFor(r.Context(), client, jwtResp)
	}
	if err != nil {
		p.log.Error("userinfo encryption failed", "client_id", client.ID, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "could not encrypt the userinfo response")
		return
	}
	p.log.Info("userinfo served", "client_id", t.clientID, "encrypted", true)
	w.Header().Set("Content-Type", "application/jwt")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(jwtResp))
}

// marshalClaims renders claims with the identity code under the configured
// claim name, e.g. Suomi.fi's "urn:oid:1.2.246.21".
func (p *Provider) marshalClaims(claims any) ([]byte, error) {
	payload, err := json.Marshal(claims)
	if err != nil || p.hetuClaim == defaultIdentityCodeClaim {
		return payload, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	if v, ok := m[defaultIdentityCodeClaim]; ok {
		delete(m, defaultIdentityCodeClaim)
		m[p.hetuClaim] = v
	}
	return json.Marshal(m)
}
