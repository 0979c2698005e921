// Package bench measures the platform against the bare Temporal engine, in one process and one run:
// (a) N concurrent access requests through the whole platform (HTTP intake, PostgreSQL, Temporal,
// NATS and M register adapters that answer at once), each timed from the POST to the moment the case
// is in review with every register's answer in; (b) the same Temporal server running N workflows that
// each fan out to M no-op activities. `make bench` runs it.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/services/devstack"
)

// Shape is one benchmark: N requests at once, each reaching M registers.
type Shape struct{ N, M int }

// Shapes are the shapes `make bench` runs; the ratio is taken from the first.
var Shapes = []Shape{{N: 100, M: 10}, {N: 10, M: 200}}

// Stats summarise one run.
type Stats struct {
	P50, P95, Makespan time.Duration
}

func summarise(latencies []time.Duration, makespan time.Duration) Stats {
	slices.Sort(latencies)
	at := func(q float64) time.Duration { return latencies[min(len(latencies)-1, int(q*float64(len(latencies))))] }
	return Stats{P50: at(0.50), P95: at(0.95), Makespan: makespan}
}

func (s Stats) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("p50 %8s  p95 %8s  makespan %8s", ms(s.P50), ms(s.P95), ms(s.Makespan))
}

// Run measures each shape both ways and writes the figures, ending with "ratio R": the bare
// engine's makespan over the platform's at the first shape. R >= 0.8 means the platform keeps at
// least 80% of the bare engine's throughput.
func Run(ctx context.Context, out io.Writer, shapes []Shape) error {
	var ratio float64
	for i, shape := range shapes {
		platform, bare, err := measure(ctx, shape)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "platform  N=%-3d M=%-3d  %s\n", shape.N, shape.M, platform)
		fmt.Fprintf(out, "bare      N=%-3d M=%-3d  %s\n", shape.N, shape.M, bare)
		fmt.Fprintf(out, "p95 platform/bare %.2f\n", float64(platform.P95)/float64(bare.P95))
		if i == 0 {
			ratio = float64(bare.Makespan) / float64(platform.Makespan)
		}
	}
	fmt.Fprintf(out, "ratio %.2f\n", ratio)
	return nil
}

// measure starts a platform with M instant registers and runs both workloads on it.
func measure(ctx context.Context, shape Shape) (platform, bare Stats, err error) {
	dir, err := os.MkdirTemp("", "kirjaamo-bench-")
	if err != nil {
		return platform, bare, err
	}
	defer os.RemoveAll(dir)
	registers, err := instantRegisters(shape.M)
	if err != nil {
		return platform, bare, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	stack, err := devstack.Start(ctx, devstack.Config{DataDir: dir, FastPostgres: true, Registers: registers, Limits: devstack.TestLimits, Logger: log})
	if err != nil {
		return platform, bare, err
	}
	defer stack.Stop()

	w := worker.New(stack.Platform.Temporal, bareTaskQueue, worker.Options{})
	w.RegisterWorkflow(BareFanOut)
	w.RegisterActivity(NoOp)
	if err := w.Start(); err != nil {
		return platform, bare, err
	}
	defer w.Stop()

	token, err := stack.IDToken(ctx, demo.People[0].Subject)
	if err != nil {
		return platform, bare, err
	}
	// Warm both paths up, so that neither pays for first connections and caches.
	if _, err := runPlatform(ctx, stack, token, Shape{N: 5, M: shape.M}); err != nil {
		return platform, bare, err
	}
	if _, err := runBare(ctx, stack, Shape{N: 5, M: shape.M}); err != nil {
		return platform, bare, err
	}
	if platform, err = runPlatform(ctx, stack, token, shape); err != nil {
		return platform, bare, err
	}
	bare, err = runBare(ctx, stack, shape)
	return platform, bare, err
}

// runPlatform posts N access requests at once to the portal's API and times each until its case is
// in review, which is when every register has answered and the office can act.
func runPlatform(ctx context.Context, stack *devstack.Stack, token string, shape Shape) (Stats, error) {
	type sent struct {
		id string
		at time.Time
	}
	start := time.Now()
	var mu sync.Mutex
	var requests []sent
	var wg sync.WaitGroup
	errs := make(chan error, shape.N)
	for range shape.N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := time.Now()
			body := `{"right":"access","language":"fi","idempotency_key":"` + uuid.NewString() + `"}`
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, stack.PortalURL+"/api/v1/requests", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var created struct {
				RequestID string `json:"request_id"`
			}
			if resp.StatusCode != http.StatusAccepted || decodeJSON(resp.Body, &created) != nil {
				errs <- fmt.Errorf("bench: intake answered %s", resp.Status)
				return
			}
			mu.Lock()
			requests = append(requests, sent{created.RequestID, at})
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return Stats{}, err
	}
	ids := make([]string, len(requests))
	for i, r := range requests {
		ids[i] = r.id
	}
	done := map[string]time.Time{}
	deadline := time.Now().Add(5 * time.Minute)
	for len(done) < len(ids) {
		rows, err := stack.Platform.DB.Pool.Query(ctx, `SELECT request_id::text FROM cases WHERE request_id = ANY($1::uuid[]) AND status = 'in_review'`, ids)
		if err != nil {
			return Stats{}, err
		}
		now := time.Now()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return Stats{}, err
			}
			if _, seen := done[id]; !seen {
				done[id] = now
			}
		}
		rows.Close()
		if now.After(deadline) {
			return Stats{}, fmt.Errorf("bench: %d of %d requests never reached review", len(ids)-len(done), len(ids))
		}
		time.Sleep(5 * time.Millisecond)
	}
	var latencies []time.Duration
	var last time.Time
	for _, r := range requests {
		latencies = append(latencies, done[r.id].Sub(r.at))
		if done[r.id].After(last) {
			last = done[r.id]
		}
	}
	return summarise(latencies, last.Sub(start)), nil
}

// runBare starts N fan-out workflows at once and times each to its completion.
func runBare(ctx context.Context, stack *devstack.Stack, shape Shape) (Stats, error) {
	start := time.Now()
	latencies := make([]time.Duration, shape.N)
	errs := make(chan error, shape.N)
	var wg sync.WaitGroup
	for i := range shape.N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := time.Now()
			run, err := stack.Platform.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-bare-" + uuid.NewString(),
				TaskQueue: bareTaskQueue}, BareFanOut, shape.M)
			if err == nil {
				err = run.Get(ctx, nil)
			}
			if err != nil {
				errs <- err
				return
			}
			latencies[i] = time.Since(at)
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return Stats{}, err
	}
	return summarise(latencies, time.Since(start)), nil
}
