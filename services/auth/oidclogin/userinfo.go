package oidclogin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// UserinfoPolicy says when Finish also asks the provider's userinfo endpoint
// for the person's claims (OIDC Core section 5.3). Suomi.fi e-Identification
// sends the identity code and the other attributes only from there.
type UserinfoPolicy string

const (
	// UserinfoWhenMissing, the default, asks only when a needed claim is
	// missing from the ID token, so a provider that puts everything in the
	// ID token costs no extra round trip.
	UserinfoWhenMissing UserinfoPolicy = "missing"
	// UserinfoAlways asks at every login, for providers whose ID token
	// carries some attributes but not their current values.
	UserinfoAlways UserinfoPolicy = "always"
	// UserinfoNever never asks, for a provider whose userinfo endpoint does
	// not accept the access token it issues for login (some staff
	// directories issue it for another resource).
	UserinfoNever UserinfoPolicy = "never"
)

// ParseUserinfoPolicy reads a policy from configuration; "" is the default.
func ParseUserinfoPolicy(s string) (UserinfoPolicy, error) {
	switch p := UserinfoPolicy(s); p {
	case "":
		return UserinfoWhenMissing, nil
	case UserinfoWhenMissing, UserinfoAlways, UserinfoNever:
		return p, nil
	default:
		return "", fmt.Errorf("userinfo policy %q: want %q, %q or %q", s, UserinfoWhenMissing, UserinfoAlways, UserinfoNever)
	}
}

// UnmarshalText reads a policy from configuration, as ParseUserinfoPolicy does.
func (p *UserinfoPolicy) UnmarshalText(b []byte) error {
	parsed, err := ParseUserinfoPolicy(string(b))
	if err == nil {
		*p = parsed
	}
	return err
}

// maxUserinfoBytes bounds a userinfo response: a few attributes, never more.
const maxUserinfoBytes = 1 << 20

// idTokenOnly are the claims about the authentication itself. Only the ID
// token, whose nonce ties it to this login, may state them; a userinfo
// response saying otherwise does not change them (OIDC Core section 5.3.2
// leaves them out of userinfo, apart from sub, which must match).
var idTokenOnly = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "nonce", "auth_time",
	"acr", "amr", "azp", "at_hash", "c_hash", "sid",
}

// needsUserinfo reports whether the verified ID token claims leave Finish
// needing the userinfo endpoint.
func (c *Client) needsUserinfo(idClaims map[string]json.RawMessage) bool {
	switch c.userinfoPolicy {
	case UserinfoAlways:
		return true
	case UserinfoNever:
		return false
	case UserinfoWhenMissing:
	}
	if c.userinfoURL == "" {
		// Nothing to ask: the caller decides about the missing claim, as
		// it did before there was a userinfo endpoint to ask.
		return false
	}
	for _, name := range c.neededClaims {
		if missing(idClaims[name]) {
			return true
		}
	}
	return false
}

// missing treats an absent, null or empty-string claim alike: none of them
// identifies anybody.
func missing(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s == "" || s == "null" || s == `""`
}

// userinfo fetches the userinfo claims with the access token, checks that they
// are about the person of the ID token and merges them into its claims.
func (c *Client) userinfo(ctx context.Context, accessToken, subject string, idClaims map[string]json.RawMessage) error {
	if accessToken == "" {
		return errors.New("the token response has no access token")
	}
	info, err := c.fetchUserinfo(ctx, accessToken)
	if err != nil {
		return err
	}
	// OIDC Core section 5.3.2: the sub must be exactly the ID token's, or
	// the claims may be someone else's (a mixed-up or substituted response).
	var sub string
	if v, ok := info["sub"]; !ok || json.Unmarshal(v, &sub) != nil || sub == "" {
		return errors.New("the response has no sub")
	}
	if sub != subject {
		// Neither subject is quoted: they identify people.
		return errors.New("the response's sub is not the ID token's")
	}
	for name, v := range info {
		if !slices.Contains(idTokenOnly, name) {
			idClaims[name] = v
		}
	}
	return nil
}

func (c *Client) fetchUserinfo(ctx context.Context, accessToken string) (map[string]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.userinfoURL, nil)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/jwt, application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The body is not quoted: an error page may echo what we sent.
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	if len(body) > maxUserinfoBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxUserinfoBytes)
	}
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", resp.Header.Get("Content-Type"), err)
	}
	var payload []byte
	switch mediaType {
	case "application/json":
		if c.keys.HasEncryptionKey() {
			// The client registered for encrypted responses: plain JSON
			// means the provider is not configured as agreed, and the
			// attributes travelled less protected than promised.
			return nil, errors.New("the response is plain JSON, but it must come encrypted")
		}
		payload = body
	case "application/jwt":
		if payload, err = c.openUserinfoJWT(ctx, strings.TrimSpace(string(body))); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unexpected content type %q", mediaType)
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(payload, &info); err != nil || info == nil {
		return nil, errors.New("the claims are not a JSON object")
	}
	return info, nil
}

// openUserinfoJWT decrypts a userinfo JWT by the ID token's rules and verifies
// its signature with the provider's keys, returning the claims it carries.
// A JWT response must be signed: one that is merely encrypted could have been
// made by anyone holding our public key, and "none" is never acceptable.
func (c *Client) openUserinfoJWT(ctx context.Context, raw string) ([]byte, error) {
	inner, err := c.keys.decryptJWT(raw, "userinfo response")
	if err != nil {
		return nil, err
	}
	if strings.Count(inner, ".") != 2 {
		return nil, errors.New("the userinfo response is not signed")
	}
	// Parsing with our algorithms refuses "none" and HMAC before any key is
	// looked at; the key set itself accepts whatever a key supports.
	if _, err := jose.ParseSignedCompact(inner, c.sigAlgs); err != nil {
		return nil, fmt.Errorf("the userinfo response is not signed with an accepted algorithm: %w", err)
	}
	payload, err := c.keySet.VerifySignature(ctx, inner)
	if err != nil {
		return nil, fmt.Errorf("the userinfo response is not signed by the provider: %w", err)
	}
	var envelope struct {
		Issuer   *string         `json:"iss"`
		Audience json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &envelope); err != nil {
		return nil, errors.New("the claims are not a JSON object")
	}
	// iss and aud are optional in signed userinfo (OIDC Core section
	// 5.3.2), but when present they must name this provider and this client,
	// or the response was made for someone else.
	if envelope.Issuer != nil && *envelope.Issuer != c.issuer {
		return nil, errors.New("the userinfo response's iss is not the provider")
	}
	if len(envelope.Audience) > 0 && string(envelope.Audience) != "null" {
		var one string
		var many []string
		switch {
		case json.Unmarshal(envelope.Audience, &one) == nil:
			many = []string{one}
		case json.Unmarshal(envelope.Audience, &many) == nil:
		default:
			return nil, errors.New("the userinfo response's aud is malformed")
		}
		if !slices.Contains(many, c.oauth.ClientID) {
			return nil, errors.New("the userinfo response's aud is not this client")
		}
	}
	return payload, nil
}
