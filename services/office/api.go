package office

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// apiStaff authenticates an API call by its bearer ID token and requires an office role.
func (o *office) apiStaff(w http.ResponseWriter, r *http.Request) (*oidclogin.Identity, bool) {
	id, ok := web.Bearer(w, r, o.login)
	if ok && !hasAnyRole(id) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "no registry office role", nil)
		return nil, false
	}
	return id, ok
}

func (o *office) apiList(w http.ResponseWriter, r *http.Request) {
	if _, ok := o.apiStaff(w, r); !ok {
		return
	}
	status := r.URL.Query().Get("status")
	statuses := []string{"received", "awaiting_information", "dispatched", "in_review", "replied", "restricted", "lift_notice_sent", "lifted", "withdrawn",
		"awaiting_identity", "identity_not_verified"}
	if status != "" && !slices.Contains(statuses, status) {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid query", "", []contracts.FieldError{{Field: "status", Rule: "oneof",
			Message: "must be one of: " + strings.Join(statuses, ", ")}})
		return
	}
	cases, err := o.deps.DB.Cases(r.Context(), store.CaseFilter{Status: status})
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"cases": cases})
}

// apiShow returns a case file. The purpose query parameter is required: the view is recorded with it.
func (o *office) apiShow(w http.ResponseWriter, r *http.Request) {
	id, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	purpose := strings.TrimSpace(r.URL.Query().Get("purpose"))
	if purpose == "" || len(purpose) > 500 {
		web.WriteProblem(w, http.StatusBadRequest, "Purpose required", "every view of a case is recorded with its purpose",
			[]contracts.FieldError{{Field: "purpose", Rule: "required", Message: "state why you open this case (1-500 characters)"}})
		return
	}
	requestID := r.PathValue("id")
	file, err := casefile.Load(r.Context(), o.deps.DB, requestID)
	if errors.Is(err, store.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	if err := o.recordView(r, id, requestID, purpose); err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "the view could not be recorded", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, file)
}

func (o *office) apiApprove(w http.ResponseWriter, r *http.Request) {
	id, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	if !hasRole(id, RoleClerk) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "only a clerk can approve a reply", nil)
		return
	}
	var body struct {
		Note string `json:"note" validate:"max=2000"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && err.Error() != "EOF" {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid JSON", err.Error(), nil)
		return
	}
	if err := contracts.Validate(&body); err != nil {
		ve, _ := contracts.AsValidationError(err)
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Invalid reply", "", ve.Fields)
		return
	}
	if err := o.approveReply(r, id, r.PathValue("id"), body.Note); err != nil {
		web.WriteProblem(w, http.StatusConflict, "Not approved", err.Error(), nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": "replied"})
}

// apiDecideIdentity takes a clerk's decision on the identity of a request registered from a letter
// or a visit: POST /api/v1/cases/{id}/verify-identity {method, note}, or .../refuse-identity
// {reasons}. The body is checked field by field; the workflow's validator decides the rest (409).
func (o *office) apiDecideIdentity(w http.ResponseWriter, r *http.Request) {
	id, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	if !hasRole(id, RoleClerk) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "only a clerk can decide on a subject's identity", nil)
		return
	}
	var body struct {
		Method  string `json:"method" validate:"omitempty,max=500"`
		Note    string `json:"note" validate:"max=2000"`
		Reasons string `json:"reasons" validate:"omitempty,max=2000"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid JSON", err.Error(), nil)
		return
	}
	verify := strings.HasSuffix(r.URL.Path, "/verify-identity")
	ve := &contracts.ValidationError{}
	if err := contracts.Validate(&body); err != nil {
		if fields, ok := contracts.AsValidationError(err); ok {
			ve = fields
		}
	}
	if verify && strings.TrimSpace(body.Method) == "" {
		ve.Add("method", "required", "say how the identity was confirmed, e.g. \"passport checked at the service point\" (Art 12(6))")
	}
	if !verify && strings.TrimSpace(body.Reasons) == "" {
		ve.Add("reasons", "required", "the subject is told the reasons (Art 12(2), 12(4))")
	}
	if err := ve.OrNil(); err != nil {
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Invalid decision", "", ve.Fields)
		return
	}
	requestID := r.PathValue("id")
	if _, err := o.deps.DB.Case(r.Context(), requestID); errors.Is(err, store.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return
	} else if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	clerk := staffName(id)
	var err error
	if verify {
		err = o.update(r, requestID, request.UpdateVerifyIdentity,
			request.IdentityVerification{Clerk: clerk, Method: strings.TrimSpace(body.Method), Note: strings.TrimSpace(body.Note)})
	} else {
		err = o.update(r, requestID, request.UpdateRefuseIdentity, request.IdentityRefusal{Clerk: clerk, Reasons: strings.TrimSpace(body.Reasons)})
	}
	if err != nil {
		web.WriteProblem(w, http.StatusConflict, "Not done", err.Error(), nil)
		return
	}
	c, _ := o.deps.DB.Case(r.Context(), requestID)
	web.WriteJSON(w, http.StatusOK, map[string]string{"request_id": requestID, "status": c.Status})
}
