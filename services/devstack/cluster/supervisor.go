package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"log/slog"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// proc is one supervised process: started again RestartAfter after it exits, until the cluster
// goes down.
type proc struct {
	name  string
	argv  []string
	env   []string
	ready func(context.Context) error

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run has exited
	started time.Time
	runs    int
}

// env is what every process starts with: no variable of the shell that started the cluster leaks
// into it, but the OpenTelemetry ones, so that its traces can be exported.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// add starts a process under supervision.
func (c *Cluster) add(name string, argv, env []string, ready func(context.Context) error) {
	p := &proc{name: name, argv: argv, env: append(baseEnv(), env...), ready: ready}
	c.mu.Lock()
	c.procs[name] = p
	c.order = append(c.order, name)
	c.mu.Unlock()
	c.run(p)
}

func (c *Cluster) run(p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return
	}
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, "logs", p.name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		c.opts.Logger.Error("cluster: log file", "process", p.name, "error", err)
		return
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, logf, logf
	cmd.Dir = c.opts.Dir
	// A process group of its own: a terminal's Ctrl-C reaches the supervisor, which stops them in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.opts.Logger.Error("cluster: start", "process", p.name, "error", err)
		return
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.started = cmd, exited, time.Now()
	p.runs++
	go func() {
		err := cmd.Wait()
		logf.Close()
		close(exited)
		c.mu.Lock()
		down := c.down
		c.mu.Unlock()
		if down {
			return
		}
		c.opts.Logger.Warn("cluster: process exited; starting it again", "process", p.name, "error", err, "after", c.opts.RestartAfter)
		time.Sleep(c.opts.RestartAfter)
		c.run(p)
	}()
}

// once runs a command to its end, its output in its log.
func (c *Cluster) once(ctx context.Context, name string, argv, env []string) error {
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, "logs", name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = append(baseEnv(), env...), logf, logf, c.opts.Dir
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cluster: %s: %w (see %s)", name, err, logf.Name())
	}
	return nil
}

// waitReady waits until each named process answers its readiness check.
func (c *Cluster) waitReady(ctx context.Context, names ...string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for _, name := range names {
		p := c.proc(name)
		for {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := p.ready(cctx)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster: %s is not ready: %w (see %s)", name, err, filepath.Join(c.opts.Dir, "logs", name+".log"))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// Ready waits until each named process is ready again, after a kill.
func (c *Cluster) Ready(ctx context.Context, names ...string) error {
	return c.waitReady(ctx, names...)
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// Kill kills a process with SIGKILL, as a crash or the kernel would; the supervisor starts it again.
// It returns once the process is gone.
func (c *Cluster) Kill(name string) error {
	p := c.proc(name)
	if p == nil {
		return fmt.Errorf("cluster: no process %s", name)
	}
	c.mu.Lock()
	cmd, exited := p.cmd, p.exited
	c.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("cluster: %s is not running", name)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return nil
}

// Pid is a process's current pid, for what the cluster does not do itself.
func (c *Cluster) Pid(name string) int {
	p := c.proc(name)
	if p == nil || p.cmd == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return p.cmd.Process.Pid
}

// Names lists the supervised processes in the order they started.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// Down stops every process, the last started first (SIGTERM, then SIGKILL after 15 s), then
// PostgreSQL.
func (c *Cluster) Down() {
	c.mu.Lock()
	c.down = true
	order := slices.Clone(c.order)
	c.mu.Unlock()
	// Three tiers, each stopped together: the services, adapters and sites; Temporal; NATS.
	var rest []string
	for _, name := range order {
		if !strings.HasPrefix(name, "nats-") && name != "temporal" {
			rest = append(rest, name)
		}
	}
	tiers := [][]string{rest, {"temporal"}, {"nats-1", "nats-2", "nats-3"}}
	for _, tier := range tiers {
		var waits []chan struct{}
		for _, name := range tier {
			p := c.proc(name)
			if p == nil || p.cmd == nil {
				continue
			}
			c.mu.Lock()
			cmd, exited := p.cmd, p.exited
			c.mu.Unlock()
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			waits = append(waits, exited)
			go func() {
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
			}()
		}
		for _, w := range waits {
			<-w
		}
	}
	if c.pg != nil {
		if err := c.pg.Stop(); err != nil {
			c.opts.Logger.Warn("cluster: stop postgres", "error", err)
		}
	}
}

// temporalReady: the frontend answers for the namespace.
func (c *Cluster) temporalReady(ctx context.Context) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: c.Temporal,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Describe(ctx, "kirjaamo")
	return err
}
