package portal

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
)

// caseView is the case page's data. A request whose case is not stored yet (its workflow's first
// step has not run) shows as being registered, with what to do meanwhile.
type caseView struct {
	RequestID string
	Case      cases.Case
	// Sent is the notice's key right after the request was sent: the page opens with the
	// confirmation, the request's reference and what happens next.
	Sent      string
	Replied   bool
	HasData   bool
	Registers []casefile.RegisterReply
	Timeline  []event
	// Extension is the extension of the deadline, with its reasons, if it was extended.
	Extended bool
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

// event is a step of the request's life, for its timeline.
type event struct {
	When time.Time
	What string
	// Due marks what is still to come: the deadline.
	Due bool
}

// timelineOf is the request's life so far, oldest first, and its deadline while a reply is due.
func timelineOf(c cases.Case, t texts.Catalog) []event {
	out := []event{{When: c.ReceivedAt, What: t.T("portal.timeline_received")}}
	if c.IdentityDecidedAt != nil {
		what := t.T("portal.timeline_identity_verified")
		if c.IdentityRefusal != "" {
			what = t.T("portal.timeline_identity_refused")
		}
		out = append(out, event{When: *c.IdentityDecidedAt, What: what})
	}
	for _, s := range c.SuppliedIdentifiers() {
		if s.Verified && s.VerifiedAt != nil {
			out = append(out, event{When: *s.VerifiedAt, What: t.T("portal.timeline_identifier", t.Of("identifier", s.Type))})
		}
	}
	if c.ExtendedAt != nil {
		out = append(out, event{When: *c.ExtendedAt, What: t.T("portal.timeline_extended", t.Date(c.Deadline))})
	}
	if c.RepliedAt != nil {
		out = append(out, event{When: *c.RepliedAt, What: t.T("portal.timeline_replied")})
	}
	if c.WithdrawnAt != nil {
		out = append(out, event{When: *c.WithdrawnAt, What: t.T("portal.timeline_withdrawn")})
	}
	slices.SortStableFunc(out, func(a, b event) int { return a.When.Compare(b.When) })
	if c.RepliedAt == nil && c.WithdrawnAt == nil && c.Status.Open() {
		out = append(out, event{When: c.Deadline, What: t.T("portal.timeline_deadline"), Due: true})
	}
	return out
}

func (p *portal) showRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	sent := ""
	if strings.HasPrefix(sess.Notice, "portal.sent") || sess.Notice == "portal.already_sent" {
		sent = sess.Notice
	}
	file, err := p.ownCase(r, sess.Identity, id)
	if errors.Is(err, store.ErrNotFound) {
		if p.beingRegistered(r, sess, id) {
			// A phone number given with the request waits for its code already; the page asks for
			// it at once.
			v := caseView{RequestID: id, Sent: sent}
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
	t := texts.In(lang)
	v := caseView{RequestID: id, Case: file.Case, Replied: file.Replied(), Sent: sent, Timeline: timelineOf(file.Case, t)}
	if v.Replied {
		v.Registers = file.Reply(t)
		for _, reg := range file.Registers {
			v.HasData = v.HasData || reg.Records > 0
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

// download serves the access package: the ZIP (cover letter in HTML and PDF, CSV, JSON), the JSON
// alone, or the cover letter as PDF, each in the page's language.
func (p *portal) download(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
		lang := langOf(r)
		pkg := file.Package(time.Now(), lang)
		open := opener(p.deps.Packages, file.Case.RequestID)
		name := pkg.FileName()
		switch format {
		case "zip":
			w.Header().Set("Content-Type", "application/zip")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
			err = pkg.WriteZIP(r.Context(), w, open)
		case "pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pdf"`)
			err = pkg.WritePDF(w)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
			err = pkg.WriteJSON(r.Context(), w, open)
		}
		if err != nil {
			// The headers are out, so the download cannot become an error page: it ends cut short,
			// which the browser reports as a failed download, never as a complete one.
			p.deps.Log.Error("write package", "request", file.Case.RequestID, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}
