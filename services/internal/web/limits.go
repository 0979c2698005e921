package web

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"kirjaamo.dev/contracts"
)

// Limits bound how many state-changing calls (anything but GET and HEAD: forms, API calls) one
// person and one address may make in a minute, on a site. Past a limit the site answers 429 with
// Retry-After, and does nothing. Their variables take the site's prefix.
type Limits struct {
	CallsPerMinute           int `env:"CALLS_PER_MINUTE" doc:"state-changing calls (forms and API calls other than reads) one signed-in person may make in a minute; past it, 429 with Retry-After"`
	CallsPerAddressPerMinute int `env:"CALLS_PER_ADDRESS_PER_MINUTE" doc:"state-changing calls one network address may make in a minute, whoever makes them (the connection's address: behind a proxy, its own)"`
}

// DefaultLimits are the limits unless configured otherwise: ample for a person, and for the few
// people behind one address.
func DefaultLimits() Limits { return Limits{CallsPerMinute: 30, CallsPerAddressPerMinute: 120} }

// Check refuses a limit that would let nothing through.
func (l *Limits) Check() error {
	if l.CallsPerMinute < 1 || l.CallsPerAddressPerMinute < 1 {
		return errors.New("_CALLS_PER_MINUTE and _CALLS_PER_ADDRESS_PER_MINUTE must be positive")
	}
	return nil
}

// Counter counts calls against a limit in a window (*limits.Counter), returning how long until the
// key may call again, or 0 if this call is within the limit.
type Counter interface {
	Take(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error)
}

// Limiter applies a site's limits with a counter.
type Limiter struct {
	Site    string
	Limits  Limits
	Counter Counter
}

// changes reports whether a call changes something: what the limits count.
func changes(r *http.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }

// Address counts a state-changing call against the address it comes from.
func (l *Limiter) Address(r *http.Request) (time.Duration, error) {
	if !changes(r) {
		return 0, nil
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return l.Counter.Take(r.Context(), l.Site+" address "+host, l.Limits.CallsPerAddressPerMinute, time.Minute)
}

// Subject counts a state-changing call against the person who makes it.
func (l *Limiter) Subject(r *http.Request, subject string) (time.Duration, error) {
	if !changes(r) {
		return 0, nil
	}
	return l.Counter.Take(r.Context(), l.Site+" subject "+subject, l.Limits.CallsPerMinute, time.Minute)
}

// PerAddress answers a state-changing call past its address's limit itself, with tooMany, before
// the site does anything with it; a counter that cannot be reached lets the call through, so that
// an outage of the count is no outage of the site.
func (l *Limiter) PerAddress(next http.Handler, tooMany func(w http.ResponseWriter, r *http.Request, retry time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retry, err := l.Address(r); err == nil && retry > 0 {
			tooMany(w, r, retry)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RetryAfter sets the Retry-After header, in whole seconds.
func RetryAfter(w http.ResponseWriter, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
}

// TooMany answers an API call past a limit: 429, Retry-After, and a problem saying which.
func TooMany(w http.ResponseWriter, retry time.Duration, detail string, fields ...contracts.FieldError) {
	RetryAfter(w, retry)
	WriteProblem(w, http.StatusTooManyRequests, "Too many requests", detail, fields)
}
