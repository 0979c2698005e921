package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/sdk/telemetry"
)

// Tracer makes a span of every statement run for a traced request (a context without a span, such
// as a background sweep, makes none). The span carries the statement's text, which is the
// platform's own with numbered parameters, never their values: identifiers and names travel only as
// parameters.
type Tracer struct{}

var _ pgx.QueryTracer = Tracer{}

var dbTracer = telemetry.Tracer("kirjaamo.dev/services/internal/store")

// TraceQueryStart starts a statement's span.
func (Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	op := operation(data.SQL)
	ctx, _ = dbTracer.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", op),
		attribute.String("db.query.text", strings.Join(strings.Fields(data.SQL), " "))))
	return ctx
}

// TraceQueryEnd ends it, marked as failed if the statement failed.
func (Tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		// The error's class only: PostgreSQL's message may quote a value.
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

// operation is the statement's first word, upper-cased: SELECT, INSERT, UPDATE ...
func operation(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "statement"
	}
	return strings.ToUpper(f[0])
}
