package portal

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"slices"
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
	"date": func(t time.Time) string { return t.Format("2.1.2006") },
	"in":   func(t contracts.Text, l contracts.Language) string { return t.In(l) },
}

// view is what every page template gets.
type view struct {
	texts.Catalog
	Lang     contracts.Language
	Langs    []contracts.Language
	Path     string // the page's path without its language, for the language links
	Identity *oidclogin.Identity
	CSRF     string
	Notice   string
	Data     any
}

func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, page string, sess *web.Session, data any) {
	lang := langOf(r)
	v := view{Catalog: texts.In(lang), Lang: lang, Langs: contracts.Languages, Data: data,
		Path: strings.TrimPrefix(r.URL.Path, "/"+string(lang))}
	if sess != nil {
		v.Identity, v.CSRF, v.Notice = sess.Identity, sess.CSRF, sess.Notice
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.pages[page].Execute(w, v); err != nil {
		p.deps.Log.Error("render failed", "page", page, "error", err)
	}
}

// fail answers the browser with a page that says one thing: the text of a key of the catalogue.
func (p *portal) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	p.render(w, r, status, "message", nil, texts.In(langOf(r)).T(key))
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
	p.render(w, r, http.StatusOK, "home", sess, nil)
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
	p.render(w, r, http.StatusOK, "requests", sess, list)
}

// form is the request form with what the citizen typed and what was wrong with it.
type form struct {
	Key      string
	Right    string
	Phone    string
	Email    string
	Details  string
	Field    string
	NewValue string
	Rights   []contracts.Right
	Errors   map[string]string
}

func (p *portal) newRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "new", sess, form{Key: uuid.NewString(), Right: string(contracts.RightAccess),
		Email: sess.Identity.Email, Rights: contracts.Rights})
}

func (p *portal) submitRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	f := form{Key: r.PostFormValue("idempotency_key"), Right: r.PostFormValue("right"), Phone: r.PostFormValue("phone"),
		Email: r.PostFormValue("contact_email"), Details: r.PostFormValue("details"), Field: r.PostFormValue("rectify_field"),
		NewValue: r.PostFormValue("rectify_value"), Rights: contracts.Rights}
	req := contracts.SubmitRequest{IdempotencyKey: f.Key, Right: contracts.Right(f.Right), Phone: f.Phone,
		ContactEmail: f.Email, Language: string(langOf(r)), Details: f.Details}
	if f.Field != "" || f.NewValue != "" {
		req.Rectification = []contracts.Correction{{Field: f.Field, NewValue: f.NewValue}}
	}
	id, _, err := p.submit(r, sess.Identity, req, request.ChannelWeb)
	if p.refusedByLimit(w, r, err) {
		return
	}
	if ve, ok := contracts.AsValidationError(err); ok {
		f.Errors = map[string]string{}
		for _, fe := range ve.Fields {
			f.Errors[formField(fe.Field)] = fieldMessage(langOf(r), fe)
		}
		p.render(w, r, http.StatusUnprocessableEntity, "new", sess, f)
		return
	}
	if err != nil {
		p.deps.Log.Error("submit request", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	rememberSubmitted(sess, id)
	notice := sess.Notice
	if req.Phone != "" {
		notice = texts.In(langOf(r)).T("portal.code_sent")
	}
	p.flash(w, r, sess, notice) // saves the session, with the request it now remembers
	http.Redirect(w, r, "/"+string(langOf(r))+"/requests/"+id, http.StatusSeeOther)
}

// fieldMessage is what a page says of a field that failed validation, in the page's language: the
// text of its rule ("portal.invalid.<rule>"), or, for a message the portal wrote itself (no rule),
// that message.
func fieldMessage(lang contracts.Language, fe contracts.FieldError) string {
	if fe.Rule == "" {
		return fe.Message
	}
	rule := fe.Rule
	if !slices.Contains(texts.Families["portal.invalid"], rule) {
		rule = "other"
	}
	if rule == "max" {
		return texts.In(lang).T("portal.invalid.max", fe.Param)
	}
	return texts.In(lang).Of("portal.invalid", rule)
}

// formField maps a contract's field path to the form field that shows its error.
func formField(path string) string {
	switch {
	case strings.HasPrefix(path, "rectification"):
		return "rectification"
	case path == "contact_email", path == "phone", path == "right", path == "details":
		return path
	}
	return "form"
}

// submit validates a request and starts its workflow. The request id is derived from the subject
// and the idempotency key, so a resubmission lands on the same workflow and one subject can never
// reach another's request by reusing a key.
//
// A phone number given with the request is handled exactly as one supplied later: the workflow
// starts without it, and a one-time code goes to it (verify.go); the number is used once the code
// comes back. The challenge it returns is nil without a phone number. A resubmission sends a new
// code, which replaces the first.
func (p *portal) submit(r *http.Request, id *oidclogin.Identity, req contracts.SubmitRequest, channel request.Channel) (string, *challenges.Challenge, error) {
	req.Normalize()
	if err := req.Validate(); err != nil {
		return "", nil, err
	}
	requestID := uuid.NewString()
	if req.IdempotencyKey != "" {
		requestID = uuid.NewSHA1(idempotencyNamespace, []byte(id.Subject+"\x00"+req.IdempotencyKey)).String()
	}
	if err := p.submissionLimits(r, id, requestID); err != nil {
		return "", nil, err
	}
	phone := req.Phone
	req.Phone = ""
	in := request.Input{RequestID: requestID, ReceivedAt: time.Now().UTC(), Channel: channel, Request: req,
		Subject: SubjectOf(id)}
	if err := p.deps.Requests.Start(r.Context(), in); err != nil {
		if refused, ok := request.AsRefused(err); ok && len(refused.Fields) > 0 {
			return "", nil, &contracts.ValidationError{Fields: refused.Fields}
		}
		return "", nil, err
	}
	if phone == "" {
		return requestID, nil, nil
	}
	c, err := p.challenge(r.Context(), requestID, id.Subject, contracts.Identifier{Type: contracts.IdentifierPhone, Value: phone}, channel, req.Language)
	if errors.Is(err, challenges.ErrTooManyCodes) {
		// The same submission repeated (same idempotency key) past the day's codes: the request
		// stands, and the code already sent still works.
		return requestID, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return requestID, &c, nil
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
