// Package pgcluster runs a throwaway PostgreSQL cluster from the machine's
// own server binaries, for `make dev` and integration tests.
//
// Layout of Options.DataDir (the directory is created if missing):
//
//	pgdata/     the cluster (PGDATA)
//	password    superuser password, 0600
//	port        last port used, so `make dev` keeps its URL across restarts
//	postgres.log server log (may contain statement text: it stays on disk
//	            next to the data and is never forwarded to slog)
//	lock        flock held while a Cluster runs on this directory
//
// The server listens on 127.0.0.1 only, has no unix sockets, and accepts
// only SCRAM password authentication over TCP.
//
// When the caller is root, the PG binaries run as the "postgres" user (or
// "nobody"); DataDir is chowned to that user, and directories above it
// must be searchable by it. Inside the system temp dir Start adds o+x where
// needed; elsewhere it returns an error naming the directory.
package pgcluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the name of the cluster's superuser role.
const Superuser = "postgres"

// Options configure Start.
type Options struct {
	// DataDir holds the cluster (required). If it already holds one, that
	// cluster is started again with its data.
	DataDir string
	// Port to listen on; 0 reuses the port persisted in DataDir if it is
	// free, else picks a free one.
	Port int
	// Fast turns off fsync, synchronous_commit and full_page_writes. Only
	// for throwaway test clusters: a crash of the machine can corrupt the
	// cluster. Off by default, because durability is a product promise and
	// the dev stack should behave like production.
	Fast bool
	// Logger receives lifecycle messages. Default slog.Default().
	Logger *slog.Logger
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	dir, pgdata, binDir string
	cred                *syscall.Credential // nil unless we are root
	port                int
	password            string
	logger              *slog.Logger

	lock   *os.File
	proc   *exec.Cmd
	exited chan struct{} // closed once proc has been reaped
	logf   *os.File
}

// Start initialises the cluster if DataDir holds none, then starts it and
// waits until it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgcluster: Options.DataDir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data dir: %w", err)
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, osUser, err := pgCredential()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, pgdata: filepath.Join(dir, "pgdata"), binDir: bin, cred: cred, logger: opts.Logger}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgcluster: data dir: %w", err)
	}
	if c.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok && c.proc != nil {
			c.kill()
		}
		if !ok {
			c.release()
		}
	}()
	if cred != nil {
		if err := ensureSearchable(dir, cred, c.logger); err != nil {
			return nil, err
		}
		if err := chownTree(dir, cred); err != nil {
			return nil, fmt.Errorf("pgcluster: chown data dir to %s: %w", osUser, err)
		}
	}

	if _, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION")); err == nil {
		if c.password, err = c.readPassword(); err != nil {
			return nil, err
		}
		// We hold the lock, so a postmaster still running here was left
		// behind by a process that died; stop it before starting ours.
		if err := c.stopLeftover(); err != nil {
			return nil, err
		}
	} else if err := c.initdb(opts.Fast); err != nil {
		return nil, err
	}

	if err := c.start(ctx, opts); err != nil {
		return nil, err
	}
	ok = true
	c.logger.Info("pgcluster: postgres started", "data_dir", dir, "port", c.port, "fast", opts.Fast)
	return c, nil
}

// initdb creates the cluster in a scratch directory and renames it into
// place, so a half-initialised pgdata is never mistaken for a cluster.
func (c *Cluster) initdb(fast bool) error {
	c.password = rand.Text()
	pwFile := filepath.Join(c.dir, "password")
	if err := c.writeFile(pwFile, c.password+"\n"); err != nil {
		return err
	}
	scratch := c.pgdata + ".init"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	args := []string{
		"-D", scratch, "-U", Superuser, "--pwfile", pwFile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C",
		"--no-instructions",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	if err := c.run("initdb", args...); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	// initdb's default also lets local-socket and ::1 clients in; we have
	// neither, so say exactly what is allowed.
	hba := "# Written by pgcluster: TCP on loopback only, SCRAM passwords only.\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := c.writeFile(filepath.Join(scratch, "pg_hba.conf"), hba); err != nil {
		return err
	}
	if err := os.Rename(scratch, c.pgdata); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	port, persisted := opts.Port, false
	if port == 0 {
		if b, err := os.ReadFile(filepath.Join(c.dir, "port")); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && portFree(p) {
				port, persisted = p, true
			}
		}
	}
	// A port picked here can be taken before postgres binds it; retry
	// with another one, unless the caller asked for this port.
	for attempt := 1; ; attempt++ {
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("pgcluster: pick port: %w", err)
			}
			port = p
		}
		c.port = port
		err := c.launch(ctx, opts.Fast)
		if err == nil {
			break
		}
		var bindErr bindError
		if !errors.As(err, &bindErr) || opts.Port != 0 || attempt == 3 {
			return err
		}
		if persisted {
			c.logger.Info("pgcluster: persisted port taken, picking another", "port", port)
		}
		port, persisted = 0, false
	}
	return c.writeFile(filepath.Join(c.dir, "port"), strconv.Itoa(c.port)+"\n")
}

type bindError struct{ error }

// launch runs the postmaster as our child (not through pg_ctl start) so
// that Kill can reach it and its backends, and we reap it ourselves.
func (c *Cluster) launch(ctx context.Context, fast bool) error {
	logPath := filepath.Join(c.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: log file: %w", err)
	}
	logStart, _ := logf.Seek(0, 2)
	args := []string{
		"-D", c.pgdata,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		// No unix sockets: nothing to clean up, no 107-byte path limit,
		// no peer authentication.
		"-c", "unix_socket_directories=",
		"-c", "password_encryption=scram-sha-256",
	}
	if fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := c.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a terminal's Ctrl-C goes to `make dev`, which
	// stops postgres in order, and Kill can take out all backends at once.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	c.proc, c.logf, c.exited = cmd, logf, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()

	if err := c.waitReady(ctx); err != nil {
		select {
		case <-c.exited:
		default:
			c.kill()
		}
		c.logf.Close()
		c.proc, c.logf = nil, nil
		tail := logTail(logPath, logStart)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "could not create any TCP/IP sockets") {
			return bindError{fmt.Errorf("pgcluster: port %d: %w: %s", c.port, err, tail)}
		}
		return fmt.Errorf("pgcluster: start postgres: %w: %s", err, tail)
	}
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return errors.New("postgres exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres: %w (last error: %v)", ctx.Err(), redact(err, c.password))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is a connection URL for database on this cluster, with the
// superuser's credentials. Treat it as a secret.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the cluster listens on (127.0.0.1 only).
func (c *Cluster) Port() int { return c.port }

// DataDir is the absolute Options.DataDir.
func (c *Cluster) DataDir() string { return c.dir }

// CreateDatabase creates database name unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	return CreateDatabase(ctx, c.URL("postgres"), name)
}

// DropDatabase drops database name if it exists, disconnecting its
// sessions first.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	return DropDatabase(ctx, c.URL("postgres"), name)
}

// CreateDatabase creates database name on the server at adminURL unless it
// exists. It works on any server, not only one started here.
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: create database: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: create database: %w", err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: lost a race
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database: %w", err)
	}
	return nil
}

// DropDatabase drops database name on the server at adminURL if it
// exists, terminating its sessions (WITH (FORCE), PostgreSQL 13+).
func DropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: drop database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgcluster: drop database: %w", err)
	}
	return nil
}

// Stop shuts the cluster down (pg_ctl stop -m fast: sessions are
// disconnected, the data is checkpointed) and waits for it to exit.
func (c *Cluster) Stop() error {
	if c.proc == nil {
		return nil
	}
	defer c.release()
	select {
	case <-c.exited:
		return errors.New("pgcluster: stop: postgres had already exited; see postgres.log")
	default:
	}
	if err := c.run("pg_ctl", "stop", "-D", c.pgdata, "-m", "fast", "-w", "-t", "120"); err != nil {
		return fmt.Errorf("pgcluster: stop: %w", err)
	}
	<-c.exited
	c.logger.Info("pgcluster: postgres stopped", "data_dir", c.dir)
	return nil
}

// Kill simulates a crash: SIGKILL to the postmaster and all its backends,
// then waits until they are gone. Start on the same DataDir recovers.
func (c *Cluster) Kill() {
	if c.proc == nil {
		return
	}
	c.kill()
	c.release()
}

func (c *Cluster) kill() {
	pgid := c.proc.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-c.exited
	// Backends are reparented once the postmaster dies; wait until the
	// group is empty so a restart does not find its shared memory in use.
	for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) release() {
	c.proc = nil
	if c.logf != nil {
		c.logf.Close()
		c.logf = nil
	}
	c.unlock()
}

func (c *Cluster) unlock() {
	if c.lock != nil {
		_ = c.lock.Close() // closing drops the flock
		c.lock = nil
	}
}

// stopLeftover stops a postmaster that a dead process left running on
// pgdata, so that ours can start.
func (c *Cluster) stopLeftover() error {
	if c.run("pg_ctl", "status", "-D", c.pgdata) != nil {
		return nil // exit status 3: not running (a stale pid file is fine)
	}
	c.logger.Warn("pgcluster: stopping a postgres left running by an earlier process", "data_dir", c.dir)
	if err := c.run("pg_ctl", "stop", "-D", c.pgdata, "-m", "fast", "-w", "-t", "120"); err != nil {
		return fmt.Errorf("pgcluster: stop leftover postgres: %w", err)
	}
	return nil
}

// Remove stops any postgres still running on dataDir (immediate mode, no
// checkpoint) and deletes the directory. It fails if a Cluster in a live
// process holds dataDir.
func Remove(dataDir string) error {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("pgcluster: remove: %w", err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	pgdata := filepath.Join(dir, "pgdata")
	if fi, err := os.Stat(filepath.Join(pgdata, "postmaster.pid")); err == nil {
		bin, err := binDir()
		if err != nil {
			return err
		}
		c := &Cluster{dir: dir, pgdata: pgdata, binDir: bin}
		if os.Geteuid() == 0 {
			// Run pg_ctl as whoever owns the cluster.
			st := fi.Sys().(*syscall.Stat_t)
			c.cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
		}
		if c.run("pg_ctl", "status", "-D", pgdata) == nil {
			if err := c.run("pg_ctl", "stop", "-D", pgdata, "-m", "immediate", "-w"); err != nil {
				return fmt.Errorf("pgcluster: remove: stop postgres: %w", err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pgcluster: remove: %w", err)
	}
	return nil
}

func (c *Cluster) readPassword() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "password"))
	if err != nil {
		return "", fmt.Errorf("pgcluster: read password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeFile writes a 0600 file owned by the PG user.
func (c *Cluster) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgcluster: write %s: %w", filepath.Base(path), err)
	}
	if c.cred != nil {
		if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("pgcluster: chown %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}

// lockDir takes an exclusive flock on dir/lock, so two processes never
// run one cluster. The lock is not inherited by postgres, so a postmaster
// orphaned by a crashed process does not hold it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgcluster: data dir %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func logTail(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return ""
	}
	return strings.TrimSpace(bytesTrim(b[from:]))
}

// redact keeps the password out of errors that may quote the URL.
func redact(err error, password string) string {
	s := err.Error()
	if password != "" {
		s = strings.ReplaceAll(s, password, "xxxxx")
	}
	return s
}
