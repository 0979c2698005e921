package office

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// apiStaff authenticates an API call by its bearer ID token and requires an office role. The tag
// names the token in the record (a hash of it, not the token), as a session's tag does a browser's.
func (o *office) apiStaff(w http.ResponseWriter, r *http.Request) (*oidclogin.Identity, string, bool) {
	id, ok := web.Bearer(w, r, o.tokens)
	if ok && !hasAnyRole(id) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "no registry office role", nil)
		return nil, "", false
	}
	if !ok || !o.withinLimit(w, r, id) {
		return nil, "", false
	}
	sum := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	return id, "token " + hex.EncodeToString(sum[:8]), true
}

// apiPurpose reads the purpose an API call states (purpose, and optionally purpose_detail, in the
// query), one the caller's roles may state, answering 400 itself if it is missing or not theirs.
func (o *office) apiPurpose(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) (string, bool) {
	q := r.URL.Query()
	purpose, problems := o.cfg.Purposes.State(id, q.Get("purpose"), q.Get("purpose_detail"))
	if problems != nil {
		web.WriteProblem(w, http.StatusBadRequest, "Purpose required", "every view of a case, and every decision on one, is recorded with its purpose", problems)
		return "", false
	}
	return purpose, true
}

func (o *office) apiList(w http.ResponseWriter, r *http.Request) {
	id, tag, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !request.Status(status).Valid() {
		web.WriteProblem(w, http.StatusBadRequest, "Invalid query", "", []contracts.FieldError{{Field: "status", Rule: "oneof",
			Message: "must be one of: " + contracts.MustBeOneOf(request.Statuses)}})
		return
	}
	f := cases.Filter{Status: request.Status(status), NeedsAttention: r.URL.Query().Get("needs_attention") == "true"}
	list, err := o.deps.Cases.List(r.Context(), f)
	if err == nil {
		err = o.recordList(r, id, tag, f, list)
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"cases": list})
}

// apiShow returns a case file, with the records each register returned. The purpose is required:
// the view is recorded with it, and so is the reading of each register's records it returns.
func (o *office) apiShow(w http.ResponseWriter, r *http.Request) {
	id, tag, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	requestID := r.PathValue("id")
	if !casefile.ValidID(requestID) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return
	}
	purpose, ok := o.apiPurpose(w, r, id)
	if !ok {
		return
	}
	file, err := o.deps.Files.Load(r.Context(), requestID)
	if errors.Is(err, store.ErrNotFound) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return
	}
	err = o.recordView(r, id, tag, requestID, purpose)
	for _, reg := range file.Registers {
		if err == nil && len(reg.Data) > 0 {
			_, err = o.deps.Record.WriteOnce(r.Context(), record.Entry{Actor: staffName(id), Role: roles(id), Action: "viewed_records",
				RequestID: requestID, Purpose: purpose, Detail: map[string]any{"register_id": reg.ID, "session": tag}}, o.cfg.ViewWindow)
		}
	}
	if err != nil {
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "the view could not be recorded", nil)
		return
	}
	web.WriteJSON(w, http.StatusOK, file)
}

// apiClerk admits an API decision: a clerk's, on a well-formed case id, with its purpose stated.
func (o *office) apiClerk(w http.ResponseWriter, r *http.Request, refusal string) (*oidclogin.Identity, string, bool) {
	id, _, ok := o.apiStaff(w, r)
	if !ok {
		return nil, "", false
	}
	if !hasRole(id, RoleClerk) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", refusal, nil)
		return nil, "", false
	}
	if !casefile.ValidID(r.PathValue("id")) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such case", nil)
		return nil, "", false
	}
	purpose, ok := o.apiPurpose(w, r, id)
	return id, purpose, ok
}

func (o *office) apiApprove(w http.ResponseWriter, r *http.Request) {
	id, purpose, ok := o.apiClerk(w, r, "only a clerk can approve a reply")
	if !ok {
		return
	}
	var body struct {
		Note string `json:"note"`
	}
	if !web.ReadJSON(w, r, 64<<10, &body, true) {
		return
	}
	st, err := o.deps.Requests.Approve(r.Context(), r.PathValue("id"), request.Approval{Clerk: staffName(id), Note: body.Note, Purpose: purpose})
	if !web.StepDone(w, o.deps.Log, err) {
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": string(st.Status)})
}

// apiDecideIdentity takes a clerk's decision on the identity of a request registered from a letter
// or a visit: POST /api/v1/cases/{id}/verify-identity {method, note}, or .../refuse-identity
// {reasons}. The workflow's checks decide, field by field (422) or by the request's turn (409).
func (o *office) apiDecideIdentity(w http.ResponseWriter, r *http.Request) {
	id, purpose, ok := o.apiClerk(w, r, "only a clerk can decide on a subject's identity")
	if !ok {
		return
	}
	requestID := r.PathValue("id")
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
		st, err = o.deps.Requests.VerifyIdentity(r.Context(), requestID, request.IdentityVerification{Clerk: staffName(id), Method: body.Method, Note: body.Note,
			Purpose: purpose})
	} else {
		var body struct {
			Reasons string `json:"reasons"`
		}
		if !web.ReadJSON(w, r, 64<<10, &body, false) {
			return
		}
		st, err = o.deps.Requests.RefuseIdentity(r.Context(), requestID, request.IdentityRefusal{Clerk: staffName(id), Reasons: body.Reasons, Purpose: purpose})
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
