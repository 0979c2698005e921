package office

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
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

// Purposes a staff member can state for opening a case. The record keeps the one chosen and any
// words added to it.
var Purposes = []string{"handling the request", "reviewing register outcomes", "supervision by the DPO", "audit"}

// view is what every office page template gets.
type view struct {
	Identity *oidclogin.Identity
	CSRF     string
	Notice   string
	Mailbox  bool
	Data     any
}

func (o *office) render(w http.ResponseWriter, status int, page string, sess *web.Session, data any) {
	v := view{Data: data, Mailbox: o.cfg.DevMailbox}
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
	return sess, true
}

// staffName is how the record names a staff member: their name and their subject identifier.
func staffName(id *oidclogin.Identity) string { return id.Name + " <" + id.Subject + ">" }

func hasRole(id *oidclogin.Identity, role string) bool { return slices.Contains(id.Roles, role) }

// hasAnyRole reports whether a person is registry office staff at all.
func hasAnyRole(id *oidclogin.Identity) bool {
	return hasRole(id, RoleClerk) || hasRole(id, RoleDPO) || hasRole(id, RoleAuditor)
}

func (o *office) listCases(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	cases, err := o.deps.DB.Cases(r.Context(), store.CaseFilter{Status: r.URL.Query().Get("status")})
	if err != nil {
		o.deps.Log.Error("list cases", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The case list is not available right now.")
		return
	}
	o.render(w, http.StatusOK, "cases", sess, cases)
}

// showCase shows a case to a staff member who has stated why they open it, and records the view.
func (o *office) showCase(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	grant, ok := sess.Views[id]
	if !ok || time.Now().After(grant.Until) {
		o.render(w, http.StatusOK, "purpose", sess, purposeForm{RequestID: id, Purposes: Purposes})
		return
	}
	file, ok := o.loadCase(w, r, id)
	if !ok {
		return
	}
	if err := o.recordView(r, sess.Identity, id, grant.Purpose); err != nil {
		o.deps.Log.Error("record view", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The view could not be recorded, so the case is not shown.")
		return
	}
	trail, _ := o.deps.DB.AuditTrail(r.Context(), id)
	notice := sess.Notice
	if notice != "" {
		sess.Notice = ""
		_ = o.sessions.Save(r.Context(), w, sess)
	}
	clerk, status := hasRole(sess.Identity, RoleClerk), request.Status(file.Case.Status)
	v := caseView{
		File: file, Trail: trail, Purpose: grant.Purpose, CanApprove: clerk && status == request.StatusInReview,
		CanExtend:         clerk && file.Case.ExtensionReasons == "" && (status.Open() || status == request.StatusAwaitingIdentity),
		CanLiftNotice:     clerk && status == request.StatusRestricted,
		CanLift:           clerk && status == request.StatusLiftNoticeSent,
		CanDecideIdentity: clerk && status == request.StatusAwaitingIdentity}
	if err := o.subjectSteps(r, &v); err != nil {
		o.deps.Log.Error("load case", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The case is not available right now.")
		return
	}
	o.render(w, http.StatusOK, "case", &web.Session{Identity: sess.Identity, CSRF: sess.CSRF, Notice: notice}, v)
}

// recordView writes the view to the record before anything of the case is shown: no record, no view.
// loadCase loads a case file for a page, answering the browser itself if it cannot.
func (o *office) loadCase(w http.ResponseWriter, r *http.Request, id string) (*casefile.File, bool) {
	file, err := casefile.Load(r.Context(), o.deps.DB, id)
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

func (o *office) recordView(r *http.Request, id *oidclogin.Identity, requestID, purpose string) error {
	return o.deps.DB.Audit(r.Context(), store.AuditEvent{Actor: staffName(id), Role: strings.Join(id.Roles, ","),
		Action: "viewed", RequestID: requestID, Purpose: purpose})
}

type purposeForm struct {
	RequestID string
	Purposes  []string
	Error     string
}

type caseView struct {
	File          *casefile.File
	Trail         []store.AuditEvent
	Purpose       string
	CanApprove    bool
	CanExtend     bool
	CanLiftNotice bool
	CanLift       bool
	// CanDecideIdentity: a clerk may verify or refuse the identity of a subject registered unverified.
	CanDecideIdentity bool
	// The subject's own steps (steps.go).
	StatusText string
	Waiting    []request.WaitingRegister
	Supplied   []store.SuppliedIdentifier
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
	purpose := strings.TrimSpace(r.PostFormValue("purpose"))
	more := strings.TrimSpace(r.PostFormValue("purpose_detail"))
	if !slices.Contains(Purposes, purpose) {
		o.render(w, http.StatusUnprocessableEntity, "purpose", sess, purposeForm{RequestID: id, Purposes: Purposes,
			Error: "purpose: choose why you open this case"})
		return
	}
	if len(more) > 500 {
		o.render(w, http.StatusUnprocessableEntity, "purpose", sess, purposeForm{RequestID: id, Purposes: Purposes,
			Error: "purpose_detail: at most 500 characters"})
		return
	}
	if more != "" {
		purpose += ": " + more
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

// approveReply asks the request's workflow to send the reply and waits for it to be done. The
// workflow's validator refuses an approval out of turn, and that refusal is what the clerk sees.
func (o *office) approveReply(r *http.Request, id *oidclogin.Identity, requestID, note string) error {
	return o.update(r, requestID, request.UpdateApproveReply, request.Approval{Clerk: staffName(id), Note: note})
}

// update sends an update to a request's workflow and waits until it is done.
func (o *office) update(r *http.Request, requestID, name string, arg any) error {
	handle, err := o.deps.Temporal.UpdateWorkflow(r.Context(), client.UpdateWorkflowOptions{
		WorkflowID: request.WorkflowID(requestID), UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return errRefused(err)
	}
	var st request.State
	if err := handle.Get(r.Context(), &st); err != nil {
		return errRefused(err)
	}
	return nil
}

// decide handles the forms that ask a workflow to act: approve the reply, extend the deadline, send
// the lift notice, lift a restriction. The workflow's validators decide; the clerk sees their reasons.
func (o *office) decide(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staffForm(w, r, RoleClerk, "Only a clerk can decide on a case.")
	if !ok {
		return
	}
	id, clerk := r.PathValue("id"), staffName(sess.Identity)
	var err error
	var done string
	switch r.PathValue("decision") {
	case "approve":
		note := strings.TrimSpace(r.PostFormValue("note"))
		if len(note) > 2000 {
			o.fail(w, http.StatusUnprocessableEntity, "note: at most 2000 characters")
			return
		}
		err, done = o.approveReply(r, sess.Identity, id, note), "The reply was approved and sent."
	case "extend":
		months, convErr := strconv.Atoi(r.PostFormValue("months"))
		reasons := strings.TrimSpace(r.PostFormValue("reasons"))
		if convErr != nil || months < 1 || months > 2 || reasons == "" || len(reasons) > 2000 {
			o.fail(w, http.StatusUnprocessableEntity, "months: one or two; reasons: required, at most 2000 characters (Art 12(3))")
			return
		}
		err, done = o.update(r, id, request.UpdateExtendDeadline, request.Extension{Clerk: clerk, Reasons: reasons, Months: months}),
			"The deadline was extended and the subject told why."
	case "lift-notice":
		err, done = o.update(r, id, request.UpdateSendLiftNotice, request.LiftInput{Clerk: clerk}), "The subject was told the restriction will be lifted."
	case "lift":
		err, done = o.update(r, id, request.UpdateLiftRestriction, request.LiftInput{Clerk: clerk}), "The restriction was lifted."
	case "verify-identity":
		v := request.IdentityVerification{Clerk: clerk, Method: strings.TrimSpace(r.PostFormValue("method")), Note: strings.TrimSpace(r.PostFormValue("note"))}
		if err := request.CheckVerification(v); err != nil {
			o.fail(w, http.StatusUnprocessableEntity, "method: required, at most 500 characters; note: at most 2000 characters (Art 12(6))")
			return
		}
		err, done = o.update(r, id, request.UpdateVerifyIdentity, v), "The identity was verified; the request goes to the registers."
	case "refuse-identity":
		x := request.IdentityRefusal{Clerk: clerk, Reasons: strings.TrimSpace(r.PostFormValue("reasons"))}
		if err := request.CheckRefusal(x); err != nil {
			o.fail(w, http.StatusUnprocessableEntity, "reasons: required, at most 2000 characters; they are told to the subject (Art 12(2), 12(4))")
			return
		}
		err, done = o.update(r, id, request.UpdateRefuseIdentity, x), "The request was closed: identity not verified. The subject is told the reasons."
	default:
		o.fail(w, http.StatusNotFound, "No such decision.")
		return
	}
	sess.Notice = done
	if err != nil {
		sess.Notice = "Not done: " + err.Error()
	}
	_ = o.sessions.Save(r.Context(), w, sess)
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

// errRefused gives the workflow's reason without the transport's wrapping.
func errRefused(err error) error {
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return err
}

func (o *office) mailbox(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	msgs, err := o.deps.DB.Mailbox(r.Context(), 100)
	if err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The mailbox is not available right now.")
		return
	}
	o.render(w, http.StatusOK, "mailbox", sess, msgs)
}
