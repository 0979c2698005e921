package office

import (
	"context"
	"net/http"
	"time"

	"kirjaamo.dev/services/internal/store/events"
)

// HeldBack counts the processing events registers hold back from the people they are about, per
// register, with when they come due (*events.Store): all the office sees of them. The events
// themselves, and whom they are about, are not the office's to see while a law keeps them back.
type HeldBack interface {
	HeldBack(ctx context.Context, now time.Time) ([]events.Held, error)
}

// heldRow is a register's held-back events as the page shows them.
type heldRow struct {
	events.Held
	Name string
}

// processingHeld shows, per register, how many processing events are held back and when they come due.
func (o *office) processingHeld(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	held, err := o.deps.Processing.HeldBack(r.Context(), time.Now())
	if err != nil {
		o.deps.Log.Error("processing: held back", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The processing events are not available right now.")
		return
	}
	names := map[string]string{}
	if inForce, err := o.deps.Declarations.VersionsInForce(r.Context(), time.Now()); err == nil {
		for _, v := range inForce {
			names[v.RegisterID] = nameOf(v)
		}
	}
	rows := make([]heldRow, len(held))
	for i, h := range held {
		rows[i] = heldRow{Held: h, Name: names[h.RegisterID]}
		if rows[i].Name == "" {
			rows[i].Name = h.RegisterID
		}
	}
	o.render(w, http.StatusOK, "processing", sess, rows)
}
