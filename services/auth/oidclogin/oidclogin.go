// Package oidclogin is the relying-party side of OpenID Connect login for the
// citizen portal and the office: authorization-code flow with PKCE (S256),
// state and nonce, and ID token verification.
//
// The client authenticates to the token endpoint either with a client secret
// or, as Suomi.fi e-Identification requires, with a private_key_jwt assertion
// (RFC 7523) signed by its own key; with an encryption key it also accepts
// only ID tokens encrypted to it (JWE), whose inner JWS is verified as usual.
//
// Claims missing from the ID token, such as the identity code, which Suomi.fi
// sends only from its userinfo endpoint, are fetched from there with the
// access token; a userinfo JWT is decrypted and verified like the ID token.
//
// It keeps no state and sets no cookies. The caller stores the Flow returned
// by Begin in its own server-side session and hands it back to Finish.
package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// Errors callers can branch on. Errors from Finish caused by the browser
// request (state, error response, missing code) deserve a 400; token and
// exchange failures mean the login did not happen and the user should retry.
var (
	// ErrIssuerUnreachable: discovery failed for a transient reason
	// (network, 5xx, 429); retrying New later may succeed.
	ErrIssuerUnreachable = errors.New("oidclogin: issuer unreachable")
	// ErrStateMismatch: the callback does not belong to this flow (CSRF,
	// stale tab, or a session that was replaced).
	ErrStateMismatch = errors.New("oidclogin: state mismatch")
	// ErrMissingCode: the callback has neither a code nor an error.
	ErrMissingCode = errors.New("oidclogin: authorization code missing")
	// ErrAccessDenied: the user cancelled at the provider. Matched by a
	// *ProviderError with code access_denied.
	ErrAccessDenied = errors.New("oidclogin: access denied")
	// ErrExchange: the token endpoint refused the code or was unreachable.
	ErrExchange = errors.New("oidclogin: code exchange failed")
	// ErrInvalidToken: the ID token failed verification.
	ErrInvalidToken = errors.New("oidclogin: invalid ID token")
	// ErrTokenExpired: the ID token is otherwise valid but expired. It also
	// matches ErrInvalidToken.
	ErrTokenExpired = errors.New("oidclogin: ID token expired")
	// ErrNonceMismatch: the ID token was not issued for this flow (replay).
	ErrNonceMismatch = errors.New("oidclogin: nonce mismatch")
	// ErrUserinfo: the userinfo endpoint could not be reached, or its
	// response was refused (not about the ID token's subject, not encrypted
	// or signed as expected, made for another client).
	ErrUserinfo = errors.New("oidclogin: userinfo failed")
)

// ProviderError is an OAuth 2.0 error response delivered to the redirect URI.
type ProviderError struct {
	Code        string // e.g. "access_denied", "invalid_request"
	Description string
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "oidclogin: provider returned error " + e.Code
	}
	return fmt.Sprintf("oidclogin: provider returned error %s: %s", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrAccessDenied) work for user cancellation.
func (e *ProviderError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "access_denied"
}

// Config configures a Client.
type Config struct {
	IssuerURL string
	ClientID  string
	// ClientSecret authenticates the client with client_secret_basic or
	// client_secret_post. Exactly one of ClientSecret and a signing key in
	// Keys must be set.
	ClientSecret string
	// Keys, if it has a signing key, authenticates the client with
	// private_key_jwt; if it has an encryption key, ID tokens must arrive
	// encrypted to it. Publish Keys (it is an http.Handler) where the
	// provider fetches the client's JWKS.
	Keys        *ClientKeys
	RedirectURL string
	// IdentityCodeClaim names the claim carrying the personal identity code:
	// Suomi.fi sends it as "urn:oid:1.2.246.21". Empty means
	// DefaultIdentityCodeClaim.
	IdentityCodeClaim string
	// Scopes requested; "openid" is added when missing.
	Scopes []string
	// Userinfo says when Finish asks the userinfo endpoint for claims;
	// empty means UserinfoWhenMissing.
	Userinfo UserinfoPolicy
	// NeededClaims are the claims whose absence from the ID token makes
	// Finish ask the userinfo endpoint. Nil means the identity code's claim.
	NeededClaims []string
	// HTTPClient is used for discovery, JWKS, token and userinfo calls. Nil means a
	// client with a 10 s timeout, so a hung provider cannot hang logins.
	HTTPClient *http.Client
	// ACRValues, if set, are asked for as acr_values: the authentication
	// context classes acceptable, as Suomi.fi requires one to be named. The
	// caller still checks the acr the ID token reports.
	ACRValues []string
}

// DefaultIdentityCodeClaim is the identity code claim of our own dev
// provider and of providers configured like it.
const DefaultIdentityCodeClaim = "personal_identity_code"

// Client runs logins against one provider for one registered client.
type Client struct {
	oauth    oauth2.Config
	issuer   string
	verifier *oidc.IDTokenVerifier
	// keySet is the provider's JWKS, shared by the ID token verifier and
	// userinfo verification so both see the same keys and one cache.
	keySet *oidc.RemoteKeySet
	// sigAlgs are the signature algorithms accepted from the provider.
	sigAlgs []jose.SignatureAlgorithm
	http    *http.Client
	keys    *ClientKeys
	// signer signs client assertions; nil with a client secret.
	signer    jose.Signer
	tokenURL  string
	hetuClaim string

	userinfoURL    string
	userinfoPolicy UserinfoPolicy
	neededClaims   []string
	acrValues      []string
	// endSessionURL is the provider's end_session_endpoint, for
	// RP-initiated logout; empty if it offers none.
	endSessionURL string
}

// Flow is the per-login secret state the caller must keep server-side
// between Begin and Finish. All fields are random and URL-safe.
type Flow struct {
	State    string
	Nonce    string
	Verifier string // PKCE code verifier
}

// Identity is the verified result of a login.
type Identity struct {
	Subject              string
	Name                 string
	GivenName            string
	FamilyName           string
	PersonalIdentityCode string // Finnish HETU; citizens only
	Email                string
	Phone                string
	Roles                []string // staff roles; empty for citizens
	ACR                  string
	AuthTime             time.Time // zero if the provider sent no auth_time
	// IDToken is the ID token as the provider sent it at login, the hint
	// of a logout at the provider (LogoutURL); empty for a bearer token.
	IDToken string `json:",omitempty"`
}

// New discovers the provider and returns a Client. A transient failure
// wraps ErrIssuerUnreachable so startup code can retry; other failures
// (wrong issuer, not an OIDC provider) are configuration errors.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.IssuerURL == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidclogin: new: IssuerURL, ClientID and RedirectURL are required")
	}
	switch {
	case cfg.ClientSecret == "" && !cfg.Keys.HasSigningKey():
		return nil, errors.New("oidclogin: new: a client secret or a client signing key is required")
	case cfg.ClientSecret != "" && cfg.Keys.HasSigningKey():
		// Either would do, but which one the provider registered is not
		// something to guess at every login.
		return nil, errors.New("oidclogin: new: set a client secret or a client signing key, not both")
	}
	hetuClaim := cfg.IdentityCodeClaim
	if hetuClaim == "" {
		hetuClaim = DefaultIdentityCodeClaim
	}
	policy, err := ParseUserinfoPolicy(string(cfg.Userinfo))
	if err != nil {
		return nil, fmt.Errorf("oidclogin: new: %w", err)
	}
	needed := slices.Clone(cfg.NeededClaims)
	if needed == nil {
		needed = []string{hetuClaim}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	pc, err := discover(ctx, hc, cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("oidclogin: new: %w", err)
	}
	if policy == UserinfoAlways && pc.UserInfoURL == "" {
		return nil, errors.New("oidclogin: new: userinfo is asked for at every login, but the provider has no userinfo endpoint")
	}
	provider := pc.NewProvider(oidc.ClientContext(context.Background(), hc))
	keySet := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), hc), pc.JWKSURL)
	sigAlgs := make([]jose.SignatureAlgorithm, len(pc.Algorithms))
	for i, a := range pc.Algorithms {
		sigAlgs[i] = jose.SignatureAlgorithm(a)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = pc.authStyle
	var signer jose.Signer
	if cfg.Keys.HasSigningKey() {
		if len(pc.authMethods) > 0 && !slices.Contains(pc.authMethods, "private_key_jwt") {
			return nil, fmt.Errorf("oidclogin: new: the provider does not support private_key_jwt client authentication (it lists %v)", pc.authMethods)
		}
		// In the form body, so that oauth2 sends client_id there and no
		// Basic header with an empty secret; the assertion goes beside it.
		endpoint.AuthStyle = oauth2.AuthStyleInParams
		if signer, err = cfg.Keys.assertionSigner(); err != nil {
			return nil, fmt.Errorf("oidclogin: new: %w", err)
		}
	}

	scopes := slices.Clone(cfg.Scopes)
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	return &Client{
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		issuer:    pc.IssuerURL,
		verifier:  oidc.NewVerifier(pc.IssuerURL, keySet, &oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: pc.Algorithms}),
		keySet:    keySet,
		sigAlgs:   sigAlgs,
		http:      hc,
		keys:      cfg.Keys,
		signer:    signer,
		tokenURL:  pc.TokenURL,
		hetuClaim: hetuClaim,

		userinfoURL:    pc.UserInfoURL,
		userinfoPolicy: policy,
		neededClaims:   needed,
		acrValues:      slices.Clone(cfg.ACRValues),
		endSessionURL:  pc.endSessionURL,
	}, nil
}

// asymmetricAlgs are the only ID token algorithms we accept: "none" and
// HMAC (keyed with the client secret) are never acceptable.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discover fetches the discovery document itself rather than through
// oidc.NewProvider so transient failures can be told apart from
// misconfiguration.
type discovered struct {
	oidc.ProviderConfig
	authStyle     oauth2.AuthStyle
	authMethods   []string
	endSessionURL string
}

func discover(ctx context.Context, hc *http.Client, issuer string) (*discovered, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w: %w", wellKnown, ErrIssuerUnreachable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w: %w", wellKnown, ErrIssuerUnreachable, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, fmt.Errorf("discovery %s: %w: status %s", wellKnown, ErrIssuerUnreachable, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery %s: status %s", wellKnown, resp.Status)
	}
	var doc struct {
		oidc.ProviderConfig
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		EndSession  string   `json:"end_session_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("discovery %s: decode: %w", wellKnown, err)
	}
	pc := doc.ProviderConfig
	// The issuer must match exactly (OIDC Discovery section 4.3), otherwise
	// tokens from a different issuer could be accepted.
	if pc.IssuerURL != issuer {
		return nil, fmt.Errorf("discovery %s: issuer mismatch: configured %q, provider says %q", wellKnown, issuer, pc.IssuerURL)
	}
	if pc.AuthURL == "" || pc.TokenURL == "" || pc.JWKSURL == "" {
		return nil, fmt.Errorf("discovery %s: missing authorization, token or jwks endpoint", wellKnown)
	}
	var algs []string
	for _, a := range pc.Algorithms {
		if slices.Contains(asymmetricAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		// OIDC Discovery makes RS256 mandatory to support.
		algs = []string{oidc.RS256}
	}
	pc.Algorithms = algs
	return &discovered{ProviderConfig: pc, authStyle: authStyle(doc.AuthMethods), authMethods: doc.AuthMethods, endSessionURL: doc.EndSession}, nil
}

// authStyle picks the client authentication method up front. oauth2's
// auto-detection would retry a failed exchange with the other method, and a
// provider that consumes a code on the first attempt then sees a replay.
func authStyle(methods []string) oauth2.AuthStyle {
	// client_secret_basic is the default when the provider lists nothing.
	if len(methods) == 0 || slices.Contains(methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// Begin starts a login: it returns the Flow to store in the caller's session
// and the provider URL to redirect the browser to.
func (c *Client) Begin() (Flow, string) {
	f := Flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if len(c.acrValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(c.acrValues, " ")))
	}
	return f, c.oauth.AuthCodeURL(f.State, opts...)
}

// LogoutURL is where to send the browser to end the person's session at
// the provider too (OpenID Connect RP-Initiated Logout 1.0), coming back to
// postLogout, which must be registered with the provider for this client:
// false if the provider offers no end_session_endpoint.
func (c *Client) LogoutURL(id Identity, postLogout string) (string, bool) {
	if c.endSessionURL == "" {
		return "", false
	}
	u, err := url.Parse(c.endSessionURL)
	if err != nil {
		return "", false
	}
	q := u.Query()
	q.Set("client_id", c.oauth.ClientID)
	q.Set("post_logout_redirect_uri", postLogout)
	if id.IDToken != "" {
		q.Set("id_token_hint", id.IDToken)
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// Finish completes a login from the callback's query parameters. The caller
// should delete the Flow from its session before or right after calling
// Finish, whatever the outcome, so a callback cannot be replayed.
func (c *Client) Finish(ctx context.Context, flow Flow, query url.Values) (Identity, error) {
	// Check state before looking at anything else, including an error
	// response, so a forged callback cannot even inject an error message.
	if flow.State == "" || subtle.ConstantTimeCompare([]byte(flow.State), []byte(query.Get("state"))) != 1 {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", ErrStateMismatch)
	}
	if code := query.Get("error"); code != "" {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", &ProviderError{Code: code, Description: query.Get("error_description")})
	}
	code := query.Get("code")
	if code == "" {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", ErrMissingCode)
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(flow.Verifier)}
	if c.signer != nil {
		assertion, err := c.clientAssertion()
		if err != nil {
			return Identity{}, fmt.Errorf("oidclogin: finish: %w: %w", ErrExchange, err)
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
			oauth2.SetAuthURLParam("client_assertion", assertion))
	}
	tok, err := c.oauth.Exchange(oidc.ClientContext(ctx, c.http), code, opts...)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w: %w", ErrExchange, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w: token response has no id_token", ErrInvalidToken)
	}
	idt, err := c.verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", err)
	}
	if flow.Nonce == "" || subtle.ConstantTimeCompare([]byte(flow.Nonce), []byte(idt.Nonce)) != 1 {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", ErrNonceMismatch)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("oidclogin: finish: %w: %w", ErrInvalidToken, err)
		}
	}
	all, err := claimsOf(idt)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", err)
	}
	if c.needsUserinfo(all) {
		// Only now, with the ID token verified and bound to this flow, is
		// the access token worth presenting and the answer worth comparing.
		if err := c.userinfo(ctx, tok.AccessToken, idt.Subject, all); err != nil {
			return Identity{}, fmt.Errorf("oidclogin: finish: %w: %w", ErrUserinfo, err)
		}
	}
	id, err := c.identityOf(idt.Subject, all)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: finish: %w", err)
	}
	id.IDToken = raw
	return id, nil
}

// VerifyIDToken verifies an ID token presented as a bearer credential:
// signature, issuer, audience (this client) and expiry. There is no nonce to
// check here, so callers must only accept it for the token's lifetime. Nor
// is there an access token: the identity has only the ID token's claims.
func (c *Client) VerifyIDToken(ctx context.Context, raw string) (Identity, error) {
	idt, err := c.verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: verify id token: %w", err)
	}
	all, err := claimsOf(idt)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: verify id token: %w", err)
	}
	id, err := c.identityOf(idt.Subject, all)
	if err != nil {
		return Identity{}, fmt.Errorf("oidclogin: verify id token: %w", err)
	}
	return id, nil
}

func (c *Client) verify(ctx context.Context, raw string) (*oidc.IDToken, error) {
	raw, err := c.keys.decryptJWT(raw, "ID token")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	idt, err := c.verifier.Verify(oidc.ClientContext(ctx, c.http), raw)
	if err != nil {
		if _, expired := errors.AsType[*oidc.TokenExpiredError](err); expired {
			return nil, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrTokenExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return idt, nil
}

type claims struct {
	Name        string   `json:"name"`
	GivenName   string   `json:"given_name"`
	FamilyName  string   `json:"family_name"`
	Email       string   `json:"email"`
	PhoneNumber string   `json:"phone_number"`
	Roles       []string `json:"roles"`
	ACR         string   `json:"acr"`
	AuthTime    *float64 `json:"auth_time"` // JSON numbers may carry a fraction
}

// claimsOf returns the ID token's claims by name, for merging with userinfo
// and for the identity code, whose claim name is configured.
func claimsOf(idt *oidc.IDToken) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := idt.Claims(&all); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	return all, nil
}

func (c *Client) identityOf(subject string, all map[string]json.RawMessage) (Identity, error) {
	if subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	// Through JSON again, so that the struct tags decode the merged claims
	// exactly as they would decode a token.
	merged, err := json.Marshal(all)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	var cl claims
	if err := json.Unmarshal(merged, &cl); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	var hetu string
	if v, ok := all[c.hetuClaim]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &hetu); err != nil {
			return Identity{}, fmt.Errorf("%w: claim %s is not a string", ErrInvalidToken, c.hetuClaim)
		}
	}
	id := Identity{
		Subject:              subject,
		Name:                 cl.Name,
		GivenName:            cl.GivenName,
		FamilyName:           cl.FamilyName,
		PersonalIdentityCode: hetu,
		Email:                cl.Email,
		Phone:                cl.PhoneNumber,
		Roles:                cl.Roles,
		ACR:                  cl.ACR,
	}
	if cl.AuthTime != nil {
		id.AuthTime = time.Unix(int64(*cl.AuthTime), 0)
	}
	return id, nil
}
