package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/web"
)

// apiSubject authenticates an API call by its bearer ID token, issued to the portal's client.
func (p *portal) apiSubject(w http.ResponseWriter, r *http.Request) (*oidclogin.Identity, bool) {
	id, ok := web.Bearer(w, r, p.login)
	if ok && !contracts.ValidPersonalIdentityCode(id.PersonalIdentityCode) {
		web.WriteProblem(w, http.StatusUnauthorized, "Unauthorized", "the ID token does not identify a person", nil)
		return nil, false
	}
	return id, ok
}

// readJSON admits an API call's body: application/json, at most limit bytes, no unknown fields.
// It answers the client itself (415 or 400, saying what is wrong) when the body is not admitted.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		web.WriteProblem(w, http.StatusUnsupportedMediaType, "Unsupported media type", "send application/json", nil)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid JSON", jsonProblem(err), nil)
		return false
	}
	return true
}

func (p *portal) apiSubmit(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	var req contracts.SubmitRequest
	if !readJSON(w, r, 64<<10, &req) {
		return
	}
	requestID, challenge, err := p.submit(r, id, req, "api")
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

// jsonProblem explains a decoding error without echoing the body back.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "the body is not valid JSON"
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "the body could not be read as JSON"
}

func (p *portal) apiList(w http.ResponseWriter, r *http.Request) {
	id, ok := p.apiSubject(w, r)
	if !ok {
		return
	}
	cases, err := p.deps.DB.Cases(r.Context(), ownCases(id))
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"requests": cases})
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
func (p *portal) ownCase(r *http.Request, id *oidclogin.Identity, requestID string) (*casefile.File, error) {
	file, err := casefile.Load(r.Context(), p.deps.DB, requestID)
	if err != nil {
		return nil, err
	}
	if file.Case.SubjectID != id.Subject && !file.Case.VerifiedFor(identityCode(id)) {
		return nil, store.ErrNotFound
	}
	return file, nil
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
func ownCases(id *oidclogin.Identity) store.CaseFilter {
	return store.CaseFilter{SubjectID: id.Subject, IdentityCode: identityCode(id)}
}
