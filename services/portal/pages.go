package portal

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

//go:embed templates/*.html
var templates embed.FS

var funcs = template.FuncMap{
	"in":    func(t contracts.Text, l contracts.Language) string { return t.In(l) },
	"short": shortRef,
	"join":  strings.Join,
}

// shortRef is a request's reference as people read and say it: the first eight characters of its
// id, in capitals.
func shortRef(id string) string { return strings.ToUpper(id[:min(8, len(id))]) }

// view is what every page template gets.
type view struct {
	texts.Catalog
	Lang     contracts.Language
	Langs    []contracts.Language
	Path     string // the page's path without its language, for the language links
	Identity *oidclogin.Identity
	CSRF     string
	// Notice is the one-time message the page shows, in the page's language.
	Notice string
	// Errors are what was wrong with a form, in the order of its fields: the error summary at the
	// top of the page links to each field, and the page's title begins with "Error:".
	Errors  []formError
	Contact string // the registry office's e-mail address
	Data    any
}

// formError is one field's problem: Field is the form field's name, Input the id of the element
// the error summary links to, Message the text in the page's language.
type formError struct {
	Field, Input, Message string
}

// Err is the message of a field's error, "" if it has none.
func (v view) Err(field string) string {
	for _, e := range v.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// Describe is a field's aria-describedby: its hint, if it has one, and its error, if any.
func (v view) Describe(field, hint string) string {
	ids := []string{}
	if hint != "" {
		ids = append(ids, hint)
	}
	if v.Err(field) != "" {
		ids = append(ids, "error-"+field)
	}
	return strings.Join(ids, " ")
}

func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, page string, sess *web.Session, data any, errs ...formError) {
	lang := langOf(r)
	t := texts.In(lang)
	v := view{Catalog: t, Lang: lang, Langs: contracts.Languages, Data: data, Errors: errs, Contact: p.cfg.ContactEmail,
		Path: strings.TrimPrefix(r.URL.Path, "/"+string(lang))}
	if sess != nil {
		v.Identity, v.CSRF = sess.Identity, sess.CSRF
		if strings.HasPrefix(sess.Notice, "portal.") {
			v.Notice = t.T(sess.Notice)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.pages[page].Execute(w, v); err != nil {
		p.deps.Log.Error("render failed", "page", page, "error", err)
	}
}

// errorPage is the error page's data: a heading and what to do, by key of the catalogue.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// fail answers the browser with the error page, in the page's language, saying the text of key.
func (p *portal) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	p.failSaying(w, r, status, texts.In(langOf(r)).T(key))
}

// failSaying answers the browser with the error page, saying message (already in the page's language).
func (p *portal) failSaying(w http.ResponseWriter, r *http.Request, status int, message string) {
	t := texts.In(langOf(r))
	heading := t.T("portal.error_heading")
	switch status {
	case http.StatusNotFound:
		heading = t.T("portal.not_found_heading")
	case http.StatusServiceUnavailable, http.StatusInternalServerError:
		heading = t.T("portal.unavailable_heading")
	}
	sess, _ := p.sessions.Load(r)
	p.render(w, r, status, "error", sess, errorPage{Status: status, Heading: heading, Message: message})
}

// notFound is the page for an address the portal does not have, in the language its path names.
func (p *portal) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such endpoint", nil)
		return
	}
	p.fail(w, r, http.StatusNotFound, "portal.page_not_found")
}

// recovered answers a handler's panic with the error page, unless the response is a download
// already under way, which must end cut short (http.ErrAbortHandler) rather than look complete.
func (p *portal) recovered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			p.deps.Log.Error("handler panicked", "method", r.Method, "route", r.Pattern)
			p.fail(w, r, http.StatusInternalServerError, "portal.try_again")
		}()
		next.ServeHTTP(w, r)
	})
}

// langOf reads the language from the path's first segment; anything else falls back to Finnish.
func langOf(r *http.Request) contracts.Language {
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	l, _ := contracts.ParseLanguage(first)
	return l
}

func (p *portal) root(w http.ResponseWriter, r *http.Request) {
	lang := contracts.Finnish
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if l, ok := contracts.ParseLanguage(strings.ToLower(strings.SplitN(tag, "-", 2)[0])); ok {
			lang = l
			break
		}
	}
	http.Redirect(w, r, "/"+string(lang)+"/", http.StatusSeeOther)
}

func (p *portal) home(w http.ResponseWriter, r *http.Request) {
	sess, _ := p.sessions.Load(r)
	p.render(w, r, http.StatusOK, "home", sess, contracts.Rights)
}

// info serves a page that is the same for everyone: the accessibility statement, help and contact,
// and the privacy notice.
func (p *portal) info(page string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := p.sessions.Load(r)
		p.render(w, r, http.StatusOK, page, sess, nil)
	}
}

// signedIn returns the session of a signed-in citizen, or sends the browser to sign in.
func (p *portal) signedIn(w http.ResponseWriter, r *http.Request) (*web.Session, bool) {
	sess, err := p.sessions.Load(r)
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return nil, false
	}
	if sess.Identity == nil {
		http.Redirect(w, r, "/"+string(langOf(r))+"/login?return_to="+r.URL.Path, http.StatusSeeOther)
		return nil, false
	}
	return sess, true
}

// signedInForm admits a posted form of the signed-in subject, answering the browser itself
// otherwise: a form without its CSRF token is refused.
func (p *portal) signedInForm(w http.ResponseWriter, r *http.Request) (*web.Session, bool) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return nil, false
	}
	if !web.ParseForm(w, r, sess) {
		p.fail(w, r, http.StatusBadRequest, "portal.bad_request")
		return nil, false
	}
	if !p.withinLimit(w, r, sess.Identity) {
		return nil, false
	}
	return sess, true
}

func (p *portal) listRequests(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	list, err := p.deps.Cases.List(r.Context(), ownCases(sess.Identity))
	if err != nil {
		p.deps.Log.Error("list requests", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	p.render(w, r, http.StatusOK, "requests", p.takeNotice(w, r, sess), list)
}

// submit validates a request and starts its workflow. The request id is derived from the subject
// and the idempotency key, so a resubmission lands on the same workflow and one subject can never
// reach another's request by reusing a key.
//
// A phone number given with the request is handled exactly as one supplied later: the workflow
// starts without it, and a one-time code goes to it (verify.go); the number is used once the code
// comes back. The challenge it returns is nil without a phone number, and so is it when the day's
// codes are spent (codesSpent true): the request stands all the same. A resubmission sends a new
// code, which replaces the first.
func (p *portal) submit(r *http.Request, id *oidclogin.Identity, req contracts.SubmitRequest, channel request.Channel) (requestID string, c *challenges.Challenge, codesSpent bool, err error) {
	if err := p.validate(r.Context(), &req); err != nil {
		return "", nil, false, err
	}
	requestID = requestIDOf(id, req.IdempotencyKey)
	if err := p.submissionLimits(r, id, requestID); err != nil {
		return "", nil, false, err
	}
	phone := req.Phone
	req.Phone = ""
	in := request.Input{RequestID: requestID, ReceivedAt: time.Now().UTC(), Channel: channel, Request: req,
		Subject: SubjectOf(id)}
	if err := p.deps.Requests.Start(r.Context(), in); err != nil {
		if refused, ok := request.AsRefused(err); ok && len(refused.Fields) > 0 {
			return "", nil, false, &contracts.ValidationError{Fields: refused.Fields}
		}
		return "", nil, false, err
	}
	if phone == "" {
		return requestID, nil, false, nil
	}
	ch, err := p.challenge(r.Context(), requestID, id.Subject, contracts.Identifier{Type: contracts.IdentifierPhone, Value: phone}, channel, req.Language)
	if errors.Is(err, challenges.ErrTooManyCodes) {
		return requestID, nil, true, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	return requestID, &ch, false, nil
}

// validate normalizes a request and checks it, field by field: the contract's rules, and the
// corrections against the registers' correctable fields.
func (p *portal) validate(ctx context.Context, req *contracts.SubmitRequest) error {
	req.Normalize()
	if err := req.Validate(); err != nil {
		return err
	}
	if ve := p.checkCorrections(ctx, req.Rectification); ve != nil {
		return ve
	}
	return nil
}

// requestIDOf is the request id of a subject's idempotency key; without a key, a new one.
func requestIDOf(id *oidclogin.Identity, key string) string {
	if key == "" {
		return uuid.NewString()
	}
	return uuid.NewSHA1(idempotencyNamespace, []byte(id.Subject+"\x00"+key)).String()
}

var idempotencyNamespace = uuid.MustParse("6f1c0f0e-3c0a-4f3e-9a4b-6b1d2f6a9c10")

// SubjectOf is the data subject as the identity provider verified them.
func SubjectOf(id *oidclogin.Identity) request.Subject {
	s := request.Subject{ID: id.Subject, Name: id.Name, IdentityMethod: "oidc", IdentityLevel: identityLevel(id.ACR),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: id.PersonalIdentityCode}}}
	if id.ACR != "" {
		s.IdentityMethod = "oidc " + id.ACR
	}
	if id.Email != "" {
		s.Identifiers = append(s.Identifiers, contracts.Identifier{Type: contracts.IdentifierEmail, Value: contracts.Normalize(contracts.IdentifierEmail, id.Email)})
	}
	return s
}
