package portal

import (
	"errors"
	"net/http"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// apiSubject authenticates an API call by its bearer ID token, issued to the portal's client.
func (p *portal) apiSubject(w http.ResponseWriter, r *http.Request) (*oidclogin.Identity, bool) {
	id, ok := web.Bearer(w, r, p.tokens)
	if !ok {
		return nil, false
	}
	switch p.admit(*id) {
	case "":
		return id, p.withinLimit(w, r, id)
	case "assurance":
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "the identification's level of assurance is below "+p.cfg.MinAssurance, nil)
	default:
		web.WriteProblem(w, http.StatusUnauthorized, "Unauthorized", "the ID token does not identify a person", nil)
	}
	return nil, false
}

func (p *portal) apiSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	var req contracts.SubmitRequest
	if !web.ReadJSON(w, r, 64<<10, &req, false) {
		return
	}
	requestID, challenge, _, err := p.submit(r, id, req, request.ChannelAPI)
	if p.refusedByLimit(w, r, err) {
		return
	}
	if ve, ok := contracts.AsValidationError(err); ok {
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Invalid request", "", ve.Fields)
		return
	}
	if err != nil {
		p.deps.Log.Error("api submit", "error", err)
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "the request could not be registered; retry with the same idempotency_key", nil)
		return
	}
	w.Header().Set("Location", "/api/v1/requests/"+requestID)
	res := map[string]any{"request_id": requestID, "status": "received"}
	if challenge != nil {
		// The phone number is used once its code is sent to the verify endpoint.
		res["identifier_verification"] = codeSentOf(*challenge)
	}
	web.WriteJSON(w, http.StatusAccepted, res)
}

func (p *portal) apiList(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	list, err := p.deps.Cases.List(r.Context(), ownCases(id))
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"requests": list})
}

func (p *portal) apiShow(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	file, err := p.ownCase(r, id, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such request", nil)
		return
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, file.ForSubject())
}

// ownCase loads a case of the signed-in subject. Another person's case is "not found": the portal
// never confirms that a request exists to anyone but its subject.
//
// Whose the case is, is asked before anything of it is read (cases.Repo.Owned), in one lookup that
// takes as long for a stranger's request as for one that does not exist: how long a 404 takes does
// not tell that a request exists either.
func (p *portal) ownCase(r *http.Request, id *oidclogin.Identity, requestID string) (*casefile.File, error) {
	if !casefile.ValidID(requestID) {
		return nil, store.ErrNotFound
	}
	owned, err := p.deps.Cases.Owned(r.Context(), requestID, id.Subject, identityCode(id))
	if err != nil {
		return nil, err
	}
	if !owned {
		return nil, store.ErrNotFound
	}
	return p.deps.Files.Load(r.Context(), requestID)
}

// identityCode is the signed-in person's personal identity code as cases keep it.
func identityCode(id *oidclogin.Identity) string {
	if id.PersonalIdentityCode == "" {
		return ""
	}
	return contracts.Normalize(contracts.IdentifierPersonalIdentityCode, id.PersonalIdentityCode)
}

// ownCases is the list of the signed-in person's cases: their own requests, and those the office
// registered for them from a letter or a visit once a clerk verified their identity.
func ownCases(id *oidclogin.Identity) cases.Filter {
	return cases.Filter{SubjectID: id.Subject, IdentityCode: identityCode(id)}
}
