package office

import (
	"errors"
	"net/http"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// apiStaff authenticates an API call by its bearer ID token and requires an office role.
func (o *office) apiStaff(w http.ResponseWriter, r *http.Request) (*oidclogin.Identity, bool) {
	id, ok := web.Bearer(w, r, o.tokens)
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
	if status != "" && !request.Status(status).Valid() {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid query", "", []contracts.FieldError{{Field: "status", Rule: "oneof",
			Message: "must be one of: " + contracts.MustBeOneOf(request.Statuses)}})
		return
	}
	list, err := o.deps.Cases.List(r.Context(), cases.Filter{Status: request.Status(status)})
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"cases": list})
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
	file, err := o.deps.Files.Load(r.Context(), requestID)
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
		Note string `json:"note"`
	}
	if !web.ReadJSON(w, r, 64<<10, &body, true) {
		return
	}
	st, err := o.deps.Requests.Approve(r.Context(), r.PathValue("id"), request.Approval{Clerk: staffName(id), Note: body.Note})
	if !web.StepDone(w, o.deps.Log, err) {
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": string(st.Status)})
}

// apiDecideIdentity takes a clerk's decision on the identity of a request registered from a letter
// or a visit: POST /api/v1/cases/{id}/verify-identity {method, note}, or .../refuse-identity
// {reasons}. The workflow's checks decide, field by field (422) or by the request's turn (409).
func (o *office) apiDecideIdentity(w http.ResponseWriter, r *http.Request) {
	id, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	if !hasRole(id, RoleClerk) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "only a clerk can decide on a subject's identity", nil)
		return
	}
	requestID := r.PathValue("id")
	if !casefile.ValidID(requestID) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return
	}
	var st request.State
	var err error
	if strings.HasSuffix(r.URL.Path, "/verify-identity") {
		var body struct {
			Method string `json:"method"`
			Note   string `json:"note"`
		}
		if !web.ReadJSON(w, r, 64<<10, &body, false) {
			return
		}
		st, err = o.deps.Requests.VerifyIdentity(r.Context(), requestID, request.IdentityVerification{Clerk: staffName(id), Method: body.Method, Note: body.Note})
	} else {
		var body struct {
			Reasons string `json:"reasons"`
		}
		if !web.ReadJSON(w, r, 64<<10, &body, false) {
			return
		}
		st, err = o.deps.Requests.RefuseIdentity(r.Context(), requestID, request.IdentityRefusal{Clerk: staffName(id), Reasons: body.Reasons})
	}
	if errors.Is(err, request.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such open case", nil)
		return
	}
	if !web.StepDone(w, o.deps.Log, err) {
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"request_id": requestID, "status": string(st.Status)})
}
