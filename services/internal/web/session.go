// Package web holds what the portal and the office share: server-side sessions behind one cookie,
// CSRF tokens, security headers, JSON problem responses and the log line per request.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/store"
)

// Session is what a site remembers about a browser between requests.
type Session struct {
	id string
	// Flow is the sign-in under way, if any.
	Flow *oidclogin.Flow `json:"flow,omitempty"`
	// Identity is the signed-in person.
	Identity *oidclogin.Identity `json:"identity,omitempty"`
	// CSRF is the token every form of the session carries.
	CSRF string `json:"csrf"`
	// ReturnTo is where to go after sign-in.
	ReturnTo string `json:"return_to,omitempty"`
	// Views are the office's grants to view a case, each with its stated purpose.
	Views map[string]ViewGrant `json:"views,omitempty"`
	// Notice is a one-time message to show on the next page.
	Notice string `json:"notice,omitempty"`
	// Submitted are the requests this session sent lately, newest last: the portal may say of these,
	// and only these, that they are being registered before their case is stored.
	Submitted []string `json:"submitted,omitempty"`
	// Draft is the portal's request form in progress, step by step, until it is sent.
	Draft json.RawMessage `json:"draft,omitempty"`
}

// Tag names the session in the record without disclosing its id: whoever reads the record cannot
// take the session over with it.
func (s *Session) Tag() string {
	sum := sha256.Sum256([]byte("kirjaamo session tag\x00" + s.id))
	return hex.EncodeToString(sum[:8])
}

// ViewGrant lets a staff member view a case for a stated purpose, for a while.
type ViewGrant struct {
	Purpose string    `json:"purpose"`
	Until   time.Time `json:"until"`
}

// SessionStore keeps sessions' data by id (sessions.Store, in PostgreSQL).
type SessionStore interface {
	Load(ctx context.Context, site, id string, v any) error
	Save(ctx context.Context, site, id string, v any, expires time.Time) error
	Delete(ctx context.Context, id string) error
}

// CookieName is a site's session cookie's name: over HTTPS with the __Host- prefix, which a browser
// accepts only from a secure origin, for the whole site and no other host (Secure, Path=/, no
// Domain), so that no subdomain and no plain-HTTP page can set or overwrite it.
func CookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// Sessions stores sessions server-side behind a cookie that holds only a random id: the one cookie
// the sites set, and a strictly necessary one.
type Sessions struct {
	Store  SessionStore
	Site   string
	Cookie string
	Secure bool
	TTL    time.Duration
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Load returns the browser's session, or a new empty one (not yet stored).
func (s *Sessions) Load(r *http.Request) (*Session, error) {
	if c, err := r.Cookie(s.Cookie); err == nil && c.Value != "" {
		var sess Session
		err := s.Store.Load(r.Context(), s.Site, c.Value, &sess)
		if err == nil {
			sess.id = c.Value
			return &sess, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return &Session{CSRF: randomToken()}, nil
}

// Save stores the session and sets its cookie.
func (s *Sessions) Save(ctx context.Context, w http.ResponseWriter, sess *Session) error {
	if sess.id == "" {
		sess.id = randomToken()
	}
	if err := s.Store.Save(ctx, s.Site, sess.id, sess, time.Now().Add(s.TTL)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: s.Cookie, Value: sess.id, Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.TTL.Seconds())})
	return nil
}

// Renew gives the session a new id, as at sign-in, so that an id seen before sign-in is worthless.
func (s *Sessions) Renew(ctx context.Context, sess *Session) {
	if sess.id != "" {
		_ = s.Store.Delete(ctx, sess.id)
	}
	sess.id = ""
	sess.CSRF = randomToken()
}

// Destroy ends the session and clears its cookie.
func (s *Sessions) Destroy(ctx context.Context, w http.ResponseWriter, sess *Session) error {
	if sess.id != "" {
		if err := s.Store.Delete(ctx, sess.id); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.Cookie, Value: "", Path: "/", HttpOnly: true, Secure: s.Secure, MaxAge: -1})
	return nil
}

// CheckCSRF reports whether a form carries the session's token.
func CheckCSRF(r *http.Request, sess *Session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}
