package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// waiting is a register whose erasure waits on someone else, as an OpenDSR processor: it answers
// with a cancellation when the platform asks it to stop before release comes.
type waiting struct {
	*counting
	release chan struct{}
}

func (r *waiting) Operations() sdk.Operations {
	ops := r.counting.Operations()
	ops.Erase = func(ctx context.Context, q sdk.Query) (int, error) {
		r.started <- struct{}{}
		select {
		case <-q.Withdrawn():
			return 0, contracts.NewError(contracts.ErrCancelled, "cancelled at the processor")
		case <-r.release:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return ops
}

// TestAnEffectUnderWayIsToldOfAWithdrawal: the platform cannot cancel an effect already claimed, so
// CancelTask asks it to stop; an effect that waits on someone else hears it and answers with a
// cancellation, and one that does not answer as usual.
func TestAnEffectUnderWayIsToldOfAWithdrawal(t *testing.T) {
	p := newPlatform(t)
	reg := &waiting{counting: newCounting(t), release: make(chan struct{})}
	p.run(reg, 3*time.Second)
	task := p.task(contracts.OpErase, contracts.RightErasure)
	p.send(task, task.TaskID)
	<-reg.started
	cancelled, err := sdk.CancelTask(t.Context(), p.js, task.RegisterID, task.TaskID, "the data subject withdrew the request")
	if err != nil || cancelled {
		t.Fatalf("CancelTask of a claimed task: cancelled %v, %v; want false: the effect is under way", cancelled, err)
	}
	res := p.result(task.TaskID, 20*time.Second)
	if res.Status != contracts.StatusFailed || res.Error == nil || res.Error.Code != contracts.ErrCancelled {
		t.Fatalf("answer %+v, want failed with cancelled", res)
	}
	// A second withdrawal changes nothing and is no error.
	if _, err := sdk.CancelTask(t.Context(), p.js, task.RegisterID, task.TaskID, "again"); err != nil {
		t.Errorf("a second CancelTask: %v", err)
	}
}

// reporting is a register with a service that reports one event and then serves until stopped.
type reporting struct {
	*counting
	event    contracts.Event
	reported chan error
}

func (r *reporting) Serve(ctx context.Context, p sdk.Platform) error {
	r.reported <- p.Report(ctx, r.event)
	<-ctx.Done()
	return nil
}

// TestAServiceReportsEventsForTheRecord: a register's Service runs beside its handlers, and Report
// returns once the platform answered that the record holds the event; an invalid event is refused
// by the SDK before it is sent.
func TestAServiceReportsEventsForTheRecord(t *testing.T) {
	p := newPlatform(t)
	got := make(chan contracts.Event, 1)
	nc, err := nats.Connect(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe(contracts.AllEventsSubject, func(m *nats.Msg) {
		var e contracts.Event
		_ = json.Unmarshal(m.Data, &e)
		got <- e
		data, _ := json.Marshal(contracts.EventReply{Recorded: true})
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	reg := &reporting{counting: newCounting(t), reported: make(chan error, 1),
		event: contracts.Event{Kind: contracts.EventCallbackRefused, Detail: map[string]string{"reason": "bad signature"}}}
	p.run(reg, 3*time.Second)
	select {
	case err := <-reg.reported:
		if err != nil {
			t.Fatalf("Report: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Report did not return")
	}
	e := <-got
	if e.RegisterID != reg.decl.RegisterID || e.Kind != contracts.EventCallbackRefused || e.Protocol != contracts.EventProtocol || e.At.IsZero() {
		t.Errorf("the platform got %+v", e)
	}
}

// failingService is a register whose service cannot start: the adapter does not run without it.
type failingService struct{ *counting }

func (failingService) Serve(context.Context, sdk.Platform) error {
	return errors.New("listen: address in use")
}

func TestAnAdapterStopsWhenItsServiceFails(t *testing.T) {
	p := newPlatform(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := sdk.Run(ctx, failingService{newCounting(t)}, sdk.Config{NATSURL: p.url, Logger: p.logger()})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run with a failing service: %v (context: %v); want the service's error at once", err, ctx.Err())
	}
}
