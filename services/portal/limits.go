package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
)

// Limits (web.Limits, and SubmissionsPerHour and MaxOpenRequests of Config): a person, or an
// address, past a limit is answered 429 with Retry-After, and nothing is done.

// tooMany answers a call past a rate limit: the API with a problem document, a page in its language.
func (p *portal) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		web.TooMany(w, retry, "too many calls in a short time; try again after Retry-After seconds")
		return
	}
	web.RetryAfter(w, retry)
	p.fail(w, r, http.StatusTooManyRequests, "portal.too_many_requests")
}

// withinLimit counts a state-changing call against the person making it, and answers the call
// itself if it is past their limit.
func (p *portal) withinLimit(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) bool {
	retry, err := p.limiter.Subject(r, id.Subject)
	if err != nil {
		p.deps.Log.Warn("rate limit not counted", "error", err)
		return true
	}
	if retry > 0 {
		p.tooMany(w, r, retry)
		return false
	}
	return true
}

// errTooMany is a request refused by a limit on requests: too many sent in the hour (Retry
// set), or too many open (Open set).
type errTooMany struct {
	Retry time.Duration
	Open  int
}

func (e *errTooMany) Error() string {
	if e.Open > 0 {
		return fmt.Sprintf("%d requests open, the most one person may have", e.Open)
	}
	return "too many requests sent in an hour"
}

// submissionLimits checks a new request against the person's limits: how many they sent in the
// hour, and how many they have open. A request sent again (the same request id, already the
// person's) is the same request, and counts against neither.
func (p *portal) submissionLimits(r *http.Request, id *oidclogin.Identity, requestID string) error {
	if again, err := p.deps.Cases.Owned(r.Context(), requestID, id.Subject, identityCode(id)); err != nil || again {
		return err
	}
	open, err := p.deps.Cases.OpenFor(r.Context(), id.Subject, identityCode(id))
	if err != nil {
		return err
	}
	if open >= p.cfg.MaxOpenRequests {
		return &errTooMany{Retry: 24 * time.Hour, Open: open}
	}
	retry, err := p.deps.Limits.Take(r.Context(), "portal submissions "+id.Subject, p.cfg.SubmissionsPerHour, time.Hour)
	if err != nil {
		return err
	}
	if retry > 0 {
		return &errTooMany{Retry: retry}
	}
	return nil
}

// refusedByLimit answers a submission a limit refused, if one did.
func (p *portal) refusedByLimit(w http.ResponseWriter, r *http.Request, err error) bool {
	var limit *errTooMany
	if !errors.As(err, &limit) {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		web.TooMany(w, limit.Retry, limit.Error())
		return true
	}
	web.RetryAfter(w, limit.Retry)
	if limit.Open > 0 {
		p.failSaying(w, r, http.StatusTooManyRequests, texts.In(langOf(r)).T("portal.too_many_open", limit.Open))
		return true
	}
	p.fail(w, r, http.StatusTooManyRequests, "portal.too_many_requests")
	return true
}
