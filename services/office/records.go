package office

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store/record"
)

// showRecords gives a staff member the records one register returned on a case, as JSON Lines, for
// instance to check a package for other people's data before the reply (Art 15(4)). It is a view of
// the subject's data like the case page: it needs the purpose stated for the case, and the record
// logs it, naming the register. Records delivered as a package stream from the register's bucket
// through the checked reader, so a package of any size is shown without being held in memory.
func (o *office) showRecords(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	id, registerID := r.PathValue("id"), r.PathValue("register")
	grant, ok := sess.Views[id]
	if !ok || time.Now().After(grant.Until) {
		http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther) // the case page asks for the purpose
		return
	}
	file, ok := o.loadCase(w, r, id)
	if !ok {
		return
	}
	var reg *casefile.Register
	for i := range file.Registers {
		if file.Registers[i].ID == registerID {
			reg = &file.Registers[i]
		}
	}
	if reg == nil || (len(reg.Data) == 0 && reg.Package == nil) {
		o.fail(w, http.StatusNotFound, "That register returned no records on this case.")
		return
	}
	_, err := o.deps.Record.WriteOnce(r.Context(), record.Entry{Actor: staffName(sess.Identity), Role: roles(sess.Identity),
		Action: "viewed_records", RequestID: id, Purpose: grant.Purpose, Detail: map[string]any{"register_id": registerID, "session": sessionTag(sess)}},
		o.cfg.ViewWindow)
	if err != nil {
		o.deps.Log.Error("record view", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The view could not be recorded, so the records are not shown.")
		return
	}
	var body io.ReadCloser
	if reg.Package != nil {
		if body, err = o.deps.Packages.Open(r.Context(), id, registerID, *reg.Package); err != nil {
			o.deps.Log.Error("open package", "request", id, "register", registerID, "error", err)
			o.fail(w, http.StatusServiceUnavailable, "The register's package cannot be opened right now.")
			return
		}
		defer body.Close()
	}
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+registerID+`.jsonl"`)
	w.Header().Set("Cache-Control", "no-store")
	if body == nil {
		enc := json.NewEncoder(w)
		for _, rec := range reg.Data {
			if err := enc.Encode(rec); err != nil {
				return
			}
		}
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		// The headers are out: end the response cut short, so it cannot pass for the whole package.
		o.deps.Log.Error("stream package", "request", id, "register", registerID, "error", err)
		panic(http.ErrAbortHandler)
	}
}
