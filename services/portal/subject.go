package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The subject's own steps on an open request: supplying an identifier that lets more registers be
// searched (Art 11(2), 12(6)), and withdrawing the request. The workflow's validators decide; the
// portal checks the input first so that bad input gets a field-level 4xx.

// waitingView is a register that could be searched with an identifier the subject has not given.
type waitingView struct {
	Name  string
	Types []string
}

// supplyForm is the form for adding an identifier, with what was typed and what was wrong with it.
type supplyForm struct {
	Type  string
	Value string
}

// subjectSteps fills in the case page's part on the subject's own steps: what registers wait for,
// whether the request can still be withdrawn, and, once withdrawn, what became of each register.
func (p *portal) subjectSteps(ctx context.Context, v *caseView, file *casefile.File, lang contracts.Language) error {
	rows, err := p.deps.Cases.Registers(ctx, file.Case.RequestID)
	if err != nil {
		return err
	}
	planned, err := cases.PlannedOf(rows)
	if err != nil {
		return err
	}
	waiting := request.Waiting(file.Case.Status, planned)
	names := map[string]string{}
	for _, reg := range file.Registers {
		names[reg.ID] = reg.Name.In(lang)
	}
	for _, w := range waiting {
		wv := waitingView{Name: names[w.RegisterID]}
		for _, t := range w.Identifiers {
			wv.Types = append(wv.Types, string(t))
			if !slices.Contains(v.SupplyTypes, string(t)) {
				v.SupplyTypes = append(v.SupplyTypes, string(t))
			}
		}
		v.Waiting = append(v.Waiting, wv)
	}
	v.CanWithdraw = file.Case.Status.SubjectMayAct()
	if !v.CanWithdraw {
		// Once replied or closed, nothing more is searched: no register waits for anything.
		v.Waiting, v.SupplyTypes = nil, nil
	}
	if file.Case.WithdrawnAt != nil {
		for _, r := range rows {
			switch {
			case r.CancelledAt != nil:
				v.Cancelled = append(v.Cancelled, names[r.RegisterID])
			case r.ResultStatus == string(contracts.StatusApplied):
				v.Applied = append(v.Applied, names[r.RegisterID])
			}
		}
	}
	if v.CanWithdraw {
		// A code is asked for only while a register still waits for its type: otherwise the
		// identifier would not be used anyway.
		pending, err := p.deps.Challenges.Pending(ctx, file.Case.RequestID)
		if err != nil {
			return err
		}
		for _, c := range pending {
			// Right after intake began, before its plans are stored, nothing shows as waiting yet.
			if (len(rows) == 0 || slices.Contains(v.SupplyTypes, c.Type)) && !slices.Contains(v.Pending, c.Type) {
				v.Pending = append(v.Pending, c.Type)
			}
		}
	}
	if v.Supply.Type == "" && len(v.SupplyTypes) > 0 {
		v.Supply.Type = v.SupplyTypes[0]
	}
	return nil
}

// checkSupply normalizes and checks an identifier the subject supplies for a case: its form, its
// type (never a personal identity code), and that a register of the case waits for that type.
func checkSupply(id *contracts.Identifier, waiting []request.WaitingRegister) []contracts.FieldError {
	id.Type = contracts.IdentifierType(strings.TrimSpace(string(id.Type)))
	id.Value = contracts.Normalize(id.Type, id.Value)
	if ve := request.CheckSupplied(*id); ve != nil {
		return ve.Fields
	}
	if err := contracts.Validate(id); err != nil {
		if ve, ok := contracts.AsValidationError(err); ok {
			return ve.Fields
		}
		return []contracts.FieldError{{Field: "value", Rule: "invalid", Message: "is not valid"}}
	}
	for _, w := range waiting {
		if slices.Contains(w.Identifiers, id.Type) {
			return nil
		}
	}
	return []contracts.FieldError{{Field: "type", Rule: "waited_for",
		Message: "no register of this request waits for this kind of identifier"}}
}

// supplyResponse is the API's answer to a confirmed identifier.
type supplyResponse struct {
	RequestID string                    `json:"request_id"`
	Status    request.Status            `json:"status"`
	Waiting   []request.WaitingRegister `json:"waiting"`
}

func (p *portal) apiSupply(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	var ident contracts.Identifier
	if !web.ReadJSON(w, r, 4<<10, &ident, false) {
		return
	}
	file, waiting, ok := p.apiOwnOpenCase(w, r, id)
	if !ok {
		return
	}
	if fields := checkSupply(&ident, waiting); fields != nil {
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Invalid identifier", "", fields)
		return
	}
	// Nothing goes to the workflow yet: the identifier is used once its code comes back (verify.go).
	c, err := p.challenge(r.Context(), file.Case.RequestID, id.Subject, ident, request.ChannelAPI, file.Case.Language)
	if errors.Is(err, challenges.ErrTooManyCodes) {
		w.Header().Set("Retry-After", "86400")
		web.WriteProblem(w, http.StatusTooManyRequests, "Too many codes", "", []contracts.FieldError{{Field: "value", Rule: "rate",
			Message: fmt.Sprintf("at most %d codes may be sent for a request, and %d for a person, in 24 hours",
				challenges.ChallengesPerDay, challenges.ChallengesPerSubjectDay)}})
		return
	}
	if err != nil {
		p.deps.Log.Error("api supply", "request", file.Case.RequestID, "error", err)
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	w.Header().Set("Location", codeSentOf(c).Verify)
	web.WriteJSON(w, http.StatusAccepted, codeSentOf(c))
}

func (p *portal) apiWithdraw(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	file, _, ok := p.apiOwnOpenCase(w, r, id)
	if !ok {
		return
	}
	st, err := p.deps.Requests.Withdraw(r.Context(), file.Case.RequestID, request.Withdrawal{Channel: request.ChannelAPI})
	if !web.StepDone(w, p.deps.Log, err) {
		return
	}
	res := request.WithdrawResult{}
	if st.Withdrawal != nil {
		res = *st.Withdrawal
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"request_id": file.Case.RequestID, "status": st.Status,
		"cancelled": nonEmpty(res.Cancelled), "under_way": nonEmpty(res.UnderWay), "answered": nonEmpty(res.Answered)})
}

func nonEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// apiOwnOpenCase loads the subject's own case and what its registers wait for, answering the call
// itself if there is no such case (404) or it is no longer open (409).
func (p *portal) apiOwnOpenCase(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) (*casefile.File, []request.WaitingRegister, bool) {
	file, err := p.ownCase(r, id, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such request", nil)
		return nil, nil, false
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return nil, nil, false
	}
	if !file.Case.Status.SubjectMayAct() {
		web.WriteProblem(w, http.StatusConflict, "Request closed", "the request is "+string(file.Case.Status)+"; it no longer takes this step", nil)
		return nil, nil, false
	}
	waiting, err := p.deps.Cases.Waiting(r.Context(), file.Case)
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return nil, nil, false
	}
	return file, waiting, true
}

// supplyPage takes the case page's identifier form.
func (p *portal) supplyPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	file, ok := p.ownPageCase(w, r, sess.Identity)
	if !ok {
		return
	}
	lang := langOf(r)
	ident := contracts.Identifier{Type: contracts.IdentifierType(r.PostFormValue("type")), Value: r.PostFormValue("value")}
	form := supplyForm{Type: string(ident.Type), Value: ident.Value}
	waiting, err := p.deps.Cases.Waiting(r.Context(), file.Case)
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	fields := checkSupply(&ident, waiting)
	t := texts.In(lang)
	var errs []formError
	for _, f := range fields {
		errs = append(errs, formError{Field: f.Field, Input: "supply-" + f.Field, Message: fieldMessage(t, f.Field, f)})
	}
	if errs == nil && !file.Case.Status.SubjectMayAct() {
		p.flash(w, r, sess, "portal.not_done")
		http.Redirect(w, r, "/"+string(lang)+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
		return
	}
	if errs == nil {
		// Nothing goes to the workflow yet: the identifier is used once its code comes back (verify.go).
		_, err := p.challenge(r.Context(), file.Case.RequestID, sess.Identity.Subject, ident, request.ChannelWeb, string(lang))
		if errors.Is(err, challenges.ErrTooManyCodes) {
			errs = []formError{{Field: "value", Input: "supply-value", Message: t.T("portal.too_many_codes")}}
		} else if err != nil {
			p.deps.Log.Error("supply", "request", file.Case.RequestID, "error", err)
			p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
			return
		}
	}
	if errs == nil {
		p.flash(w, r, sess, "portal.code_sent")
		http.Redirect(w, r, "/"+string(lang)+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
		return
	}
	v := caseView{RequestID: file.Case.RequestID, Case: file.Case, Supply: form, Timeline: timelineOf(file.Case, t)}
	if err := p.subjectSteps(r.Context(), &v, file, lang); err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	v.Supply.Type = form.Type
	p.render(w, r, http.StatusUnprocessableEntity, "show", sess, v, errs...)
}

// withdrawConfirm asks whether the subject means to withdraw the request, saying what withdrawing
// does and does not undo.
func (p *portal) withdrawConfirm(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	file, ok := p.ownPageCase(w, r, sess.Identity)
	if !ok {
		return
	}
	if !file.Case.Status.SubjectMayAct() {
		p.flash(w, r, sess, "portal.not_done")
		http.Redirect(w, r, "/"+string(langOf(r))+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "withdraw", sess, caseView{RequestID: file.Case.RequestID, Case: file.Case})
}

// withdrawPage takes the case page's withdrawal button.
func (p *portal) withdrawPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	file, ok := p.ownPageCase(w, r, sess.Identity)
	if !ok {
		return
	}
	lang := langOf(r)
	notice := "portal.withdrawn"
	if !file.Case.Status.SubjectMayAct() {
		notice = "portal.not_done"
	} else if _, err := p.deps.Requests.Withdraw(r.Context(), file.Case.RequestID, request.Withdrawal{Channel: request.ChannelWeb}); err != nil {
		if _, refused := request.AsRefused(err); !refused && !errors.Is(err, request.ErrNotFound) {
			p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
			return
		}
		notice = "portal.not_done"
	}
	p.flash(w, r, sess, notice)
	http.Redirect(w, r, "/"+string(lang)+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
}

// ownPageCase loads the signed-in subject's case for a page, answering the browser itself if there
// is none.
func (p *portal) ownPageCase(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) (*casefile.File, bool) {
	file, err := p.ownCase(r, id, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "portal.not_found")
		return nil, false
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return nil, false
	}
	return file, true
}

// flash keeps a one-time message for the next page: the key of its text, so that the page shows it
// in the language it is read in.
func (p *portal) flash(w http.ResponseWriter, r *http.Request, sess *web.Session, key string) {
	sess.Notice = key
	_ = p.sessions.Save(r.Context(), w, sess)
}
