package devstack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
)

// devProcess is `kirjaamo dev` running as its own process, so that a test can kill it with SIGKILL.
type devProcess struct {
	cmd     *exec.Cmd
	running chan struct{}
	exited  chan error
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startDev(t *testing.T, bin string, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev")
	cmd.Env = env
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = nil
	p := &devProcess{cmd: cmd, running: make(chan struct{}), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Kirjaamo is running") {
				close(p.running)
			}
		}
	}()
	go func() { p.exited <- cmd.Wait() }()
	select {
	case <-p.running:
	case err := <-p.exited:
		t.Fatalf("kirjaamo dev exited at start: %v", err)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("kirjaamo dev did not start")
	}
	return p
}

// TestKill9InTheMiddleOfAFanOut is the durability promise: kill -9 of the whole platform in the
// middle of 100 erasure requests, then a restart, and every request completes with every erasure
// applied exactly once, counted in the register's own table.
func TestKill9InTheMiddleOfAFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kirjaamo binary")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "kirjaamo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kirjaamo")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "data")
	ports := map[string]int{"PORTAL": freePort(t), "OFFICE": freePort(t), "IDP": freePort(t), "NATS": freePort(t), "TEMPORAL": freePort(t),
		"OPS": freePort(t)}
	env := append(os.Environ(), "KIRJAAMO_DATA_DIR="+dir, "KIRJAAMO_LOG_LEVEL=error",
		// A hundred requests from one address and four people in a few seconds: past production's limits.
		"KIRJAAMO_PORTAL_CALLS_PER_MINUTE=10000", "KIRJAAMO_PORTAL_CALLS_PER_ADDRESS_PER_MINUTE=10000",
		"KIRJAAMO_PORTAL_SUBMISSIONS_PER_HOUR=10000", "KIRJAAMO_PORTAL_MAX_OPEN_REQUESTS=10000")
	for name, port := range ports {
		env = append(env, fmt.Sprintf("KIRJAAMO_DEV_%s_PORT=%d", name, port))
	}
	p := startDev(t, bin, env)
	defer func() { _ = p.cmd.Process.Kill() }()

	secret, _ := os.ReadFile(filepath.Join(dir, "portal-client-secret"))
	s := &Stack{PortalURL: fmt.Sprintf("http://127.0.0.1:%d", ports["PORTAL"]), IDPURL: fmt.Sprintf("http://127.0.0.1:%d", ports["IDP"]),
		PortalClientSecret: strings.TrimSpace(string(secret))}
	tokens := map[string]string{}
	for _, person := range demo.People {
		tokens[person.Subject] = idToken(t, s, person.Subject)
	}
	const n = 100
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			person := demo.People[i%len(demo.People)]
			body := fmt.Sprintf(`{"right":"erasure","language":"fi","idempotency_key":"%s"}`, uuid.NewString())
			status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", tokens[person.Subject], "application/json", body)
			if status != http.StatusAccepted {
				t.Errorf("submit %d: %d %v", i, status, created)
				return
			}
			mu.Lock()
			ids = append(ids, created["request_id"].(string))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d of %d requests were received", len(ids), n)
	}

	db := openDevDatabase(t, dir, "kirjaamo")
	countReviewed := func() int {
		var c int
		_ = db.QueryRow(context.Background(), `SELECT count(*) FROM cases WHERE request_id = ANY($1::uuid[]) AND status = 'in_review'`, ids).Scan(&c)
		return c
	}
	for countReviewed() < n/5 {
		time.Sleep(20 * time.Millisecond)
	}
	reviewedAtKill := countReviewed()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	db.Close()
	t.Logf("killed with %d of %d requests in review", reviewedAtKill, n)
	if reviewedAtKill == n {
		t.Fatal("every request was done before the kill: the test proves nothing; raise n")
	}

	p = startDev(t, bin, env)
	defer func() { _ = p.cmd.Process.Signal(syscall.SIGINT); <-p.exited }()
	db = openDevDatabase(t, dir, "kirjaamo")
	defer db.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for countReviewed() < n {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart only %d of %d requests reached review", countReviewed(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var unanswered int
	_ = db.QueryRow(context.Background(), `SELECT count(*) FROM case_registers WHERE request_id = ANY($1::uuid[]) AND awaited AND result_status IS NULL`, ids).Scan(&unanswered)
	if unanswered != 0 {
		t.Errorf("%d awaited registers never answered", unanswered)
	}
	registers := openDevDatabase(t, dir, "registers")
	defer registers.Close()
	var tasks, effects, twice int
	err := registers.QueryRow(context.Background(), `SELECT count(DISTINCT task_id), count(*),
		count(*) FILTER (WHERE task_id IN (SELECT task_id FROM clinic.erasures GROUP BY task_id HAVING count(*) > 1))
		FROM clinic.erasures`).Scan(&tasks, &effects, &twice)
	if err != nil {
		t.Fatal(err)
	}
	var dispatched int
	_ = db.QueryRow(context.Background(), `SELECT count(*) FROM case_registers WHERE request_id = ANY($1::uuid[]) AND register_id = 'clinic-event-invitations' AND awaited`, ids).Scan(&dispatched)
	if dispatched != n || tasks != n || effects != n || twice != 0 {
		t.Errorf("clinic erasures: %d dispatched, %d tasks carried out in %d effects (%d applied more than once); want %d, each once",
			dispatched, tasks, effects, twice, n)
	}
}

// openDevDatabase connects to a database of the cluster a dev process keeps in its data directory.
func openDevDatabase(t *testing.T, dataDir, name string) *pgxpool.Pool {
	t.Helper()
	port, err1 := os.ReadFile(filepath.Join(dataDir, "postgres", "port"))
	password, err2 := os.ReadFile(filepath.Join(dataDir, "postgres", "password"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/%s", strings.TrimSpace(string(password)), strings.TrimSpace(string(port)), name)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}
