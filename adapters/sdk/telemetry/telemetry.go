// Package telemetry is what Kirjaamo's processes, the platform's services and the registers'
// adapters alike, show of themselves to the people who run them: Prometheus metrics and health and
// readiness on a small HTTP server of their own (ops.go), OpenTelemetry traces exported over OTLP when
// the standard OTEL_ variables say where (off by default), the trace's id in every log line written
// with a context that carries one, and the trace context in the headers of NATS messages, so that a
// request's trace runs from the portal through the workflow to each register's adapter and back.
//
// Nothing personal goes into a metric's labels, a span's name or its attributes: they carry routes,
// register ids, operations, statuses and request ids (random), never identifiers, names or records.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Propagator carries a trace across processes: W3C trace context, in HTTP and NATS headers and
// Temporal's.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Tracer is the tracer of a part of Kirjaamo, named by its import path.
func Tracer(name string) trace.Tracer { return otel.Tracer(name) }

// Exporting reports whether the standard variables ask for traces to be exported: OTEL_TRACES_EXPORTER
// is otlp, or unset with an OTLP endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true turns it off.
func Exporting() (bool, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch exporter := os.Getenv("OTEL_TRACES_EXPORTER"); exporter {
	case "none":
		return false, nil
	case "otlp":
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return false, nil
		}
	default:
		return false, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%s: only otlp or none", exporter)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := os.Getenv(v); p != "" && p != "grpc" {
			return false, fmt.Errorf("telemetry: %s=%s: traces are exported over OTLP/gRPC only", v, p)
		}
	}
	return true, nil
}

// Setup makes the process propagate trace context and, when the OTEL_ variables ask for it, export
// its traces over OTLP/gRPC (endpoint, headers, TLS, timeout, sampler and resource from the same
// variables; service is the service.name unless OTEL_SERVICE_NAME says otherwise). shutdown flushes
// what is still buffered; call it at the end.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	on, err := Exporting()
	if err != nil || !on {
		return func(context.Context) error { return nil }, err
	}
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", service)), resource.WithFromEnv(),
		resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// WithTraceIDs adds the trace and span ids of the record's context, if it carries a span, to every
// log line, so that a line leads to its trace and a trace to its lines.
func WithTraceIDs(h slog.Handler) slog.Handler { return traceIDs{h} }

type traceIDs struct{ slog.Handler }

func (h traceIDs) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceIDs) WithAttrs(as []slog.Attr) slog.Handler { return traceIDs{h.Handler.WithAttrs(as)} }
func (h traceIDs) WithGroup(name string) slog.Handler    { return traceIDs{h.Handler.WithGroup(name)} }

// headerCarrier reads and writes trace context in a NATS message's headers.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into NATS message headers, making them if h is nil.
func Inject(ctx context.Context, h nats.Header) nats.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return h
	}
	if h == nil {
		h = nats.Header{}
	}
	Propagator.Inject(ctx, headerCarrier(h))
	return h
}

// Extract returns ctx with the trace context a NATS message carried, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return Propagator.Extract(ctx, headerCarrier(h))
}
