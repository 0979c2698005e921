package sdk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// TestAStopEndsWithinTheGracePeriod stops an adapter, idle or with a lookup under way that does not
// end by itself, with its NATS server gone or still there: Run returns within the grace period each
// time, and the lookup's context ends. With NATS still there, the lookup given up is not lost: the
// next start answers it.
func TestAStopEndsWithinTheGracePeriod(t *testing.T) {
	const grace = 2 * time.Second
	for _, tc := range []struct {
		name           string
		natsGone, busy bool
	}{
		{"NATS gone, idle", true, false},
		{"NATS gone, a lookup under way", true, true},
		{"NATS there, a lookup under way", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlatform(t)
			reg := newCounting(t)
			reg.block = tc.busy
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			returned := make(chan error, 1)
			go func() {
				returned <- sdk.Run(ctx, reg, sdk.Config{NATSURL: p.url, AckWait: 5 * time.Second, GracePeriod: grace, Logger: p.logger()})
			}()
			p.waitLog("register adapter serving")
			task := p.task(contracts.OpLookup, contracts.RightAccess)
			if tc.busy {
				p.send(task, task.TaskID)
				<-reg.started
			}
			if tc.natsGone {
				p.srv.Shutdown()
			}
			stopped := time.Now()
			stop()
			select {
			case err := <-returned:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
				if took := time.Since(stopped); took > grace+time.Second {
					t.Errorf("Run returned %s after the stop, with a grace period of %s", took.Round(time.Millisecond), grace)
				}
			case <-time.After(grace + 10*time.Second):
				t.Fatalf("Run did not return within %s of the stop; the adapter's log:\n%s", grace+10*time.Second, p.logs)
			}
			if !tc.busy {
				return
			}
			select {
			case cause := <-reg.stopped:
				if cause == nil || !strings.Contains(cause.Error(), "grace period is over") {
					t.Errorf("the lookup's context ended with %v, want the end of the grace period", cause)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the lookup under way was not stopped")
			}
			p.waitLog("tasks_given_up=1")
			if tc.natsGone {
				return
			}
			reg.block = false
			p.run(reg, 5*time.Second)
			if res := p.result(task.TaskID, 20*time.Second); res.Status != contracts.StatusFound {
				t.Errorf("the lookup given up was answered %s at the next start, want found", res.Status)
			}
		})
	}
}
