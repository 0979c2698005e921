package portal

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/web"
)

// caseView is the case page's data. A request whose case is not stored yet (its workflow's first
// step has not run) shows as being registered, with a refresh.
type caseView struct {
	RequestID string
	Case      cases.Case
	Replied   bool
	HasData   bool
	Registers []registerView
	// The subject's own steps (subject.go): registers waiting for an identifier, the form to supply
	// one, whether the request can be withdrawn, and once withdrawn what became of each register.
	Waiting     []waitingView
	SupplyTypes []string
	Supply      supplyForm
	// Pending are the identifier types whose one-time code the page asks for; Verify, what was
	// wrong with the last code.
	Pending     []string
	Verify      verifyForm
	CanWithdraw bool
	Cancelled   []string
	Applied     []string
}

type registerView struct {
	ID          string
	Name        string
	Controller  string
	Code        string
	Explanation string
	Citations   []string
	NoticeDue   bool
	Records     int
	Purposes    []purposeView
}

// purposeView is the Art 15(1)(a)-(h) information of one purpose, from the register's declaration:
// why, on what basis, which data, to whom, for how long, and from where.
type purposeView struct {
	Name       string
	Basis      string
	Categories []string
	Recipients []string
	Retention  []string
	Source     string
}

func purposesOf(d *contracts.Declaration, lang contracts.Language) []purposeView {
	if d == nil {
		return nil
	}
	var out []purposeView
	for _, p := range d.Purposes {
		v := purposeView{Name: p.Name.In(lang), Basis: "GDPR Art " + string(p.LegalBasis), Source: p.Source.In(lang)}
		for _, law := range p.BasisLaw {
			v.Basis += "; " + law.Ref()
		}
		names := map[string]string{}
		for _, c := range p.DataCategories {
			names[c.ID] = c.Name.In(lang)
			v.Categories = append(v.Categories, c.Name.In(lang))
		}
		for _, r := range p.Recipients {
			v.Recipients = append(v.Recipients, r.Name.In(lang))
		}
		for _, r := range p.Retention {
			how := r.Period
			if r.Criteria != nil {
				how = r.Criteria.In(lang)
			}
			v.Retention = append(v.Retention, names[r.Category]+": "+how+" ("+r.Trigger.In(lang)+")")
		}
		out = append(out, v)
	}
	return out
}

func (p *portal) showRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	file, err := p.ownCase(r, sess.Identity, id)
	if errors.Is(err, store.ErrNotFound) {
		if p.beingRegistered(r, sess, id) {
			// A phone number given with the request waits for its code already; the page asks for
			// it at once (and stops refreshing itself, which would clear what is being typed).
			v := caseView{RequestID: id}
			pending, err := p.deps.Challenges.Pending(r.Context(), id)
			if err != nil {
				p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
				return
			}
			for _, c := range pending {
				v.Pending = append(v.Pending, c.Type)
			}
			p.render(w, r, http.StatusOK, "show", p.takeNotice(w, r, sess), v)
			return
		}
		p.fail(w, r, http.StatusNotFound, "portal.not_found")
		return
	}
	if err != nil {
		p.deps.Log.Error("show request", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	lang := langOf(r)
	v := caseView{RequestID: id, Case: file.Case, Replied: file.Replied()}
	if v.Replied {
		for _, reg := range file.Registers {
			v.HasData = v.HasData || reg.Records > 0
			v.Registers = append(v.Registers, registerView{ID: reg.ID, Name: reg.Name.In(lang), Controller: reg.Controller.In(lang),
				Code: reg.Code, Explanation: reg.Explanation.In(lang), Citations: reg.Citations, NoticeDue: reg.NoticeDue, Records: reg.Records,
				Purposes: purposesOf(reg.Declaration, lang)})
		}
	}
	if err := p.subjectSteps(r.Context(), &v, file, lang); err != nil {
		p.deps.Log.Error("show request", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	p.render(w, r, http.StatusOK, "show", p.takeNotice(w, r, sess), v)
}

// takeNotice returns the session as the page shows it, with its one-time message, and forgets the
// message.
func (p *portal) takeNotice(w http.ResponseWriter, r *http.Request, sess *web.Session) *web.Session {
	if sess.Notice == "" {
		return sess
	}
	shown := *sess
	sess.Notice = ""
	_ = p.sessions.Save(r.Context(), w, sess)
	return &shown
}

// beingRegistered reports whether a request this session sent has been started and its case is not
// stored yet, the moment between the two. It answers only for the session's own requests: for any
// other id, a running request is as unknown as one that does not exist.
func (p *portal) beingRegistered(r *http.Request, sess *web.Session, id string) bool {
	if !slices.Contains(sess.Submitted, id) {
		return false
	}
	running, err := p.deps.Requests.Running(r.Context(), id)
	return err == nil && running
}

// rememberSubmitted notes a request the session sent, keeping the last few.
func rememberSubmitted(sess *web.Session, id string) {
	if slices.Contains(sess.Submitted, id) {
		return
	}
	sess.Submitted = append(sess.Submitted, id)
	if n := len(sess.Submitted); n > 10 {
		sess.Submitted = sess.Submitted[n-10:]
	}
}

func (p *portal) download(w http.ResponseWriter, r *http.Request, zip bool) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	file, err := p.ownCase(r, sess.Identity, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !file.Replied()) {
		p.fail(w, r, http.StatusNotFound, "portal.not_found")
		return
	}
	if err != nil {
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	pkg := file.Package(time.Now())
	name := "kirjaamo-" + file.Case.RequestID[:8]
	if zip {
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
		err = pkg.WriteZIP(r.Context(), w, opener(p.deps.Packages, file.Case.RequestID))
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
		err = pkg.WriteJSON(r.Context(), w, opener(p.deps.Packages, file.Case.RequestID))
	}
	if err != nil {
		// The headers are out, so the download cannot become an error page: it ends cut short, which
		// the browser reports as a failed download, never as a complete one.
		p.deps.Log.Error("write package", "request", file.Case.RequestID, "error", err)
		panic(http.ErrAbortHandler)
	}
}

func (p *portal) downloadJSON(w http.ResponseWriter, r *http.Request) { p.download(w, r, false) }
func (p *portal) downloadZIP(w http.ResponseWriter, r *http.Request)  { p.download(w, r, true) }
