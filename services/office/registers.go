package office

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/catalogue"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/declarations"
)

// registerRow is one register in the catalogue list.
type registerRow struct {
	ID        string
	Name      string
	InForce   *declarations.Version
	Pending   int
	LastSeen  time.Time
	Available bool
}

// versionView is one version of a declaration, with what it changed from the one before.
type versionView struct {
	declarations.Version
	Status  string
	Changes []catalogue.DiffLine
}

type registerPage struct {
	ID       string
	Versions []versionView
	IsDPO    bool
}

func (o *office) listRegisters(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	history, err := o.deps.Declarations.History(r.Context())
	if err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The register catalogue is not available right now.")
		return
	}
	inForce, _ := o.deps.Declarations.VersionsInForce(r.Context(), time.Now())
	seen, _ := o.deps.Declarations.LastSeen(r.Context())
	var rows []registerRow
	index := map[string]int{}
	for _, v := range history {
		i, ok := index[v.RegisterID]
		if !ok {
			i = len(rows)
			index[v.RegisterID] = i
			rows = append(rows, registerRow{ID: v.RegisterID, Name: nameOf(v), LastSeen: seen[v.RegisterID],
				Available: catalogue.Available(seen[v.RegisterID], time.Now())})
		}
		if v.ApprovedAt == nil {
			rows[i].Pending++
		}
	}
	for i := range inForce {
		if j, ok := index[inForce[i].RegisterID]; ok {
			rows[j].InForce = &inForce[i]
		}
	}
	o.render(w, http.StatusOK, "registers", sess, rows)
}

func nameOf(v declarations.Version) string {
	var d contracts.Declaration
	if json.Unmarshal(v.Declaration, &d) == nil && d.Name.EN != "" {
		return d.Name.EN
	}
	return v.RegisterID
}

// digestPattern is a declaration version's digest: anything else names no version, and is refused
// before it reaches the store.
var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// validRegisterID reports whether an id can be a register's at all: any other is not found, before
// anything is read.
func validRegisterID(id string) bool { return contracts.Validator().Var(id, "register_id") == nil }

func (o *office) showRegister(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	if !validRegisterID(r.PathValue("id")) {
		o.fail(w, http.StatusNotFound, "No such register.")
		return
	}
	page, err := o.registerVersions(r, r.PathValue("id"))
	if err != nil {
		o.fail(w, http.StatusServiceUnavailable, "The register catalogue is not available right now.")
		return
	}
	if len(page.Versions) == 0 {
		o.fail(w, http.StatusNotFound, "No such register.")
		return
	}
	page.IsDPO = hasRole(sess.Identity, RoleDPO)
	o.render(w, http.StatusOK, "register", sess, page)
}

// registerVersions lists a register's versions, newest first, each with its changes from the one
// announced before it and whether it is in force, superseded or waiting for a DPO.
func (o *office) registerVersions(r *http.Request, id string) (registerPage, error) {
	history, err := o.deps.Declarations.History(r.Context())
	if err != nil {
		return registerPage{}, err
	}
	inForce, err := o.deps.Declarations.VersionsInForce(r.Context(), time.Now())
	if err != nil {
		return registerPage{}, err
	}
	current := ""
	for _, v := range inForce {
		if v.RegisterID == id {
			current = v.Digest
		}
	}
	var mine []declarations.Version
	for _, v := range history {
		if v.RegisterID == id {
			mine = append(mine, v)
		}
	}
	page := registerPage{ID: id}
	for i, v := range mine {
		var previous json.RawMessage
		if i+1 < len(mine) {
			previous = mine[i+1].Declaration
		}
		status := "pending approval"
		switch {
		case v.Digest == current:
			status = "in force"
		case v.ApprovedAt != nil:
			status = "superseded"
		}
		page.Versions = append(page.Versions, versionView{Version: v, Status: status,
			Changes: catalogue.Changes(catalogue.Diff(previous, v.Declaration))})
	}
	return page, nil
}

func (o *office) approveDeclaration(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staffForm(w, r, RoleDPO, "Only the data protection officer approves register rules.")
	if !ok {
		return
	}
	id, digest := r.PathValue("id"), r.PostFormValue("digest")
	if !validRegisterID(id) {
		o.fail(w, http.StatusNotFound, "No such register.")
		return
	}
	if !digestPattern.MatchString(digest) {
		o.fail(w, http.StatusUnprocessableEntity, "digest: must be the version's sha256:… digest")
		return
	}
	err := o.deps.Declarations.Approve(r.Context(), id, digest, staffName(sess.Identity))
	switch {
	case errors.Is(err, store.ErrNotFound):
		o.fail(w, http.StatusNotFound, "digest: no such version of this register")
		return
	case err != nil:
		o.fail(w, http.StatusServiceUnavailable, "The approval could not be recorded. Try again.")
		return
	}
	sess.Notice = "Version approved: requests received from now on use it."
	_ = o.sessions.Save(r.Context(), w, sess)
	http.Redirect(w, r, "/registers/"+id, http.StatusSeeOther)
}
