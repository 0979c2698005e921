package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

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

func (a *answers) RecordAnswer(_ context.Context, _, registerID string, _ contracts.ResultStatus, _ json.RawMessage) (int, int, error) {
	a.answered[registerID] = true
	remaining := 0
	for _, r := range a.awaited {
		if !a.answered[r] {
			remaining++
		}
	}
	return remaining, len(a.awaited) - remaining, nil
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
