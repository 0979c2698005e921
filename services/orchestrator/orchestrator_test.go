package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/workflows/request"
)

// The result collector, against fakes of the case store, the workflow and the record.

// answers counts answers as the case store does: each register once, the case's awaited ones.
type answers struct {
	awaited  []string
	answered map[string]bool
}

func (a *answers) RecordAnswer(_ context.Context, _, registerID string, _ contracts.ResultStatus, _ json.RawMessage) (int, int, time.Duration, error) {
	var waited time.Duration
	if !a.answered[registerID] {
		waited = 1500 * time.Millisecond // the register took this long, the first time
	}
	a.answered[registerID] = true
	remaining := 0
	for _, r := range a.awaited {
		if !a.answered[r] {
			remaining++
		}
	}
	return remaining, len(a.awaited) - remaining, waited, nil
}

type signals struct {
	sent []request.Answered
	err  error
}

func (s *signals) RegistersAnswered(_ context.Context, _ string, a request.Answered) error {
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, a)
	return nil
}

type entries struct{ written []record.Entry }

func (e *entries) Write(_ context.Context, x record.Entry) error {
	e.written = append(e.written, x)
	return nil
}

const requestID = "0195d5c8-8d3e-7c1a-9f00-00000000dddd"

func result(registerID, taskID string) *contracts.Result {
	return &contracts.Result{Protocol: contracts.ResultProtocol, TaskID: taskID, RequestID: requestID, RegisterID: registerID,
		Status: contracts.StatusApplied}
}

func TestTheWorkflowIsSignalledOnceTheLastAwaitedRegisterAnswers(t *testing.T) {
	a, s, rec := &answers{awaited: []string{"clinic", "kanta"}, answered: map[string]bool{}}, &signals{}, &entries{}
	deps := Deps{Answers: a, Requests: s, Record: rec, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	for _, r := range []string{"clinic", "clinic", "kanta", "kanta"} { // each delivered twice
		if err := collect(ctx, deps, result(r, contracts.TaskID(requestID, r))); err != nil {
			t.Fatal(err)
		}
	}
	// The last answer signals, and so does its redelivery: a crash may have come between storing
	// the answer and the signal, and the workflow takes the same count twice.
	if len(s.sent) != 2 || s.sent[0].Registers != 2 || s.sent[1].Registers != 2 {
		t.Errorf("signals %+v, want two with both registers", s.sent)
	}
	// A follow-up's answer (a lifted restriction) goes to the record; no workflow waits for it.
	if err := collect(ctx, deps, result("clinic", contracts.FollowUpTaskID(requestID, "clinic", contracts.OpLiftRestriction))); err != nil {
		t.Fatal(err)
	}
	if len(rec.written) != 1 || rec.written[0].Action != string(contracts.OpLiftRestriction) || len(s.sent) != 2 {
		t.Errorf("a follow-up's answer: recorded %+v, signals %d", rec.written, len(s.sent))
	}
}

func TestAnAnswerForARequestThatIsOverIsDroppedNotRetried(t *testing.T) {
	deps := Deps{Answers: &answers{answered: map[string]bool{}}, Requests: &signals{err: request.ErrNotFound}, Record: &entries{},
		Log: slog.New(slog.DiscardHandler)}
	if err := collect(context.Background(), deps, result("clinic", contracts.TaskID(requestID, "clinic"))); !errors.Is(err, bus.ErrDrop) {
		t.Errorf("collect = %v, want the message dropped", err)
	}
	deps.Requests = &signals{err: request.ErrUnavailable}
	if err := collect(context.Background(), deps, result("clinic", contracts.TaskID(requestID, "clinic"))); err == nil || errors.Is(err, bus.ErrDrop) {
		t.Errorf("collect with Temporal down = %v, want an error that redelivers", err)
	}
}

// TestEachRegistersAnswerIsCountedOnceWithItsLatency: the collector counts an answer and how long
// its register took the first time it is stored, not again when it is redelivered.
func TestEachRegistersAnswerIsCountedOnceWithItsLatency(t *testing.T) {
	a := &answers{awaited: []string{"metrics-test-register"}, answered: map[string]bool{}}
	deps := Deps{Answers: a, Requests: &signals{}, Record: &entries{}, Log: slog.New(slog.DiscardHandler)}
	for range 2 { // delivered twice
		if err := collect(context.Background(), deps, result("metrics-test-register", contracts.TaskID(requestID, "metrics-test-register"))); err != nil {
			t.Fatal(err)
		}
	}
	if n := testutil.ToFloat64(registerAnswers.WithLabelValues("metrics-test-register", string(contracts.StatusApplied))); n != 1 {
		t.Errorf("kirjaamo_register_answers_total = %v, want 1", n)
	}
	want := `
# HELP kirjaamo_register_answer_seconds How long a register took to answer, from its task's dispatch until its answer was stored.
# TYPE kirjaamo_register_answer_seconds histogram
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="0.05"} 0
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="0.1"} 0
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="0.25"} 0
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="0.5"} 0
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="1"} 0
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="2.5"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="5"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="10"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="30"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="60"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="300"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="900"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="3600"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="86400"} 1
kirjaamo_register_answer_seconds_bucket{register="metrics-test-register",le="+Inf"} 1
kirjaamo_register_answer_seconds_sum{register="metrics-test-register"} 1.5
kirjaamo_register_answer_seconds_count{register="metrics-test-register"} 1
`
	if err := testutil.CollectAndCompare(registerAnswerSeconds.WithLabelValues("metrics-test-register").(prometheus.Histogram), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
