package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/sdk/telemetry"
)

var (
	httpRequests = telemetry.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kirjaamo_http_requests_total",
		Help: "HTTP requests answered, by site, route pattern, method and status code.",
	}, []string{"service", "route", "method", "code"}))
	httpSeconds = telemetry.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kirjaamo_http_request_duration_seconds",
		Help:    "How long a site took to answer, by site and route pattern.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"service", "route"}))
)

var tracer = telemetry.Tracer("kirjaamo.dev/services/internal/web")

// Observed traces and counts every request of a site: a server span named by the route pattern
// (continuing a W3C trace context the caller sent), and the rate, status codes and duration per
// route. Neither carries the path, the query, the client's address or anything else a person sent:
// the route pattern says which page, the request's own ids are in its path values only. It goes
// outermost, so that the log line Logged writes carries the span's trace id.
func Observed(service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := telemetry.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := knownMethod(r.Method)
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("kirjaamo.service", service)))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		start := time.Now()
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by the mux while routing
		if route == "" {
			route = "unmatched"
		}
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
		httpRequests.WithLabelValues(service, route, method, strconv.Itoa(rec.status)).Inc()
		httpSeconds.WithLabelValues(service, route).Observe(time.Since(start).Seconds())
	})
}

// knownMethod is the request's method, or "other" for one no route has: a caller cannot make up
// label values.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
