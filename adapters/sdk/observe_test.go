package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/contracts"
)

// TestAnAdapterShowsItsMetricsAndCarriesTheTrace: an adapter with an ops address serves its health,
// its readiness and its metrics; a task that arrives with a trace context is worked on in a span of
// that trace, its log lines carry the trace's id, and its result goes back with the trace.
func TestAnAdapterShowsItsMetricsAndCarriesTheTrace(t *testing.T) {
	// A tracer provider that records, as an exporting process has: without one, spans are not made
	// and the task's trace context passes through unchanged.
	otel.SetTracerProvider(sdktrace.NewTracerProvider())
	p := newPlatform(t)
	reg := newCounting(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- sdk.Run(ctx, reg, sdk.Config{NATSURL: p.url, OpsAddr: ops,
			Logger: slog.New(telemetry.WithTraceIDs(slog.NewJSONHandler(p.logs, nil)))})
	}()
	defer func() { cancel(); <-done }()
	p.waitLog("register adapter serving")

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if status, body := get(t, "http://"+ops+path); status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, status, body)
		}
	}

	nc, err := nats.Connect(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	headers := make(chan nats.Header, 10)
	if _, err := nc.Subscribe(contracts.AllResultsSubject, func(m *nats.Msg) { headers <- m.Header }); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()

	// The counters are the process's: other tests of the package erase at the same register, so the
	// task is seen as one more than before it.
	const tasksDone = `kirjaamo_adapter_tasks_total{operation="erase",register="test-invitations",status="applied"}`
	const tasksTimed = `kirjaamo_adapter_task_duration_seconds_count{operation="erase",register="test-invitations"}`
	_, before := get(t, "http://"+ops+"/metrics")

	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	task := p.task(contracts.OpErase, contracts.RightErasure)
	data, _ := json.Marshal(task)
	js, _ := jetstream.New(nc)
	msg := &nats.Msg{Subject: contracts.TaskSubject(task.RegisterID), Data: data, Header: nats.Header{"traceparent": []string{traceparent}}}
	if _, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(task.TaskID)); err != nil {
		t.Fatal(err)
	}
	if res := p.result(task.TaskID, 10*time.Second); res.Status != contracts.StatusApplied {
		t.Fatalf("erase: %s", res.Status)
	}
	select {
	case h := <-headers:
		sent := trace.SpanContextFromContext(telemetry.Extract(context.Background(), h))
		if sent.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sent.SpanID().String() == "00f067aa0ba902b7" {
			t.Errorf("the result went back with trace %s span %s, want the task's trace and the adapter's own span", sent.TraceID(), sent.SpanID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no result seen")
	}
	p.waitLog(`"msg":"task done"`)
	if !strings.Contains(p.logs.String(), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("the task's log lines do not carry its trace id:\n%s", p.logs)
	}

	_, metrics := get(t, "http://"+ops+"/metrics")
	for _, series := range []string{tasksDone, tasksTimed} {
		if was, is := sample(before, series), sample(metrics, series); is != was+1 {
			t.Errorf("/metrics has %s %v, want one more than the %v before the task", series, is, was)
		}
	}
	for _, want := range []string{
		`kirjaamo_adapter_tasks_in_progress{register="test-invitations"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, knownEmail) {
		t.Error("/metrics shows the subject's e-mail address")
	}
}

// sample is the value of one series in a Prometheus text exposition: 0 where it is not (yet) there.
func sample(exposition, series string) float64 {
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
