package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"kirjaamo.dev/services/auth/devidp/devidptest"
	"kirjaamo.dev/services/portal"
)

// IDToken signs a dev identity provider person in to the portal's client through the real
// authorization-code flow with PKCE, and returns the ID token, for calling the portal's JSON API.
func (s *Stack) IDToken(ctx context.Context, subject string) (string, error) {
	cfg := oauth2.Config{ClientID: "kirjaamo-portal", ClientSecret: s.PortalClientSecret, RedirectURL: s.PortalURL + portal.CallbackPath,
		Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{AuthURL: s.IDPURL + "/authorize", TokenURL: s.IDPURL + "/token"}}
	verifier := oauth2.GenerateVerifier()
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	authURL := cfg.AuthCodeURL(randomSecret(), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", base64.RawURLEncoding.EncodeToString(nonce)))
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back, err := devidptest.ChoosePerson(ctx, noFollow, authURL, subject)
	if err != nil {
		return "", err
	}
	tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("devstack: the token response has no ID token")
	}
	return raw, nil
}
