package office

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

//go:embed templates/*.html
var templates embed.FS

var funcs = template.FuncMap{
	"date": func(t time.Time) string { return t.Format("Mon 2.1.2006") },
	"datetime": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.In(helsinki).Format("2.1.2006 15:04")
		case *time.Time:
			if t != nil {
				return t.In(helsinki).Format("2.1.2006 15:04")
			}
		}
		return ""
	},
	"daysLeft": func(deadline time.Time) int {
		return int(time.Until(deadline.Add(24*time.Hour)).Hours() / 24)
	},
}

var helsinki = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		return l
	}
	return time.UTC
}()

// Staff roles, as the identity provider asserts them.
const (
	RoleClerk   = "clerk"
	RoleDPO     = "dpo"
	RoleAuditor = "auditor"
)

// Roles are the office's roles.
var Roles = []string{RoleClerk, RoleDPO, RoleAuditor}

// view is what every office page template gets.
type view struct {
	Identity *oidclogin.Identity
	CSRF     string
	Notice   string
	Mailbox  bool
	Data     any
}

func (o *office) render(w http.ResponseWriter, status int, page string, sess *web.Session, data any) {
	v := view{Data: data, Mailbox: o.deps.Mailbox != nil}
	if sess != nil {
		v.Identity, v.CSRF, v.Notice = sess.Identity, sess.CSRF, sess.Notice
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := o.pages[page].Execute(w, v); err != nil {
		o.deps.Log.Error("render failed", "page", page, "error", err)
	}
}

func (o *office) fail(w http.ResponseWriter, status int, msg string) {
	o.render(w, status, "message", nil, msg)
}

// staff returns the session of a signed-in staff member, or sends the browser to sign in.
func (o *office) staff(w http.ResponseWriter, r *http.Request) (*web.Session, bool) {
	sess, err := o.sessions.Load(r)
	if err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The office is not available right now. Try again in a moment.")
		return nil, false
	}
	if sess.Identity == nil {
		http.Redirect(w, r, "/login?return_to="+r.URL.Path, http.StatusSeeOther)
		return nil, false
	}
	return sess, true
}

// staffForm admits a posted form of a signed-in staff member with a role, answering the browser
// itself otherwise: a form without its CSRF token is refused, and so is one without the role.
func (o *office) staffForm(w http.ResponseWriter, r *http.Request, role, refusal string) (*web.Session, bool) {
	sess, ok := o.staff(w, r)
	if !ok {
		return nil, false
	}
	if !web.ParseForm(w, r, sess) {
		o.fail(w, http.StatusBadRequest, "The form expired. Open the page again.")
		return nil, false
	}
	if !hasRole(sess.Identity, role) {
		o.fail(w, http.StatusForbidden, refusal)
		return nil, false
	}
	return sess, o.withinLimit(w, r, sess.Identity)
}

// staffName is how the record names a staff member: their name and their subject identifier.
func staffName(id *oidclogin.Identity) string { return id.Name + " <" + id.Subject + ">" }

func hasRole(id *oidclogin.Identity, role string) bool { return slices.Contains(id.Roles, role) }

// hasAnyRole reports whether a person is registry office staff at all.
func hasAnyRole(id *oidclogin.Identity) bool {
	return hasRole(id, RoleClerk) || hasRole(id, RoleDPO) || hasRole(id, RoleAuditor)
}

// caseList is the case list page's data: the cases, and for the DPO how many need attention.
type caseList struct {
	Cases          []cases.Case
	NeedsAttention int
	// Attention: the list shows only the cases that need attention.
	Attention bool
}

func (o *office) listCases(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := cases.Filter{Status: request.Status(q.Get("status")), NeedsAttention: q.Get("attention") != ""}
	if f.Status != "" && !f.Status.Valid() {
		o.fail(w, http.StatusBadRequest, "status: "+contracts.MustBeOneOf(request.Statuses))
		return
	}
	list, err := o.deps.Cases.List(r.Context(), f)
	if err == nil {
		err = o.recordList(r, sess.Identity, sessionTag(sess), f, list)
	}
	v := caseList{Cases: list, Attention: f.NeedsAttention}
	if err == nil && hasRole(sess.Identity, RoleDPO) {
		v.NeedsAttention, err = o.deps.Cases.NeedingAttention(r.Context())
	}
	if err != nil {
		o.deps.Log.Error("list cases", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The case list is not available right now.")
		return
	}
	o.render(w, http.StatusOK, "cases", sess, v)
}

// recordList writes to the record what a staff member listed: the filter and the cases' ids, not
// what the list shows of them. A list shown again unchanged within the window is one entry.
func (o *office) recordList(r *http.Request, id *oidclogin.Identity, tag string, f cases.Filter, list []cases.Case) error {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.RequestID
	}
	_, err := o.deps.Record.WriteOnce(r.Context(), record.Entry{Actor: staffName(id), Role: roles(id), Action: "listed_cases",
		Detail: map[string]any{"session": tag, "status": string(f.Status), "needs_attention": f.NeedsAttention, "cases": ids}}, o.cfg.ViewWindow)
	return err
}

// sessionTag names a browser's session in the record, without being its id.
func sessionTag(sess *web.Session) string { return "session " + sess.Tag() }

func roles(id *oidclogin.Identity) string { return strings.Join(id.Roles, ",") }

// showCase shows a case to a staff member who has stated why they open it, and records the view.
func (o *office) showCase(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	if !casefile.ValidID(r.PathValue("id")) {
		o.fail(w, http.StatusNotFound, "No such case.")
		return
	}
	notice := sess.Notice
	if notice != "" {
		sess.Notice = ""
		_ = o.sessions.Save(r.Context(), w, sess)
	}
	o.renderCase(w, r, sess, notice, http.StatusOK, formState{})
}

// formState is a decision form that failed: which, what was typed, and what is wrong, by field.
type formState struct {
	Decision string
	Typed    url.Values
	Errors   map[string]string
}

// renderCase shows a case with the record's entry written first, asking for the purpose if none
// is stated; a failed form is shown with what was typed and its errors.
func (o *office) renderCase(w http.ResponseWriter, r *http.Request, sess *web.Session, notice string, status int, form formState) {
	id := r.PathValue("id")
	grant, ok := sess.Views[id]
	if !ok || time.Now().After(grant.Until) {
		o.render(w, http.StatusOK, "purpose", sess, purposeForm{RequestID: id, Purposes: o.cfg.Purposes.For(sess.Identity)})
		return
	}
	file, ok := o.loadCase(w, r, id)
	if !ok {
		return
	}
	if err := o.recordView(r, sess.Identity, sessionTag(sess), id, grant.Purpose); err != nil {
		o.deps.Log.Error("record view", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The view could not be recorded, so the case is not shown.")
		return
	}
	trail, _ := o.deps.Record.Trail(r.Context(), id)
	clerk, st := hasRole(sess.Identity, RoleClerk), file.Case.Status
	v := caseView{
		File: file, Trail: trail, Purpose: grant.Purpose, Form: form, CanApprove: clerk && st == request.StatusInReview,
		CanExtend:         clerk && file.Case.ExtensionReasons == "" && st.Open(),
		CanRetry:          clerk && file.Case.Attention != nil,
		CanLiftNotice:     clerk && st == request.StatusRestricted,
		CanLift:           clerk && st == request.StatusLiftNoticeSent,
		CanDecideIdentity: clerk && st == request.StatusAwaitingIdentity}
	if err := o.subjectSteps(r, &v); err != nil {
		o.deps.Log.Error("load case", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The case is not available right now.")
		return
	}
	o.render(w, status, "case", &web.Session{Identity: sess.Identity, CSRF: sess.CSRF, Notice: notice}, v)
}

// recordView writes the view to the record before anything of the case is shown: no record, no view.
// loadCase loads a case file for a page, answering the browser itself if it cannot.
func (o *office) loadCase(w http.ResponseWriter, r *http.Request, id string) (*casefile.File, bool) {
	file, err := o.deps.Files.Load(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		o.fail(w, http.StatusNotFound, "No such case.")
		return nil, false
	}
	if err != nil {
		o.deps.Log.Error("load case", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The case is not available right now.")
		return nil, false
	}
	return file, true
}

// recordView writes a view of a case to the record, once for a session (tag) and purpose within
// the window.
func (o *office) recordView(r *http.Request, id *oidclogin.Identity, tag, requestID, purpose string) error {
	_, err := o.deps.Record.WriteOnce(r.Context(), record.Entry{Actor: staffName(id), Role: roles(id),
		Action: "viewed", RequestID: requestID, Purpose: purpose, Detail: map[string]any{"session": tag}}, o.cfg.ViewWindow)
	return err
}

type purposeForm struct {
	RequestID string
	Purposes  []string
	// Chosen and Detail are what was sent; Errors, what is wrong with it, by field.
	Chosen, Detail string
	Errors         map[string]string
}

type caseView struct {
	File          *casefile.File
	Trail         []record.Entry
	Purpose       string
	CanApprove    bool
	CanExtend     bool
	CanLiftNotice bool
	CanLift       bool
	// CanRetry: a clerk may run again the step of the request that needs attention.
	CanRetry bool
	// CanDecideIdentity: a clerk may verify or refuse the identity of a subject registered unverified.
	CanDecideIdentity bool
	// Form is a decision form that failed, shown again with what was typed.
	Form formState
	// The subject's own steps (steps.go).
	StatusText string
	Waiting    []request.WaitingRegister
	Supplied   []cases.SuppliedIdentifier
	Cancelled  map[string]bool
	Replanned  map[string]bool
}

func (o *office) statePurpose(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	if !web.ParseForm(w, r, sess) {
		o.fail(w, http.StatusBadRequest, "The form expired. Open the case again.")
		return
	}
	id := r.PathValue("id")
	if !casefile.ValidID(id) {
		o.fail(w, http.StatusNotFound, "No such case.")
		return
	}
	purpose, problems := o.cfg.Purposes.State(sess.Identity, r.PostFormValue("purpose"), r.PostFormValue("purpose_detail"))
	if problems != nil {
		form := purposeForm{RequestID: id, Purposes: o.cfg.Purposes.For(sess.Identity), Chosen: r.PostFormValue("purpose"),
			Detail: r.PostFormValue("purpose_detail"), Errors: map[string]string{}}
		for _, p := range problems {
			form.Errors[p.Field] = p.Message
		}
		o.render(w, http.StatusUnprocessableEntity, "purpose", sess, form)
		return
	}
	if sess.Views == nil {
		sess.Views = map[string]web.ViewGrant{}
	}
	sess.Views[id] = web.ViewGrant{Purpose: purpose, Until: time.Now().Add(30 * time.Minute)}
	if err := o.sessions.Save(r.Context(), w, sess); err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The office is not available right now. Try again in a moment.")
		return
	}
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

// decide handles the forms that ask a workflow to act: approve the reply, extend the deadline, send
// the lift notice, lift a restriction. The workflow's validators decide; the clerk sees their reasons.
func (o *office) decide(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staffForm(w, r, RoleClerk, "Only a clerk can decide on a case.")
	if !ok {
		return
	}
	id, clerk := r.PathValue("id"), staffName(sess.Identity)
	if !casefile.ValidID(id) {
		o.fail(w, http.StatusNotFound, "No such case.")
		return
	}
	// A decision is taken on a case opened for a stated purpose, which the record keeps with it.
	grant, opened := sess.Views[id]
	if !opened || time.Now().After(grant.Until) {
		sess.Notice = "State why you open the case before you decide on it."
		_ = o.sessions.Save(r.Context(), w, sess)
		http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
		return
	}
	var err error
	var done string
	ctx, purpose := r.Context(), grant.Purpose
	switch r.PathValue("decision") {
	case "approve":
		_, err = o.deps.Requests.Approve(ctx, id, request.Approval{Clerk: clerk, Note: r.PostFormValue("note"), Purpose: purpose})
		done = "The reply was approved and sent."
	case "extend":
		months, _ := strconv.Atoi(r.PostFormValue("months"))
		_, err = o.deps.Requests.Extend(ctx, id, request.Extension{Clerk: clerk, Reasons: r.PostFormValue("reasons"), Months: months, Purpose: purpose})
		done = "The deadline was extended and the subject told why."
	case "lift-notice":
		_, err = o.deps.Requests.SendLiftNotice(ctx, id, request.Lift{Clerk: clerk, Purpose: purpose})
		done = "The subject was told the restriction will be lifted."
	case "lift":
		_, err = o.deps.Requests.Lift(ctx, id, request.Lift{Clerk: clerk, Purpose: purpose})
		done = "The restriction was lifted."
	case "verify-identity":
		_, err = o.deps.Requests.VerifyIdentity(ctx, id, request.IdentityVerification{Clerk: clerk, Method: r.PostFormValue("method"),
			Note: r.PostFormValue("note"), Purpose: purpose})
		done = "The identity was verified; the request goes to the registers."
	case "refuse-identity":
		_, err = o.deps.Requests.RefuseIdentity(ctx, id, request.IdentityRefusal{Clerk: clerk, Reasons: r.PostFormValue("reasons"), Purpose: purpose})
		done = "The request was closed: identity not verified. The subject is told the reasons."
	case "retry":
		_, err = o.deps.Requests.Retry(ctx, id, request.Retry{Clerk: clerk, Purpose: purpose})
		done = "The step is being run again."
	default:
		o.fail(w, http.StatusNotFound, "No such decision.")
		return
	}
	if refused, ok := request.AsRefused(err); ok && len(refused.Fields) > 0 {
		// An invalid input: the case again, with what was typed and the error next to each field.
		form := formState{Decision: r.PathValue("decision"), Typed: r.PostForm, Errors: map[string]string{}}
		for _, f := range refused.Fields {
			form.Errors[f.Field] = f.Message
		}
		o.renderCase(w, r, sess, "", http.StatusUnprocessableEntity, form)
		return
	}
	sess.Notice = done
	if err != nil {
		sess.Notice = "Not done: " + notDone(err)
	}
	_ = o.sessions.Save(r.Context(), w, sess)
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

// notDone says why the workflow did not take a step, in words for the clerk: each invalid field
// with what is wrong with it, the reason a step is out of turn, or that it could not be done now.
func notDone(err error) string {
	refused, ok := request.AsRefused(err)
	switch {
	case ok && len(refused.Fields) > 0:
		parts := make([]string, len(refused.Fields))
		for i, f := range refused.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return strings.Join(parts, "; ")
	case ok:
		return refused.Reason
	case errors.Is(err, request.ErrNotFound):
		return "the request's workflow is over"
	}
	return "the request service could not carry the step out now; try again in a moment"
}

func (o *office) mailbox(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	msgs, err := o.deps.Mailbox.Mailbox(r.Context(), 100)
	if err == nil {
		// The mailbox holds what was sent to people: reading it is on the record first.
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		_, err = o.deps.Record.WriteOnce(r.Context(), record.Entry{Actor: staffName(sess.Identity), Role: roles(sess.Identity),
			Action: "read_mailbox", Detail: map[string]any{"session": sessionTag(sess), "messages": ids}}, o.cfg.ViewWindow)
	}
	if err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The mailbox is not available right now.")
		return
	}
	o.render(w, http.StatusOK, "mailbox", sess, msgs)
}
