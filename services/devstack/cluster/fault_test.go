package cluster

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
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/services/devstack"
)

// TestTheClusterSurvivesKills is the production shape's durability promise (make cluster-test, run by
// CI): 100 erasure requests arrive at a steady rate while, one after the other, the JetStream
// leader's NATS node, an orchestrator, the clinic register's adapter and the Temporal server are
// killed with SIGKILL, each started again a second later by the supervisor, as a container runtime
// would. Every request reaches review, the clinic register carries out each erasure exactly once,
// counted in its own table, and no request caught by a kill takes more than ten seconds longer than
// a request does when nothing is killed.
func TestTheClusterSurvivesKills(t *testing.T) {
	bin := os.Getenv("KIRJAAMO_CLUSTER_BIN")
	if bin == "" || testing.Short() {
		t.Skip("make cluster-test builds the cluster's binaries and runs this")
	}
	ports, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	ctx := context.Background()
	started := time.Now()
	c, err := Up(ctx, Options{Dir: t.TempDir(), Bin: bin, Ports: ports, FastPostgres: true, Logger: log,
		// A hundred requests from one address and four people in under a minute: past production's limits.
		Env: []string{"KIRJAAMO_PORTAL_CALLS_PER_MINUTE=10000", "KIRJAAMO_PORTAL_CALLS_PER_ADDRESS_PER_MINUTE=10000",
			"KIRJAAMO_PORTAL_SUBMISSIONS_PER_HOUR=10000", "KIRJAAMO_PORTAL_MAX_OPEN_REQUESTS=10000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Down()
	t.Logf("the cluster came up in %s", time.Since(started).Round(100*time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("supervisor's log:\n%s", logs.String())
		}
	}()

	site := &devstack.Stack{PortalURL: c.PortalURL, IDPURL: c.IDPURL, PortalClientSecret: c.PortalClientSecret}
	tokens := map[string]string{}
	for _, p := range demo.People {
		if tokens[p.Subject], err = site.IDToken(ctx, p.Subject); err != nil {
			t.Fatal(err)
		}
	}
	db, err := pgxpool.New(ctx, c.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const n, every = 100, 500 * time.Millisecond // 2 a second for 50 seconds: a steady load the cluster keeps up with
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	doneAt := map[string]time.Time{}
	var ids []string
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go func() { // when each request reaches review, to 100 ms
		for watchCtx.Err() == nil {
			mu.Lock()
			open := slices.Clone(ids)
			mu.Unlock()
			rows, err := db.Query(watchCtx, `SELECT request_id::text FROM cases WHERE request_id = ANY($1::uuid[]) AND status = 'in_review'`, open)
			if err == nil {
				now := time.Now()
				for rows.Next() {
					var id string
					if rows.Scan(&id) == nil {
						mu.Lock()
						if _, ok := doneAt[id]; !ok {
							doneAt[id] = now
						}
						mu.Unlock()
					}
				}
				rows.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	type kill struct {
		after int // requests sent
		name  func() string
	}
	leader := func() string {
		l, err := c.JetStreamLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	kills := []kill{{10, leader}, {30, func() string { return "orchestrator-1" }}, {50, func() string { return "clinic-event-invitations" }},
		{70, func() string { return "temporal" }}}
	type killed struct {
		name string
		at   time.Time
	}
	var done []killed
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		if len(kills) > 0 && i == kills[0].after {
			name := kills[0].name()
			kills = kills[1:]
			if err := c.Kill(name); err != nil {
				t.Fatal(err)
			}
			done = append(done, killed{name, time.Now()})
			t.Logf("killed %s after %d requests", name, i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			person := demo.People[i%len(demo.People)]
			id, at := submit(t, c.PortalURL, tokens[person.Subject])
			if id != "" {
				mu.Lock()
				ids = append(ids, id)
				sentAt[id] = at
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d of %d requests were received", len(ids), n)
	}
	for _, k := range done {
		if err := c.Ready(ctx, k.name); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		mu.Lock()
		finished := len(doneAt)
		mu.Unlock()
		if finished == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests reached review", finished, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopWatching()

	// Exactly once, in the register's own table.
	var unanswered int
	_ = db.QueryRow(ctx, `SELECT count(*) FROM case_registers WHERE request_id = ANY($1::uuid[]) AND awaited AND result_status IS NULL`, ids).Scan(&unanswered)
	if unanswered != 0 {
		t.Errorf("%d awaited registers never answered", unanswered)
	}
	registers, err := pgxpool.New(ctx, c.RegistersURL)
	if err != nil {
		t.Fatal(err)
	}
	defer registers.Close()
	var tasks, effects, twice, dispatched int
	if err := registers.QueryRow(ctx, `SELECT count(DISTINCT task_id), count(*),
		count(*) FILTER (WHERE task_id IN (SELECT task_id FROM clinic.erasures GROUP BY task_id HAVING count(*) > 1))
		FROM clinic.erasures`).Scan(&tasks, &effects, &twice); err != nil {
		t.Fatal(err)
	}
	_ = db.QueryRow(ctx, `SELECT count(*) FROM case_registers WHERE request_id = ANY($1::uuid[]) AND register_id = 'clinic-event-invitations' AND awaited`, ids).Scan(&dispatched)
	if dispatched != n || tasks != n || effects != n || twice != 0 {
		t.Errorf("clinic erasures: %d dispatched, %d tasks carried out in %d effects (%d applied more than once); want %d, each once",
			dispatched, tasks, effects, twice, n)
	}

	// The recovery tail: how much longer than a request takes untroubled did the requests caught by
	// a kill take.
	var latencies []time.Duration
	for _, id := range ids {
		latencies = append(latencies, doneAt[id].Sub(sentAt[id]))
	}
	slices.Sort(latencies)
	p50, p95, worst := latencies[len(latencies)/2], latencies[len(latencies)*95/100], latencies[len(latencies)-1]
	tail := worst - p50
	t.Logf("latency from the request to review: p50 %s, p95 %s, worst %s; recovery tail %s", p50.Round(time.Millisecond),
		p95.Round(time.Millisecond), worst.Round(time.Millisecond), tail.Round(time.Millisecond))
	for _, k := range done {
		// The first request sent after the kill that reached review: how soon the platform went on.
		first := time.Duration(0)
		for _, id := range ids {
			if sentAt[id].After(k.at) && (first == 0 || doneAt[id].Sub(k.at) < first) {
				first = doneAt[id].Sub(k.at)
			}
		}
		t.Logf("after killing %s, the first request sent after it reached review %s after the kill", k.name, first.Round(time.Millisecond))
	}
	if tail > 10*time.Second {
		t.Errorf("the recovery tail is %s, over 10 s", tail.Round(time.Millisecond))
	}
	t.Logf("cluster fault test: %d passed, %d failed", n-unanswered, unanswered)
}

// submit sends an erasure request, trying again while the platform answers 503 (Temporal down):
// a person's browser would show "try again", and the idempotency key makes it one request. It
// returns when the request was first tried.
func submit(t *testing.T, portal, token string) (string, time.Time) {
	at := time.Now()
	body := fmt.Sprintf(`{"right":"erasure","language":"fi","idempotency_key":"%s"}`, uuid.NewString())
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, portal+"/api/v1/requests", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			var id string
			if i := strings.Index(string(data), `"request_id":"`); i >= 0 {
				id = string(data[i+len(`"request_id":"`):])
				id = id[:strings.IndexByte(id, '"')]
			}
			return id, at
		}
		if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode < 500 {
			t.Errorf("submit: %d %s", resp.StatusCode, data)
			return "", at
		}
	}
	t.Error("submit: the portal did not take the request in two minutes")
	return "", at
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
