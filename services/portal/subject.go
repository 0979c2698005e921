package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/services/orchestrator"
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
	Type   string
	Value  string
	Errors map[string]string
}

// subjectSteps fills in the case page's part on the subject's own steps: what registers wait for,
// whether the request can still be withdrawn, and, once withdrawn, what became of each register.
func (p *portal) subjectSteps(ctx context.Context, v *caseView, file *casefile.File, lang contracts.Language) error {
	rows, err := p.deps.DB.CaseRegisters(ctx, file.Case.RequestID)
	if err != nil {
		return err
	}
	waiting, err := orchestrator.Waiting(file.Case, rows)
	if err != nil {
		return err
	}
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
	v.CanWithdraw = request.Status(file.Case.Status).Open()
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
		pending, err := p.deps.DB.PendingChallenges(ctx, file.Case.RequestID)
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

// errUnavailable reports that the workflow service could not be reached.
var errUnavailable = errors.New("the request service is not available; try again")

// update sends an update to the request's workflow and waits for it to be done. A refusal by the
// workflow's validator, or a request that no longer takes the step, comes back as its reason.
func (p *portal) update(ctx context.Context, requestID, name string, arg any) (request.State, error) {
	var st request.State
	handle, err := p.deps.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: request.WorkflowID(requestID), UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &st)
	}
	var unavailable *serviceerror.Unavailable
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return st, nil
	case errors.As(err, &unavailable), errors.Is(err, context.DeadlineExceeded):
		return st, errUnavailable
	case errors.As(err, &notFound):
		return st, errors.New("the request is closed")
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	if strings.Contains(err.Error(), "unknown update") {
		return st, errors.New("this request cannot take this step")
	}
	return st, err
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
	if !readJSON(w, r, 4<<10, &ident) {
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
	c, err := p.challenge(r.Context(), file.Case.RequestID, id.Subject, ident, "api", file.Case.Language)
	if errors.Is(err, store.ErrTooManyCodes) {
		w.Header().Set("Retry-After", "86400")
		web.WriteProblem(w, http.StatusTooManyRequests, "Too many codes", "", []contracts.FieldError{{Field: "value", Rule: "rate",
			Message: fmt.Sprintf("at most %d codes may be sent for a request, and %d for a person, in 24 hours",
				store.ChallengesPerDay, store.ChallengesPerSubjectDay)}})
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
	st, err := p.update(r.Context(), file.Case.RequestID, request.UpdateWithdraw, request.Withdrawal{Channel: "api"})
	if !p.apiUpdated(w, err) {
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
	if !request.Status(file.Case.Status).Open() {
		web.WriteProblem(w, http.StatusConflict, "Request closed", "the request is "+file.Case.Status+"; it no longer takes this step", nil)
		return nil, nil, false
	}
	rows, err := p.deps.DB.CaseRegisters(r.Context(), file.Case.RequestID)
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return nil, nil, false
	}
	waiting, err := orchestrator.Waiting(file.Case, rows)
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return nil, nil, false
	}
	return file, waiting, true
}

// apiUpdated answers an update's failure: 503 if the service is down, else 409 with the reason.
func (p *portal) apiUpdated(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, errUnavailable):
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", err.Error(), nil)
	default:
		web.WriteProblem(w, http.StatusConflict, "Not done", err.Error(), nil)
	}
	return false
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
	rows, err := p.deps.DB.CaseRegisters(r.Context(), file.Case.RequestID)
	var waiting []request.WaitingRegister
	if err == nil {
		waiting, err = orchestrator.Waiting(file.Case, rows)
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "try_again")
		return
	}
	fields := checkSupply(&ident, waiting)
	if fields == nil && !request.Status(file.Case.Status).Open() {
		fields = []contracts.FieldError{{Field: "form", Message: messages[lang]["not_done"]}}
	}
	if fields == nil {
		// Nothing goes to the workflow yet: the identifier is used once its code comes back (verify.go).
		_, err := p.challenge(r.Context(), file.Case.RequestID, sess.Identity.Subject, ident, "web", string(lang))
		if errors.Is(err, store.ErrTooManyCodes) {
			fields = []contracts.FieldError{{Field: "value", Message: messages[lang]["too_many_codes"]}}
		} else if err != nil {
			p.deps.Log.Error("supply", "request", file.Case.RequestID, "error", err)
			p.fail(w, r, http.StatusServiceUnavailable, "try_again")
			return
		}
	}
	if fields == nil {
		p.flash(w, r, sess, messages[lang]["code_sent"])
		http.Redirect(w, r, "/"+string(lang)+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
		return
	}
	form.Errors = map[string]string{}
	for _, f := range fields {
		form.Errors[f.Field] = f.Message
	}
	v := caseView{RequestID: file.Case.RequestID, Case: file.Case, Supply: form}
	if err := p.subjectSteps(r.Context(), &v, file, lang); err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "try_again")
		return
	}
	v.Supply.Type = form.Type
	p.render(w, r, http.StatusUnprocessableEntity, "show", sess, v)
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
	notice := messages[lang]["withdrawn"]
	if !request.Status(file.Case.Status).Open() {
		notice = messages[lang]["not_done"]
	} else if _, err := p.update(r.Context(), file.Case.RequestID, request.UpdateWithdraw, request.Withdrawal{Channel: "web"}); err != nil {
		if errors.Is(err, errUnavailable) {
			p.fail(w, r, http.StatusServiceUnavailable, "try_again")
			return
		}
		notice = messages[lang]["not_done"]
	}
	p.flash(w, r, sess, notice)
	http.Redirect(w, r, "/"+string(lang)+"/requests/"+file.Case.RequestID, http.StatusSeeOther)
}

// ownPageCase loads the signed-in subject's case for a page, answering the browser itself if there
// is none.
func (p *portal) ownPageCase(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) (*casefile.File, bool) {
	file, err := p.ownCase(r, id, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "not_found")
		return nil, false
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "try_again")
		return nil, false
	}
	return file, true
}

// flash keeps a one-time message for the next page.
func (p *portal) flash(w http.ResponseWriter, r *http.Request, sess *web.Session, notice string) {
	sess.Notice = notice
	_ = p.sessions.Save(r.Context(), w, sess)
}
