package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"kirjaamo.dev/services/auth/oidclogin"
)

// SiteConfig is what each site needs to listen and to sign people in through OpenID Connect. Its
// variables take the site's prefix: KIRJAAMO_PORTAL_ or KIRJAAMO_OFFICE_.
type SiteConfig struct {
	Addr string `env:"ADDR" doc:"where the site listens, host:port"`
	// PublicURL is where people reach the site, e.g. https://kirjaamo.example.fi.
	PublicURL    string `env:"URL" required:"" doc:"where people reach the site, e.g. https://kirjaamo.example.fi; sign-in returns there"`
	OIDCIssuer   string `env:"OIDC_ISSUER" required:"" doc:"the OpenID provider's issuer URL"`
	ClientID     string `env:"OIDC_CLIENT_ID" doc:"the site's client id at the provider"`
	ClientSecret string `env:"OIDC_CLIENT_SECRET" doc:"the client secret; or else a client key (_OIDC_CLIENT_KEY_FILE), not both"`
	// ClientKeyFile and EncryptionKeyFile hold the site's own PEM private keys, as Suomi.fi
	// e-Identification needs: the first signs the private_key_jwt client assertion, the second
	// decrypts ID tokens. Several keys to a file rotate them; Keys is what was loaded.
	ClientKeyFile     string `env:"OIDC_CLIENT_KEY_FILE" doc:"for Suomi.fi e-Identification: PEM private keys (PKCS#8, PKCS#1 or SEC 1; several to a file to rotate, the first active) that sign the private_key_jwt assertion (RSA ≥ 2048 → RS256, P-256 → ES256) instead of a secret; public halves at /.well-known/jwks.json"`
	EncryptionKeyFile string `env:"OIDC_ENCRYPTION_KEY_FILE" doc:"PEM private keys (RSA, RSA-OAEP-256) ID tokens must come encrypted to; public halves at /.well-known/jwks.json"`
	Keys              *oidclogin.ClientKeys
	// IdentityCodeClaim names the claim with the personal identity code, "urn:oid:1.2.246.21" at
	// Suomi.fi; empty means oidclogin's default.
	IdentityCodeClaim string `env:"OIDC_IDENTITY_CODE_CLAIM" doc:"the claim with the personal identity code: personal_identity_code by default, urn:oid:1.2.246.21 at Suomi.fi"`
	// Userinfo says when sign-in also asks the provider's userinfo endpoint, where Suomi.fi
	// sends the identity code: "missing" (the default) when a needed claim is not in the ID
	// token, "always", or "never".
	Userinfo oidclogin.UserinfoPolicy `env:"OIDC_USERINFO" default:"missing" doc:"when sign-in also asks the userinfo endpoint, where Suomi.fi sends the identity code: missing (a needed claim is not in the ID token), always, or never. The answer must be about the ID token's sub; a JWT encrypted like the ID token and signed by the provider when the site has an encryption key"`
}

// Check refuses a sign-in the site could not do, and loads the site's own keys.
func (c *SiteConfig) Check() error {
	var errs []error
	switch {
	case c.ClientSecret == "" && c.ClientKeyFile == "":
		errs = append(errs, errors.New("_OIDC_CLIENT_SECRET or _OIDC_CLIENT_KEY_FILE is required"))
	case c.ClientSecret != "" && c.ClientKeyFile != "":
		errs = append(errs, errors.New("set _OIDC_CLIENT_SECRET or _OIDC_CLIENT_KEY_FILE, not both"))
	}
	if c.ClientKeyFile != "" || c.EncryptionKeyFile != "" {
		keys, err := oidclogin.LoadClientKeys(c.ClientKeyFile, c.EncryptionKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("_OIDC_CLIENT_KEY_FILE, _OIDC_ENCRYPTION_KEY_FILE: %w", err))
		}
		c.Keys = keys
	}
	if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, errors.New("_URL must be an absolute http(s) URL"))
	}
	return errors.Join(errs...)
}

// OIDC is the site's relying-party configuration, with the callback of this site.
func (c SiteConfig) OIDC(scopes ...string) oidclogin.Config {
	return oidclogin.Config{IssuerURL: c.OIDCIssuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Keys: c.Keys,
		RedirectURL: c.PublicURL + CallbackPath, Scopes: scopes, IdentityCodeClaim: c.IdentityCodeClaim, Userinfo: c.Userinfo}
}

// JWKSPath is where a site with its own keys publishes their public halves for the provider.
const JWKSPath = "/.well-known/jwks.json"

// MountJWKS serves the site's public keys at JWKSPath, if it has keys; without, the path is
// not found, rather than an empty set that a provider might cache.
func (c SiteConfig) MountJWKS(mux interface{ Handle(string, http.Handler) }) {
	if c.Keys != nil {
		mux.Handle("GET "+JWKSPath, c.Keys)
	}
}

// Secure reports whether the site is served over HTTPS, so that its cookie is marked Secure.
func (c SiteConfig) Secure() bool { return strings.HasPrefix(c.PublicURL, "https://") }

// TokenVerifier checks an ID token sent with an API call (*oidclogin.Client).
type TokenVerifier interface {
	VerifyIDToken(ctx context.Context, raw string) (oidclogin.Identity, error)
}

// CallbackPath is where the identity provider sends the browser back, on both sites.
const CallbackPath = "/auth/callback"

// Login is a site's sign-in through OpenID Connect, with the flow kept in the server-side session.
type Login struct {
	Client   *oidclogin.Client
	Sessions *Sessions
	// PublicURL is where people reach the site: sign-in returns only to it.
	PublicURL string
	// Admit decides whether a verified identity may use the site: "" admits, anything else is the
	// reason it is refused ("refused", "assurance"), which Fail is given with a 403.
	Admit func(oidclogin.Identity) string
	// Fail renders a failure page with a status and a reason ("unavailable", "failed", or one of
	// Admit's).
	Fail func(w http.ResponseWriter, r *http.Request, status int, reason string)
	// SignedIn, Refused and SignedOut, if set, are told of each sign-in, each sign-in refused (id
	// nil if nobody was identified) and each sign-out, e.g. for the record.
	SignedIn  func(r *http.Request, id *oidclogin.Identity)
	Refused   func(r *http.Request, id *oidclogin.Identity, reason string)
	SignedOut func(r *http.Request, id *oidclogin.Identity)
}

// Begin starts a sign-in and sends the browser to the identity provider. The browser comes back to
// return_to, if it is an address of this site (SameOrigin), or else to fallback.
func (l *Login) Begin(w http.ResponseWriter, r *http.Request, fallback string) {
	sess, err := l.Sessions.Load(r)
	if err != nil {
		l.Fail(w, r, http.StatusServiceUnavailable, "unavailable")
		return
	}
	flow, authURL := l.Client.Begin()
	sess.Flow, sess.ReturnTo = &flow, fallback
	if rt, ok := SameOrigin(l.PublicURL, r.URL.Query().Get("return_to")); ok {
		sess.ReturnTo = rt
	}
	if err := l.Sessions.Save(r.Context(), w, sess); err != nil {
		l.Fail(w, r, http.StatusServiceUnavailable, "unavailable")
		return
	}
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// SameOrigin resolves return_to as a browser would resolve a link on the site at publicURL, and
// returns the path and query to send the browser to if it stays on that origin. A browser strips
// tabs and line breaks from a URL, takes a backslash for a slash, and resolves dot segments, so
// /\evil.example, /<tab>/evil.example and /./\evil.example all lead elsewhere: each is normalized
// that way first, then resolved, then compared by scheme, host and port. What is given back is a
// path that starts with one slash and holds no backslash, control character or dot segment, even
// encoded, so that no browser can read it as another host; anything else is refused.
func SameOrigin(publicURL, returnTo string) (string, bool) {
	base, err := url.Parse(publicURL)
	if err != nil || returnTo == "" {
		return "", false
	}
	s := strings.TrimFunc(returnTo, func(r rune) bool { return r <= ' ' })
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, s)
	ref, err := url.Parse(s)
	if err != nil || s == "" {
		return "", false
	}
	u := base.ResolveReference(ref)
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) || u.User != nil {
		return "", false
	}
	path := u.EscapedPath()
	decoded, err := url.PathUnescape(path)
	if err != nil || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(decoded, "//") ||
		strings.ContainsAny(decoded, "\\") || strings.ContainsFunc(decoded, func(r rune) bool { return r < ' ' || r == 0x7f }) ||
		strings.Contains(decoded+"/", "/./") || strings.Contains(decoded+"/", "/../") {
		return "", false
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return path, true
}

// Callback finishes a sign-in: it verifies the identity provider's answer, admits the person or
// not, and gives the session a new id, so that an id seen before sign-in is worthless after it.
func (l *Login) Callback(w http.ResponseWriter, r *http.Request) {
	sess, err := l.Sessions.Load(r)
	if err != nil {
		l.Fail(w, r, http.StatusServiceUnavailable, "unavailable")
		return
	}
	if sess.Flow == nil {
		l.Fail(w, r, http.StatusBadRequest, "failed")
		return
	}
	flow := *sess.Flow
	sess.Flow = nil
	id, err := l.Client.Finish(r.Context(), flow, r.URL.Query())
	if err != nil {
		_ = l.Sessions.Save(r.Context(), w, sess)
		if l.Refused != nil {
			l.Refused(r, nil, "failed")
		}
		l.Fail(w, r, http.StatusBadRequest, "failed")
		return
	}
	if reason := l.Admit(id); reason != "" {
		_ = l.Sessions.Save(r.Context(), w, sess)
		if l.Refused != nil {
			l.Refused(r, &id, reason)
		}
		l.Fail(w, r, http.StatusForbidden, reason)
		return
	}
	returnTo := sess.ReturnTo
	l.Sessions.Renew(r.Context(), sess)
	sess.Identity, sess.ReturnTo = &id, ""
	if err := l.Sessions.Save(r.Context(), w, sess); err != nil {
		l.Fail(w, r, http.StatusServiceUnavailable, "unavailable")
		return
	}
	if l.SignedIn != nil {
		l.SignedIn(r, &id)
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// SignOut ends the session of a posted sign-out form, then sends the browser to the identity
// provider to end the session there too, if it offers that (RP-initiated logout), coming back to
// the site's root; or else straight to next.
func (l *Login) SignOut(w http.ResponseWriter, r *http.Request, next string) {
	sess, err := l.Sessions.Load(r)
	if err != nil || !ParseForm(w, r, sess) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	id := sess.Identity
	_ = l.Sessions.Destroy(r.Context(), w, sess)
	if id == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if l.SignedOut != nil {
		l.SignedOut(r, id)
	}
	if u, ok := l.Client.LogoutURL(*id, PostLogoutURL(l.PublicURL)); ok {
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// PostLogoutURL is where the identity provider sends the browser back after a sign-out: the site's
// root, which each site registers with its provider.
func PostLogoutURL(publicURL string) string { return strings.TrimSuffix(publicURL, "/") + "/" }

// Bearer authenticates an API call by the ID token it sends as Authorization: Bearer, answering
// 401 itself when there is none or it does not verify.
func Bearer(w http.ResponseWriter, r *http.Request, client TokenVerifier) (*oidclogin.Identity, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		WriteProblem(w, http.StatusUnauthorized, "Unauthorized", "send an ID token as Authorization: Bearer", nil)
		return nil, false
	}
	id, err := client.VerifyIDToken(r.Context(), raw)
	if err != nil {
		WriteProblem(w, http.StatusUnauthorized, "Unauthorized", "the ID token is not valid", nil)
		return nil, false
	}
	return &id, true
}
