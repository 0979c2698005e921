package temporaldev_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/services/devstack/temporaldev"
)

const (
	taskQueue = "temporaldev-test"
	childEnv  = "TEMPORALDEV_TEST_CHILD_DB"
)

// TestMain doubles as the server process for the crash test: with childEnv
// set it runs a server on that file until killed.
func TestMain(m *testing.M) {
	if db := os.Getenv(childEnv); db != "" {
		runChild(db)
		return
	}
	if flag.Parse(); testing.Short() {
		fmt.Println("skipped by -short (make test-short): every test here runs the Temporal server")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(db string) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := temporaldev.Start(context.Background(), temporaldev.Options{DBFile: db, Logger: logger})
	if err != nil {
		logger.Error("child start", "err", err)
		os.Exit(1)
	}
	fmt.Println(srv.HostPort())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	if err := srv.Stop(); err != nil {
		os.Exit(1)
	}
}

// waitForSignal is the workflow under test: it parks until signalled.
func waitForSignal(ctx workflow.Context) (string, error) {
	state := "waiting"
	if err := workflow.SetQueryHandler(ctx, "state", func() (string, error) { return state, nil }); err != nil {
		return "", err
	}
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return "got " + v, nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func dial(t *testing.T, hostPort, namespace string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  hostPort,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", hostPort, err)
	}
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(waitForSignal)
	if err := w.Start(); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	return w
}

// startParked starts the workflow and waits until a worker has run its first
// task, so the server has persisted the workflow in its waiting state.
func startParked(t *testing.T, ctx context.Context, c client.Client, id string) {
	t.Helper()
	w := startWorker(t, c)
	defer w.Stop()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, waitForSignal); err != nil {
		t.Fatalf("execute workflow: %v", err)
	}
	for {
		v, err := c.QueryWorkflow(ctx, id, "", "state")
		if err == nil {
			var state string
			if err := v.Get(&state); err != nil || state != "waiting" {
				t.Fatalf("query state = %q, %v", state, err)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("workflow never parked: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// finish signals the parked workflow and waits for its result.
func finish(t *testing.T, ctx context.Context, c client.Client, id string) {
	t.Helper()
	w := startWorker(t, c)
	defer w.Stop()
	if err := c.SignalWorkflow(ctx, id, "", "go", "again"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	var got string
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if got != "got again" {
		t.Fatalf("result = %q", got)
	}
}

func TestRestartKeepsWorkflows(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "state", "temporal.db")
	opts := temporaldev.Options{DBFile: db, Namespace: "kirjaamo", Logger: testLogger(t)}

	t0 := time.Now()
	srv, err := temporaldev.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first start (new file) took %v", time.Since(t0))
	if srv.Namespace() != "kirjaamo" {
		t.Fatalf("Namespace() = %q", srv.Namespace())
	}
	if _, err := temporaldev.Start(ctx, opts); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on the same file: err = %v, want in use", err)
	}
	c := dial(t, srv.HostPort(), srv.Namespace())
	startParked(t, ctx, c, "restart-1")
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	t0 = time.Now()
	srv, err = temporaldev.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(t0))
	defer srv.Stop()
	c = dial(t, srv.HostPort(), srv.Namespace())
	defer c.Close()
	finish(t, ctx, c, "restart-1")
}

// TestCrashKeepsWorkflows runs the server in a child process, kills it with
// SIGKILL while a workflow is parked, and resumes it in a fresh process:
// the upstream SQLite pool keeps connections open for the process lifetime,
// so only a new process shows what is really on disk.
func TestCrashKeepsWorkflows(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "temporal.db")

	child, hostPort := startChild(t, db)
	c := dial(t, hostPort, "default")
	startParked(t, ctx, c, "crash-1")
	c.Close()
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	child, hostPort = startChild(t, db)
	c = dial(t, hostPort, "default")
	defer c.Close()
	finish(t, ctx, c, "crash-1")
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
}

func startChild(t *testing.T, db string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+db)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child server did not start: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestInMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := temporaldev.Start(ctx, temporaldev.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if srv.Namespace() != "default" {
		t.Fatalf("Namespace() = %q", srv.Namespace())
	}
	c := dial(t, srv.HostPort(), srv.Namespace())
	defer c.Close()
	startParked(t, ctx, c, "mem-1")
	finish(t, ctx, c, "mem-1")
}

func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if _, err := temporaldev.Start(t.Context(), temporaldev.Options{Port: port, Logger: testLogger(t)}); err == nil {
		t.Fatal("started on a taken port")
	}
}
