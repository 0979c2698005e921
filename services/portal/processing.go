package portal

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
)

// "Who has used my data": the processing events the registers published about the signed-in person
// (contracts/PROTOCOL.md, "Processing events"), to browse with filters given as GET parameters, to
// export as CSV, to check against their block's signed checkpoint, and to act on with a request.
// A person reading their own events needs no staff record: nobody of the staff reads them.

// Processing is the processing events as a person's pages read them (*events.Store).
type Processing interface {
	Page(ctx context.Context, person []contracts.Identifier, f events.Filter, after *events.Cursor, limit int, now time.Time) (events.Page, error)
	Export(ctx context.Context, person []contracts.Identifier, f events.Filter, now time.Time, each func(events.Shown) error) error
	Event(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (events.Shown, error)
	Proof(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (events.Proof, string, error)
	Subscribe(ctx context.Context, person []contracts.Identifier, address string, lang contracts.Language, now time.Time) error
	Unsubscribe(ctx context.Context, person []contracts.Identifier) error
	Subscribed(ctx context.Context, person []contracts.Identifier) (*events.Subscription, error)
}

func init() {
	funcs["hex"] = func(b []byte) string { return hex.EncodeToString(b) }
}

// pageSize is how many events a page shows.
const pageSize = 50

func (p *portal) processingRoutes(mux *web.Mux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/processing", p.processingPage)
	mux.HandleFunc("GET "+prefix+"/processing.csv", p.processingCSV)
	mux.HandleFunc("GET "+prefix+"/processing/{register}/{event}/proof", p.processingProof)
	mux.HandleFunc("GET "+prefix+"/processing/{register}/{event}/proof.json", p.processingProofJSON)
	mux.HandleFunc("GET "+prefix+"/processing/{register}/{event}/act", p.processingAct)
	mux.HandleFunc("POST "+prefix+"/processing/notices", p.processingNotices)
}

// option is one choice of a filter.
type option struct {
	Value, Label string
	Selected     bool
}

// filterForm is the filters as typed, and what is wrong with them.
type filterForm struct {
	Register, Organisation, Purpose, Operation, From, To string
	Errors                                               map[string]string
}

// eventView is an event as the page shows it.
type eventView struct {
	RegisterID, EventID, Register, When   string
	Organisation, Role, Person, Recipient string
	Purpose, Explanation, Basis           string
	Categories                            []string
	Operation                             contracts.ProcessingOperation
	Problem                               bool
	Anchored                              bool
	Link                                  string
}

type processingView struct {
	Filter                          filterForm
	Registers, Purposes, Operations []option
	Events                          []eventView
	Broken                          int
	// Query is the filters as a query string; Next, the next page's. They are template.URL so that
	// the template writes them as they are after the "?" of a link, not escaped again as one value.
	Query, Next template.URL
	Notices     noticeView
}

type noticeView struct {
	On      bool
	Address string
}

// eventRegisters are the registers in force that declare processing events, by what their
// declarations say, for the page.
type eventRegisters struct {
	registers map[string]contracts.Declaration
	order     []string
}

func (p *portal) eventRegisters(ctx context.Context) (eventRegisters, error) {
	c := eventRegisters{registers: map[string]contracts.Declaration{}}
	declared, err := p.deps.Catalogue.InForce(ctx, time.Now())
	if err != nil {
		return c, err
	}
	for _, d := range declared {
		if d.Declaration.Processing == nil {
			continue
		}
		c.registers[d.Declaration.RegisterID] = d.Declaration
		c.order = append(c.order, d.Declaration.RegisterID)
	}
	slices.Sort(c.order)
	return c, nil
}

// person is the signed-in person's identifiers, by which their events are found.
func person(sess *web.Session) []contracts.Identifier { return SubjectOf(sess.Identity).Identifiers }

// filterFields are the filters in the order the page asks them, for the error summary.
var filterFields = []string{"form", "register", "organisation", "purpose", "operation", "from", "to"}

// filterErrors are the filters' problems as the layout's error summary lists them, each linking to
// its field (a problem with the whole form, to the filters).
func filterErrors(form filterForm) []formError {
	var out []formError
	for _, field := range filterFields {
		if msg := form.Errors[field]; msg != "" {
			input := field
			if field == "form" {
				input = "filters"
			}
			out = append(out, formError{Field: field, Input: input, Message: msg})
		}
	}
	return out
}

// readFilter reads the filters from the query, each checked; a problem is told at its field.
func readFilter(q url.Values, c eventRegisters, t texts.Catalog) (events.Filter, filterForm, bool) {
	form := filterForm{Register: q.Get("register"), Organisation: contracts.NormalizeText(q.Get("organisation")), Purpose: q.Get("purpose"),
		Operation: q.Get("operation"), From: q.Get("from"), To: q.Get("to"), Errors: map[string]string{}}
	f := events.Filter{Register: form.Register, Purpose: form.Purpose, Operation: contracts.ProcessingOperation(form.Operation), Organisation: form.Organisation}
	if _, ok := c.registers[form.Register]; form.Register != "" && !ok {
		form.Errors["register"] = t.T("portal.processing.bad_register")
	}
	if form.Purpose != "" && !slices.ContainsFunc(c.purposes(t.Language(), ""), func(o option) bool { return o.Value == form.Purpose }) {
		form.Errors["purpose"] = t.T("portal.processing.bad_purpose")
	}
	if form.Operation != "" && !f.Operation.Valid() {
		form.Errors["operation"] = t.T("portal.processing.bad_operation")
	}
	if contracts.TextRule(form.Organisation, 200) != "" {
		form.Errors["organisation"] = t.T("portal.processing.bad_organisation")
	}
	for field, to := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		raw := q.Get(field)
		if raw == "" {
			continue
		}
		day, err := time.ParseInLocation(time.DateOnly, raw, deadline.Helsinki)
		if err != nil {
			form.Errors[field] = t.T("portal.processing.bad_date")
			continue
		}
		if field == "to" {
			day = day.AddDate(0, 0, 1) // through the whole day
		}
		*to = day
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) && form.Errors["to"] == "" {
		form.Errors["to"] = t.T("portal.processing.bad_range")
	}
	return f, form, len(form.Errors) == 0
}

func (c eventRegisters) purposes(lang contracts.Language, selected string) []option {
	var out []option
	for _, id := range c.order {
		for _, pp := range c.registers[id].Processing.Purposes {
			if !slices.ContainsFunc(out, func(o option) bool { return o.Value == pp.ID }) {
				out = append(out, option{Value: pp.ID, Label: pp.Name.In(lang), Selected: pp.ID == selected})
			}
		}
	}
	return out
}

func (c eventRegisters) view(e events.Shown, lang contracts.Language) eventView {
	ev := e.Event
	v := eventView{RegisterID: ev.RegisterID, EventID: ev.EventID, Register: ev.RegisterID, When: ev.At.In(deadline.Helsinki).Format("2.1.2006 15.04"),
		Organisation: ev.Actor.Organisation, Role: ev.Actor.Role, Person: ev.Actor.Person, Recipient: ev.Recipient, Purpose: ev.Purpose,
		Basis: string(ev.LegalBasis), Operation: ev.Operation, Problem: e.Problem != "", Anchored: e.Anchored,
		Link: "/" + string(lang) + "/processing/" + url.PathEscape(ev.RegisterID) + "/" + url.PathEscape(ev.EventID)}
	if d, ok := c.registers[ev.RegisterID]; ok {
		v.Register = d.Name.In(lang)
		if pp, ok := d.Processing.Purpose(ev.Purpose); ok {
			v.Purpose, v.Explanation = pp.Name.In(lang), pp.Explanation.In(lang)
			for _, id := range ev.DataCategories {
				if cat, ok := pp.Category(id); ok {
					v.Categories = append(v.Categories, cat.Name.In(lang))
				} else {
					v.Categories = append(v.Categories, id)
				}
			}
		}
	}
	return v
}

func (p *portal) processingPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	t := texts.In(lang)
	c, err := p.eventRegisters(r.Context())
	if err != nil {
		p.deps.Log.Error("processing: registers in force", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	q := r.URL.Query()
	f, form, valid := readFilter(q, c, t)
	v := processingView{Filter: form, Purposes: c.purposes(lang, form.Purpose)}
	for _, id := range c.order {
		v.Registers = append(v.Registers, option{Value: id, Label: c.registers[id].Name.In(lang), Selected: id == form.Register})
	}
	for _, op := range contracts.ProcessingOperations {
		v.Operations = append(v.Operations, option{Value: string(op), Label: t.Of("portal.processing.operation", op), Selected: string(op) == form.Operation})
	}
	if sub, err := p.deps.Processing.Subscribed(r.Context(), person(sess)); err == nil && sub != nil {
		v.Notices = noticeView{On: true, Address: sub.Address}
	} else {
		v.Notices.Address = sess.Identity.Email
	}
	if !valid {
		p.render(w, r, http.StatusUnprocessableEntity, "processing", sess, v, filterErrors(form)...)
		return
	}
	var after *events.Cursor
	if raw := q.Get("before"); raw != "" {
		cur, ok := events.ParseCursor(raw)
		if !ok {
			v.Filter.Errors["form"] = t.T("portal.processing.bad_page")
			p.render(w, r, http.StatusUnprocessableEntity, "processing", sess, v, filterErrors(v.Filter)...)
			return
		}
		after = &cur
	}
	page, err := p.deps.Processing.Page(r.Context(), person(sess), f, after, pageSize, time.Now())
	if err != nil {
		p.deps.Log.Error("processing: page", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	for _, e := range page.Events {
		v.Events = append(v.Events, c.view(e, lang))
	}
	v.Broken = page.Broken
	filters := url.Values{}
	for k, val := range map[string]string{"register": form.Register, "organisation": form.Organisation, "purpose": form.Purpose,
		"operation": form.Operation, "from": form.From, "to": form.To} {
		if val != "" {
			filters.Set(k, val)
		}
	}
	v.Query = template.URL(filters.Encode())
	if page.Next != nil {
		filters.Set("before", page.Next.String())
		v.Next = template.URL(filters.Encode())
	}
	p.render(w, r, http.StatusOK, "processing", sess, v)
}

// processingCSV exports the person's events that the filters let through, as CSV in the page's
// language: one row an event, its register, purpose and data categories by their names.
func (p *portal) processingCSV(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	t := texts.In(lang)
	c, err := p.eventRegisters(r.Context())
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	f, _, valid := readFilter(r.URL.Query(), c, t)
	if !valid {
		p.fail(w, r, http.StatusUnprocessableEntity, "portal.processing.bad_filter")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="processing-`+time.Now().In(deadline.Helsinki).Format("2006-01-02")+`.csv"`)
	out := csv.NewWriter(w)
	_ = out.Write([]string{t.T("portal.processing.csv_time"), t.T("portal.processing.csv_register"), t.T("portal.processing.csv_organisation"),
		t.T("portal.processing.csv_role"), t.T("portal.processing.csv_person"), t.T("portal.processing.csv_purpose"), t.T("portal.processing.csv_basis"),
		t.T("portal.processing.csv_categories"), t.T("portal.processing.csv_operation"), t.T("portal.processing.csv_recipient"),
		t.T("portal.processing.csv_event"), t.T("portal.processing.csv_verified")})
	err = p.deps.Processing.Export(r.Context(), person(sess), f, time.Now(), func(e events.Shown) error {
		v := c.view(e, lang)
		verified := t.T("portal.processing.csv_yes")
		if v.Problem {
			verified = t.T("portal.processing.csv_no")
		}
		return out.Write([]string{e.Event.At.In(deadline.Helsinki).Format(time.RFC3339), v.Register, v.Organisation, v.Role, v.Person, v.Purpose,
			v.Basis, strings.Join(v.Categories, "; "), t.Of("portal.processing.operation", v.Operation), v.Recipient, v.EventID, verified})
	})
	out.Flush()
	if err != nil {
		// The rows already sent cannot be taken back; the log says the export was cut short.
		p.deps.Log.Error("processing: export cut short", "error", err)
	}
}

// proofView is the proof of one event, as the page shows it.
type proofView struct {
	Event      eventView
	Proof      events.Proof
	Problem    string
	JSON, Back string
}

func (p *portal) processingProof(w http.ResponseWriter, r *http.Request) {
	v, sess, ok := p.proof(w, r)
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "processing-proof", sess, v)
}

func (p *portal) processingProofJSON(w http.ResponseWriter, r *http.Request) {
	v, _, ok := p.proof(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="proof-`+v.Event.EventID+`.json"`)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v.Proof)
}

func (p *portal) proof(w http.ResponseWriter, r *http.Request) (proofView, *web.Session, bool) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return proofView{}, nil, false
	}
	lang := langOf(r)
	c, err := p.eventRegisters(r.Context())
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return proofView{}, nil, false
	}
	proof, problem, err := p.deps.Processing.Proof(r.Context(), person(sess), r.PathValue("register"), r.PathValue("event"), time.Now())
	if errors.Is(err, events.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "portal.processing.not_found")
		return proofView{}, nil, false
	}
	if err != nil {
		p.deps.Log.Error("processing: proof", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return proofView{}, nil, false
	}
	v := proofView{Event: c.view(events.Shown{Event: proof.Event, Problem: problem}, lang), Proof: proof, Problem: problem, Back: "/" + string(lang) + "/processing"}
	if proof.Event.EventID == "" { // the event itself did not open: show what is known of it
		v.Event.RegisterID, v.Event.EventID = r.PathValue("register"), r.PathValue("event")
	}
	v.JSON = "/" + string(lang) + "/processing/" + url.PathEscape(v.Event.RegisterID) + "/" + url.PathEscape(v.Event.EventID) + "/proof.json"
	return v, sess, true
}

// actRights are the requests a person may start from an event: to see what the register holds,
// to object to the processing, or to have it restricted.
var actRights = []contracts.Right{contracts.RightAccess, contracts.RightObjection, contracts.RightRestriction}

// processingAct starts a request about the event on the request form: a new draft with the right
// chosen and the details naming the register, the time, who acted, why and the event's id, and the
// person lands on the details step to say more, then goes on through the form's own steps (Back
// leads to the right, chosen). The draft replaces one in progress: the person chose to start here.
func (p *portal) processingAct(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	right := contracts.Right(r.URL.Query().Get("right"))
	if !slices.Contains(actRights, right) {
		p.fail(w, r, http.StatusUnprocessableEntity, "portal.processing.bad_right")
		return
	}
	c, err := p.eventRegisters(r.Context())
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	e, err := p.deps.Processing.Event(r.Context(), person(sess), r.PathValue("register"), r.PathValue("event"), time.Now())
	if errors.Is(err, events.ErrNotFound) {
		p.fail(w, r, http.StatusNotFound, "portal.processing.not_found")
		return
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	v := c.view(e, lang)
	who := v.Organisation
	if v.Role != "" {
		who += ", " + v.Role
	}
	if v.Person != "" {
		who += ", " + v.Person
	}
	details := texts.In(lang).T("portal.processing.act_details", v.Register, v.When, who, v.Purpose,
		texts.In(lang).Of("portal.processing.operation", v.Operation), v.EventID)
	d := draft{Key: uuid.NewString(), Right: string(right), Details: details, Answered: []string{stepRight}}
	if err := p.saveDraft(w, r, sess, d); err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	http.Redirect(w, r, stepPath(lang, stepDetails), http.StatusSeeOther)
}

// processingNotices turns the e-mail notices of new disclosures on, to the address the person
// signed in with, or off.
func (p *portal) processingNotices(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	t := texts.In(lang)
	var err error
	notice := t.T("portal.processing.notices_off")
	switch r.PostFormValue("notices") {
	case "on":
		if sess.Identity.Email == "" {
			p.fail(w, r, http.StatusUnprocessableEntity, "portal.processing.no_address")
			return
		}
		err = p.deps.Processing.Subscribe(r.Context(), person(sess), sess.Identity.Email, lang, time.Now())
		notice = t.T("portal.processing.notices_on")
	case "off":
		err = p.deps.Processing.Unsubscribe(r.Context(), person(sess))
	default:
		p.fail(w, r, http.StatusBadRequest, "portal.bad_request")
		return
	}
	if err != nil {
		p.deps.Log.Error("processing: notices", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	p.flash(w, r, sess, notice)
	http.Redirect(w, r, "/"+string(lang)+"/processing#notices", http.StatusSeeOther)
}
