package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kirjaamo.dev/services/devstack/cluster"
	"kirjaamo.dev/services/internal/cli"
)

// The cluster's files besides its state: the supervisor's pid, and the summary it writes once the
// cluster is up.
const (
	supervisorPid = "supervisor.pid"
	readyFile     = "ready"
)

// runCluster is `kirjaamo cluster up [-detach]` and `kirjaamo cluster down`, on KIRJAAMO_CLUSTER_DIR
// (default .cluster) with the binaries in KIRJAAMO_CLUSTER_BIN (default bin/cluster).
func runCluster(ctx context.Context, args []string, stdout io.Writer) error {
	dir, bin := envOr("KIRJAAMO_CLUSTER_DIR", ".cluster"), envOr("KIRJAAMO_CLUSTER_BIN", filepath.Join("bin", "cluster"))
	switch {
	case len(args) == 1 && args[0] == "up":
		return clusterUp(ctx, dir, bin, stdout)
	case len(args) == 2 && args[0] == "up" && args[1] == "-detach":
		return clusterDetach(ctx, dir, stdout)
	case len(args) == 1 && args[0] == "down":
		return clusterDown(dir, stdout)
	}
	return fmt.Errorf("%w: cluster up [-detach] | cluster down", cli.ErrUsage)
}

// clusterUp supervises the cluster in the foreground until SIGINT or SIGTERM.
func clusterUp(ctx context.Context, dir, bin string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil { // PostgreSQL, run as its own user under root, must reach its directory in it
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, supervisorPid), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(dir, supervisorPid))
	_ = os.Remove(filepath.Join(dir, readyFile))
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := cluster.Up(ctx, cluster.Options{Dir: dir, Bin: bin, Ports: cluster.DefaultPorts, Logger: log})
	if err != nil {
		return err
	}
	summary := c.Summary()
	fmt.Fprint(stdout, summary)
	_ = os.WriteFile(filepath.Join(dir, readyFile), []byte(summary), 0o600)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nStopping the cluster…")
	_ = os.Remove(filepath.Join(dir, readyFile))
	c.Down()
	return nil
}

// clusterDetach starts the supervisor in the background, its output in <dir>/cluster.log, and
// returns once the cluster is up (make cluster), or with the log's end if it did not come up.
func clusterDetach(ctx context.Context, dir string, stdout io.Writer) error {
	if pid := runningSupervisor(dir); pid != 0 {
		return fmt.Errorf("a cluster is already running in %s (supervisor %d); make cluster-down stops it", dir, pid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { // PostgreSQL, run as its own user under root, must reach its directory in it
		return err
	}
	_ = os.Remove(filepath.Join(dir, readyFile))
	logPath := filepath.Join(dir, "cluster.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "cluster", "up")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives make
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Minute); ; {
		if summary, err := os.ReadFile(filepath.Join(dir, readyFile)); err == nil {
			fmt.Fprint(stdout, string(summary))
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the cluster did not come up (%v); the end of %s:\n%s", err, logPath, tail(logPath, 30))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not come up in 10 minutes; see %s", logPath)
		}
	}
}

// clusterDown stops a detached cluster's supervisor, which stops the cluster in order.
func clusterDown(dir string, stdout io.Writer) error {
	pid := runningSupervisor(dir)
	if pid == 0 {
		fmt.Fprintln(stdout, "no cluster is running in "+dir)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); syscall.Kill(pid, 0) == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("the cluster's supervisor did not stop in two minutes")
		}
	}
	fmt.Fprintln(stdout, "the cluster is stopped; its state stays in "+dir)
	return nil
}

func runningSupervisor(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, supervisorPid))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
