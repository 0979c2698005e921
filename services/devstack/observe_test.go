package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/workflows/request"
)

// TestOneRequestIsOneTrace: a request sent to the portal is one trace, from the portal's handler
// through the workflow's start, its run and its intake, to each register's task, the adapter's work
// on it and its result coming back, and the database statements on the way; the log lines carry the
// trace's id; and no span's name or attribute carries the person's name, identity code, e-mail
// address or phone number.
func TestOneRequestIsOneTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole platform on its servers; skipped by -short (make test-short)")
	}
	// The process's tracer provider records into memory, as an exporting one would export. Tracers
	// bind to the first provider set, so it stays; its recorder leaves at the end of the test.
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	otel.SetTracerProvider(tp)
	defer tp.UnregisterSpanProcessor(recorder)

	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{DataDir: t.TempDir(), FastPostgres: true,
		Logger: slog.New(telemetry.WithTraceIDs(slog.NewJSONHandler(logs, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	person := demo.People[1] // Matti: a Kanta client contact, invited to the clinic's events
	body := fmt.Sprintf(`{"right":"access","language":"fi","contact_email":%q,"idempotency_key":"%s"}`, person.Email, uuid.NewString())
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", idToken(t, s, person.Subject), "application/json", body)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["request_id"].(string)
	waitStatus(t, s, id, request.StatusInReview)
	regs, err := s.Platform.Cases.Registers(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var awaited []string
	for _, g := range regs {
		if g.Awaited {
			awaited = append(awaited, g.RegisterID)
		}
	}
	if len(awaited) == 0 {
		t.Fatal("no register was sent a task")
	}

	// Spans still open (the workflow's run waits for the clerk) count as started.
	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range recorder.Started() {
		spans[sp.SpanContext().SpanID()] = sp
	}
	for _, sp := range recorder.Ended() {
		spans[sp.SpanContext().SpanID()] = sp
	}
	var root sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.Name() == "POST /api/v1/requests" && attr(sp, "kirjaamo.service") == "portal" {
			root = sp
		}
	}
	if root == nil {
		t.Fatal("no span of the portal's handler")
	}
	traceID := root.SpanContext().TraceID()
	var tree []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.SpanContext().TraceID() == traceID {
			tree = append(tree, sp)
		}
	}
	// One tree: every span but the root has its parent in the trace.
	for _, sp := range tree {
		if sp == root {
			continue
		}
		if _, ok := spans[sp.Parent().SpanID()]; !ok || sp.Parent().TraceID() != traceID {
			t.Errorf("span %q hangs from a parent outside the trace", sp.Name())
		}
	}
	has := func(what string, match func(sdktrace.ReadOnlySpan) bool) {
		t.Helper()
		for _, sp := range tree {
			if match(sp) {
				return
			}
		}
		t.Errorf("the request's trace has no span of %s", what)
	}
	named := func(prefix string) func(sdktrace.ReadOnlySpan) bool {
		return func(sp sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(sp.Name(), prefix) }
	}
	has("the workflow's start", named("StartWorkflow:"))
	has("the workflow's run", named("RunWorkflow:"))
	has("the intake activity", named("RunActivity:"))
	has("a database statement", named("db "))
	for _, r := range awaited {
		has("the task sent to "+r, func(sp sdktrace.ReadOnlySpan) bool { return sp.Name() == "task "+r })
		has("the adapter's work at "+r, func(sp sdktrace.ReadOnlySpan) bool {
			return sp.SpanKind() == trace.SpanKindConsumer && strings.HasPrefix(sp.Name(), "task ") && attr(sp, "kirjaamo.register") == r
		})
		has("the result of "+r, func(sp sdktrace.ReadOnlySpan) bool { return sp.Name() == "result "+r })
	}

	personal := []string{person.GivenName, person.FamilyName, person.PersonalIdentityCode, person.Email, person.Phone,
		strings.ReplaceAll(person.Phone, "+358", "0")}
	for _, sp := range spans {
		text := sp.Name()
		for _, kv := range sp.Attributes() {
			text += " " + string(kv.Key) + "=" + kv.Value.Emit()
		}
		for _, ev := range sp.Events() {
			text += " " + ev.Name
			for _, kv := range ev.Attributes {
				text += " " + kv.Value.Emit()
			}
		}
		for _, p := range personal {
			if strings.Contains(text, p) {
				t.Errorf("span %q carries personal data (%s)", sp.Name(), p)
			}
		}
	}

	for _, line := range []string{`"msg":"http"`, `"msg":"task done"`} {
		found := false
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, line) && strings.Contains(l, `"trace_id":"`+traceID.String()+`"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s log line carries the request's trace id %s", line, traceID)
		}
	}
	t.Logf("the request's trace: %d spans, %d registers", len(tree), len(awaited))
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestEveryServiceShowsItsMetrics: the process's /metrics has the sites' HTTP metrics, the requests
// by status and against their deadlines, the registers' answers and availability, the outbox, the
// adapters' tasks and the Temporal SDK's own metrics; /healthz and /readyz answer.
func TestEveryServiceShowsItsMetrics(t *testing.T) {
	s := sharedStack(t)
	person := demo.People[3] // Erik: in no register, every register answers at once
	body := fmt.Sprintf(`{"right":"access","language":"fi","idempotency_key":"%s"}`, uuid.NewString())
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", idToken(t, s, person.Subject), "application/json", body)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	waitStatus(t, s, created["request_id"].(string), request.StatusInReview)
	time.Sleep(time.Second) // the adapters' counters move after their answers are stored

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if code, text := get(t, s.OpsURL+path); code != http.StatusOK || !strings.Contains(text, want) {
			t.Errorf("%s: %d %q", path, code, text)
		}
	}
	_, metrics := get(t, s.OpsURL+"/metrics")
	for _, want := range []string{
		`kirjaamo_http_requests_total{code="202",method="POST",route="POST /api/v1/requests",service="portal"}`,
		`kirjaamo_http_request_duration_seconds_bucket{route="POST /api/v1/requests",service="portal"`,
		`kirjaamo_requests{status="in_review"}`,
		`kirjaamo_open_requests_past_internal_target `,
		`kirjaamo_open_requests_due_within_days{days="7"}`,
		`kirjaamo_requests_needing_attention{step="intake"}`,
		`kirjaamo_register_available{register="clinic-event-invitations"} 1`,
		`kirjaamo_register_answer_seconds_count{register="clinic-event-invitations"}`,
		`kirjaamo_register_answers_total{register="clinic-event-invitations",status="no_data"}`,
		`kirjaamo_outbox_unsent{channel="email"}`,
		`kirjaamo_outbox_oldest_unsent_seconds{channel="sms"}`,
		`kirjaamo_adapter_tasks_total{operation="lookup",register="clinic-event-invitations",status="no_data"}`,
		`temporal_request{`,
		`temporal_activity_execution_latency_seconds_bucket{`,
		`temporal_workflow_task_execution_latency_seconds_bucket{`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, p := range []string{person.GivenName, person.FamilyName, person.PersonalIdentityCode, person.Email} {
		if strings.Contains(metrics, p) {
			t.Errorf("/metrics shows personal data (%s)", p)
		}
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
