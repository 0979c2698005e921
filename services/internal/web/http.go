package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"kirjaamo.dev/contracts"
)

// Problem is an RFC 9457 problem document, with the fields that failed validation.
type Problem struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail,omitempty"`
	Errors []contracts.FieldError `json:"errors,omitempty"`
}

// WriteProblem answers an API call with a problem document.
func WriteProblem(w http.ResponseWriter, status int, title, detail string, fields []contracts.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Errors: fields})
}

// WriteJSON answers an API call with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SecurityHeaders forbids every other origin: pages load scripts, styles, images and fonts from their
// own origin only, may not be framed, and send no referrer to anyone. A site served over HTTPS
// tells browsers to reach it only so for a year (HSTS).
func SecurityHeaders(next http.Handler, https bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if https {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Logged writes one line per request: the route pattern, never the query or form, so that no
// identifier reaches the log; and it turns a panic into a logged 500 instead of a dropped connection.
func Logged(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					// A download that cannot be completed (a package that did not arrive whole): the
					// server must abort the response, so that the browser reports it failed rather
					// than complete.
					log.Warn("response aborted", "method", r.Method, "route", r.Pattern)
					panic(p)
				}
				log.Error("handler panicked", "method", r.Method, "route", r.Pattern, "panic_type", typeName(p))
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			log.Log(r.Context(), level, "http", "method", r.Method, "route", r.Pattern, "status", rec.status,
				"took", time.Since(start).Round(time.Microsecond))
		}()
		next.ServeHTTP(rec, r)
	})
}

func typeName(v any) string {
	switch v.(type) {
	case error:
		return "error"
	case string:
		return "string"
	}
	return "other"
}
