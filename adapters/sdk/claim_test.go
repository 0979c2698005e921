package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// counting is a register that trusts the SDK alone to apply an effect once: it counts its erasures
// and keeps no record of its own. Its erasure waits for release, if set; its lookup writes one record
// and then waits for its context to end, if block is set.
type counting struct {
	decl     contracts.Declaration
	erasures atomic.Int32
	lookups  atomic.Int32
	release  chan struct{}
	started  chan struct{}
	block    bool
	stopped  chan error
}

func newCounting(t *testing.T) *counting {
	return &counting{decl: declaration(t), started: make(chan struct{}, 10), stopped: make(chan error, 1)}
}

func (r *counting) Declaration() contracts.Declaration { return r.decl }

func (r *counting) Operations() sdk.Operations {
	return sdk.Operations{Export: r.export, Erase: r.erase}
}

func (r *counting) erase(context.Context, sdk.Query) (int, error) {
	r.started <- struct{}{}
	if r.release != nil {
		<-r.release
	}
	return int(r.erasures.Add(1)), nil
}

func (r *counting) export(ctx context.Context, _ sdk.Query, w sdk.RecordWriter) error {
	r.lookups.Add(1)
	if err := w.Write(contracts.Record{Category: "event invitations", Fields: map[string]string{"event": "Webinar"}}); err != nil {
		return err
	}
	if r.block {
		r.started <- struct{}{}
		<-ctx.Done()
		r.stopped <- context.Cause(ctx)
		return ctx.Err()
	}
	return nil
}

// TestTwoDeliveriesAtOnceApplyTheEffectOnce delivers one erasure twice while the first delivery is
// still erasing: the second finds the first's claim, comes back later, and is answered with the
// first's result.
func TestTwoDeliveriesAtOnceApplyTheEffectOnce(t *testing.T) {
	p := newPlatform(t)
	reg := newCounting(t)
	reg.release = make(chan struct{})
	p.run(reg, 5*time.Second)
	task := p.task(contracts.OpErase, contracts.RightErasure)
	p.send(task, task.TaskID)
	<-reg.started
	p.send(task, "")
	p.waitLog("another delivery of the task is under way")
	close(reg.release)
	first, second := p.result(task.TaskID, 20*time.Second), p.result(task.TaskID, 20*time.Second)
	for _, res := range []contracts.Result{first, second} {
		if res.Status != contracts.StatusApplied || res.Affected != 1 {
			t.Errorf("answer %s, affected %d, want applied to 1", res.Status, res.Affected)
		}
	}
	if n := reg.erasures.Load(); n != 1 {
		t.Errorf("%d erasures, want 1", n)
	}
}

// flaky fails its first erasure in passing, as when its database is briefly down.
type flaky struct {
	*counting
	failed atomic.Bool
}

func (r *flaky) Operations() sdk.Operations {
	ops := r.counting.Operations()
	ops.Erase = func(ctx context.Context, q sdk.Query) (int, error) {
		if !r.failed.Swap(true) {
			return 0, sdk.Unavailable(errors.New("connection refused"))
		}
		return r.counting.erase(ctx, q)
	}
	return ops
}

// TestAFailedEffectIsRetriedAtOnce: an effect that fails in passing gives its claim up, so its retry
// (after a second, not after the claim would go stale, 2.5 minutes here) carries it out.
func TestAFailedEffectIsRetriedAtOnce(t *testing.T) {
	p := newPlatform(t)
	reg := &flaky{counting: newCounting(t)}
	p.run(reg, 30*time.Second)
	task := p.task(contracts.OpErase, contracts.RightErasure)
	p.send(task, task.TaskID)
	if res := p.result(task.TaskID, 20*time.Second); res.Status != contracts.StatusApplied || reg.erasures.Load() != 1 {
		t.Errorf("answer %s after %d erasures, want applied once", res.Status, reg.erasures.Load())
	}
}

// TestAStaleClaimIsTakenOver: a claim left by an instance that crashed mid-effect is taken over once
// it is older than five ack waits, and the task is carried out.
func TestAStaleClaimIsTakenOver(t *testing.T) {
	p := newPlatform(t)
	kv, err := p.js.CreateKeyValue(t.Context(), sdk.DoneBucketConfig("test-invitations"))
	if err != nil {
		t.Fatal(err)
	}
	task := p.task(contracts.OpErase, contracts.RightErasure)
	crashed, _ := json.Marshal(map[string]string{"claimed_by": "crashed-instance", "claimed_at": time.Now().UTC().Format(time.RFC3339)})
	if _, err := kv.Create(t.Context(), task.TaskID, crashed); err != nil {
		t.Fatal(err)
	}
	reg := newCounting(t)
	p.run(reg, 200*time.Millisecond)
	p.send(task, task.TaskID)
	res := p.result(task.TaskID, 30*time.Second)
	if res.Status != contracts.StatusApplied || reg.erasures.Load() != 1 {
		t.Errorf("answer %s after %d erasures, want applied once", res.Status, reg.erasures.Load())
	}
	p.waitLog("took over a stale claim")
	entry, err := kv.Get(t.Context(), task.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var recorded contracts.Result
	if err := json.Unmarshal(entry.Value(), &recorded); err != nil || recorded.Status != contracts.StatusApplied || recorded.Affected != 1 {
		t.Errorf("the effect record holds %s (%v), want the result", entry.Value(), err)
	}
}

// TestACancelledTaskIsAnsweredCancelled: a cancellation recorded before the task comes is its
// answer, for an effect and a lookup alike, and nothing is done; a task already finished cannot be
// cancelled.
func TestACancelledTaskIsAnsweredCancelled(t *testing.T) {
	p := newPlatform(t)
	reg := newCounting(t)
	p.run(reg, 5*time.Second)
	p.waitLog("register adapter serving") // the adapter has made the effect record
	erase, lookup := p.task(contracts.OpErase, contracts.RightErasure), p.task(contracts.OpLookup, contracts.RightAccess)
	for _, task := range []contracts.Task{erase, lookup} {
		for range 2 { // a second cancellation of the same task is no error, and still true
			cancelled, err := sdk.CancelTask(t.Context(), p.js, "test-invitations", task.TaskID, "the subject withdrew the request")
			if err != nil || !cancelled {
				t.Fatalf("CancelTask = %t, %v; want true", cancelled, err)
			}
		}
		p.send(task, task.TaskID)
		wantFailed(t, p.result(task.TaskID, 20*time.Second), contracts.ErrCancelled, "the subject withdrew the request")
	}
	if reg.erasures.Load() != 0 || reg.lookups.Load() != 0 {
		t.Errorf("%d erasures and %d lookups of cancelled tasks", reg.erasures.Load(), reg.lookups.Load())
	}

	done := p.task(contracts.OpErase, contracts.RightErasure)
	p.send(done, done.TaskID)
	if res := p.result(done.TaskID, 20*time.Second); res.Status != contracts.StatusApplied {
		t.Fatalf("erasure: %s", res.Status)
	}
	if cancelled, err := sdk.CancelTask(t.Context(), p.js, "test-invitations", done.TaskID, "too late"); err != nil || cancelled {
		t.Errorf("CancelTask of a finished task = %t, %v; want false", cancelled, err)
	}
}

// TestACancellationStopsALongLookup: a cancellation recorded while a lookup runs ends the lookup's
// context, and the task is answered cancelled rather than found.
func TestACancellationStopsALongLookup(t *testing.T) {
	p := newPlatform(t)
	reg := newCounting(t)
	reg.block = true
	p.run(reg, 30*time.Second) // progress heartbeats every 10 s: the stop comes from the key's subject
	_, target := caseKey(t)
	task := p.task(contracts.OpLookup, contracts.RightAccess)
	task.Package = target
	p.send(task, task.TaskID)
	<-reg.started
	if cancelled, err := sdk.CancelTask(t.Context(), p.js, "test-invitations", task.TaskID, "withdrawn"); err != nil || !cancelled {
		t.Fatalf("CancelTask = %t, %v", cancelled, err)
	}
	wantFailed(t, p.result(task.TaskID, 20*time.Second), contracts.ErrCancelled, "withdrawn")
	if cause := <-reg.stopped; cause == nil {
		t.Error("the lookup's context did not end")
	}
	// The task is acknowledged: nothing is left for a redelivery.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := p.js.Stream(t.Context(), contracts.TasksStream)
		if err == nil && info.CachedInfo().State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled lookup was not acknowledged")
		}
	}
}
