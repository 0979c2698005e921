package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// An identifier the subject supplies, at submission or later, reaches the workflow only after the
// subject enters the one-time code sent to it (store.NewChallenge): a register that matches only a
// phone number would otherwise give anyone signed in the data of whoever's number they typed
// (Art 5(1)(f), 32; Art 12(6) lets the controller ask for what confirms identity). The code's right
// answer hands the identifier to the workflow's supply update, the same path as before.

// challenge stores a challenge for an identifier already checked (checkSupply) and queues its code.
func (p *portal) challenge(ctx context.Context, requestID, subjectID string, id contracts.Identifier, channel request.Channel, language string) (challenges.Challenge, error) {
	c, err := p.deps.Challenges.New(ctx, requestID, subjectID, string(id.Type), id.Value, string(channel), language)
	if err != nil {
		return c, fmt.Errorf("challenge %s: %w", id.Type, err)
	}
	return c, nil
}

// codeSent is the API's answer once a code is on its way.
type codeSent struct {
	RequestID      string    `json:"request_id"`
	Status         string    `json:"status"` // "code_sent"
	IdentifierType string    `json:"identifier_type"`
	ExpiresAt      time.Time `json:"expires_at"`
	Verify         string    `json:"verify"` // where to send the code
}

func codeSentOf(c challenges.Challenge) codeSent {
	return codeSent{RequestID: c.RequestID, Status: "code_sent", IdentifierType: c.Type, ExpiresAt: c.ExpiresAt.UTC(),
		Verify: "/api/v1/requests/" + c.RequestID + "/identifiers/verify"}
}

var codePattern = regexp.MustCompile(`^[0-9]{6}$`)

// errNotWaited: the code was right, but no register of the request waits for the identifier any
// more (answered without it, or another identifier came first). It is not used.
var errNotWaited = errors.New("no register of this request waits for this identifier any more; it was not used")

// codeProblem is why a code was not taken, as a field error on "code" (or "type"); left is the
// attempts left after a wrong code.
type codeProblem struct {
	Field, Rule string
	Left        int
}

// confirm checks a code for the request's open challenge (of type idType, or the newest if empty)
// and, if it is right, hands the identifier to the workflow's supply update. A wrong code, a spent
// or expired challenge, or none, come back as a codeProblem and dispatch nothing. If the workflow
// cannot be reached the challenge stays verified and the same code may be sent again; otherwise
// the challenge ends, whether the supply was taken or refused.
func (p *portal) confirm(ctx context.Context, file *casefile.File, waiting []request.WaitingRegister, idType, code string, channel request.Channel) (request.State, *codeProblem, error) {
	code = strings.Join(strings.Fields(code), "")
	idType = strings.TrimSpace(idType)
	if idType != "" && idType != string(contracts.IdentifierPhone) && idType != string(contracts.IdentifierEmail) {
		return request.State{}, &codeProblem{Field: "type", Rule: "oneof"}, nil
	}
	if !codePattern.MatchString(code) {
		return request.State{}, &codeProblem{Field: "code", Rule: "format"}, nil
	}
	c, err := p.deps.Challenges.Verify(ctx, file.Case.RequestID, idType, code)
	var wrong *challenges.WrongCodeError
	switch {
	case errors.As(err, &wrong):
		return request.State{}, &codeProblem{Field: "code", Rule: "mismatch", Left: wrong.Left}, nil
	case errors.Is(err, challenges.ErrCodeSpent):
		return request.State{}, &codeProblem{Field: "code", Rule: "spent"}, nil
	case errors.Is(err, challenges.ErrCodeExpired):
		return request.State{}, &codeProblem{Field: "code", Rule: "expired"}, nil
	case errors.Is(err, challenges.ErrNoChallenge):
		return request.State{}, &codeProblem{Field: "code", Rule: "none"}, nil
	case err != nil:
		return request.State{}, nil, fmt.Errorf("confirm: %w: %w", errStore, err)
	}
	ident := contracts.Identifier{Type: contracts.IdentifierType(c.Type), Value: c.Value}
	if checkSupply(&ident, waiting) != nil {
		if err := p.deps.Challenges.Used(ctx, c.ID); err != nil {
			return request.State{}, nil, fmt.Errorf("confirm: %w: %w", errStore, err)
		}
		return request.State{}, nil, errNotWaited
	}
	st, err := p.deps.Requests.Supply(ctx, file.Case.RequestID, request.Supply{Identifier: ident, Channel: channel})
	if !settled(err) {
		return st, nil, err // the challenge stays verified: the same code may be sent again
	}
	if used := p.deps.Challenges.Used(ctx, c.ID); used != nil && err == nil {
		// The identifier went to the request; the challenge ends when its code is tried again.
		p.deps.Log.Warn("confirm: challenge not closed", "request", file.Case.RequestID, "error", used)
	}
	return st, nil, err
}

// apiMessage is the API's English text for a code problem.
func (c *codeProblem) apiMessage() string {
	switch c.Rule {
	case "oneof":
		return "must be one of: phone, email"
	case "format":
		return "must be the six digits of the code"
	case "mismatch":
		return fmt.Sprintf("is not the code we sent; %d attempts left", c.Left)
	case "spent":
		return "is not the code we sent, and that was the last attempt; supply the identifier again for a new code"
	case "expired":
		return "has expired; supply the identifier again for a new code"
	}
	return "no code is pending for this request; supply the identifier to get one"
}

// pageMessage is the case page's text for a code problem.
func (c *codeProblem) pageMessage(lang contracts.Language) string {
	t := texts.In(lang)
	switch c.Rule {
	case "oneof", "format":
		return t.T("portal.code_format")
	case "mismatch":
		return t.T("portal.code_wrong", c.Left)
	case "spent":
		return t.T("portal.code_spent")
	case "expired":
		return t.T("portal.code_expired")
	}
	return t.T("portal.code_none")
}

// verifyBody is the code sent to POST /api/v1/requests/{id}/identifiers/verify. Type picks the
// challenge when both a phone number and an address wait for their codes; without it, the newest.
type verifyBody struct {
	Code string `json:"code"`
	Type string `json:"type,omitempty"`
}

func (p *portal) apiVerify(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	var body verifyBody
	if !web.ReadJSON(w, r, 1<<10, &body, false) {
		return
	}
	file, waiting, ok := p.apiOwnOpenCase(w, r, id)
	if !ok {
		return
	}
	st, problem, err := p.confirm(r.Context(), file, waiting, body.Type, body.Code, request.ChannelAPI)
	if problem != nil {
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Code not accepted", "",
			[]contracts.FieldError{{Field: problem.Field, Rule: problem.Rule, Message: problem.apiMessage()}})
		return
	}
	if errors.Is(err, errNotWaited) {
		web.WriteProblem(w, http.StatusConflict, "Not needed", err.Error(), nil)
		return
	}
	if errors.Is(err, errStore) {
		p.deps.Log.Error("api verify", "request", file.Case.RequestID, "error", err)
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	if !web.StepDone(w, p.deps.Log, err) {
		return
	}
	if st.Waiting == nil {
		st.Waiting = []request.WaitingRegister{}
	}
	web.WriteJSON(w, http.StatusOK, supplyResponse{RequestID: file.Case.RequestID, Status: st.Status, Waiting: st.Waiting})
}

// errStore marks the portal's own failure to reach the store, as against a refusal by the workflow,
// whose reason is for the subject.
var errStore = errors.New("store unavailable")

// settled reports whether the workflow answered a supply for good: it took it, refused it, or the
// request is over; not when it could not be reached.
func settled(err error) bool {
	_, refused := request.AsRefused(err)
	return err == nil || refused || errors.Is(err, request.ErrNotFound)
}

// verifyPage takes the case page's code form.
func (p *portal) verifyPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	requestID := r.PathValue("id")
	back := "/" + string(lang) + "/requests/" + requestID
	file, err := p.ownCase(r, sess.Identity, requestID)
	if errors.Is(err, store.ErrNotFound) && p.beingRegistered(r, sess, requestID) {
		// Sent before the request's case was recorded: nothing is checked, the code stays as it was.
		p.flash(w, r, sess, "portal.being_registered")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "portal.not_found")
		return
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	if !file.Case.Status.SubjectMayAct() {
		p.flash(w, r, sess, "portal.not_done")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	waiting, err := p.deps.Cases.Waiting(r.Context(), file.Case)
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	idType := r.PostFormValue("type")
	_, problem, err := p.confirm(r.Context(), file, waiting, idType, r.PostFormValue("code"), request.ChannelWeb)
	switch {
	case problem != nil:
		v := caseView{RequestID: file.Case.RequestID, Case: file.Case, Verify: verifyForm{Type: idType}, Timeline: timelineOf(file.Case, texts.In(lang))}
		if err := p.subjectSteps(r.Context(), &v, file, lang); err != nil {
			p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
			return
		}
		p.render(w, r, http.StatusUnprocessableEntity, "show", sess, v,
			formError{Field: "code", Input: "code-" + strings.TrimSpace(idType), Message: problem.pageMessage(lang)})
		return
	case errors.Is(err, errNotWaited):
		p.flash(w, r, sess, "portal.not_waited")
	case err != nil && !settled(err):
		p.deps.Log.Error("verify", "request", file.Case.RequestID, "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	case err != nil:
		p.flash(w, r, sess, "portal.not_done")
	default:
		p.flash(w, r, sess, "portal.supplied")
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// verifyForm is the code form's state after a code was not accepted: which type's code it was.
type verifyForm struct {
	Type string
}
