// Package pgtest gives each test a fresh, empty PostgreSQL database.
//
// With KIRJAAMO_TEST_DATABASE_URL set (a URL whose role may create
// databases), databases are created on that server. Otherwise the first
// New starts one Fast pgcluster for the whole test binary in a new temp
// dir; the package's TestMain must then call Main, which stops the cluster
// and removes the dir after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// A test binary killed before Main's cleanup (SIGKILL, a test timeout)
// leaves its cluster behind. That does not disturb later runs, which use a
// new dir and a free port, and the next cluster start here removes such
// leftovers once their owning process is gone.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kirjaamo.dev/devkit/pgcluster"
)

// EnvURL names the variable pointing tests at an existing server.
const EnvURL = "KIRJAAMO_TEST_DATABASE_URL"

const dirPrefix = "kirjaamo-pgtest-"

var (
	mainCalled bool

	once     sync.Once
	cluster  *pgcluster.Cluster
	tmpDir   string
	startErr error
)

// New creates an empty database for t, drops it when t ends, and returns
// its URL.
func New(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a PostgreSQL server; skipped by -short (make test-short)")
	}
	admin, err := adminURL()
	if err != nil {
		t.Fatal(err)
	}
	name := "t_" + strings.ToLower(rand.Text())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgcluster.CreateDatabase(ctx, admin, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// WITH (FORCE) also ends sessions of pools the test did not close.
		if err := pgcluster.DropDatabase(ctx, admin, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvURL, redact(err))
	}
	u.Path = "/" + name
	return u.String()
}

// adminURL is the server to create test databases on.
func adminURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	if !mainCalled {
		// Without Main nobody would stop the cluster, and each test run
		// would leave a postgres running.
		return "", fmt.Errorf("pgtest: add func TestMain(m *testing.M) { pgtest.Main(m) } to the package, or set %s", EnvURL)
	}
	once.Do(startCluster)
	if startErr != nil {
		return "", startErr
	}
	return cluster.URL("postgres"), nil
}

func startCluster() {
	reapLeftovers()
	tmpDir, startErr = os.MkdirTemp("", dirPrefix)
	if startErr != nil {
		startErr = fmt.Errorf("pgtest: %w", startErr)
		return
	}
	// Record the owner, so a later run can tell this dir is abandoned.
	owner := filepath.Join(tmpDir, "owner.pid")
	if err := os.WriteFile(owner, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		startErr = fmt.Errorf("pgtest: %w", err)
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, startErr = pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(tmpDir, "pg"), Fast: true, Logger: logger})
}

// Main runs the tests, then stops the cluster if New started one, removes
// its dir and exits. SIGINT and SIGTERM get the same cleanup.
func Main(m *testing.M) {
	mainCalled = true
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		cleanup()
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	if err := cleanup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

var cleanupOnce sync.Once

func cleanup() (err error) {
	cleanupOnce.Do(func() {
		if cluster != nil {
			err = cluster.Stop()
		}
		if tmpDir != "" {
			if rmErr := os.RemoveAll(tmpDir); err == nil {
				err = rmErr
			}
		}
	})
	return err
}

// reapLeftovers removes clusters of test binaries that died without
// cleaning up. Dirs without an owner file are skipped: their owner may be
// starting right now.
func reapLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if err := pgcluster.Remove(filepath.Join(dir, "pg")); err == nil {
			_ = os.RemoveAll(dir)
		}
	}
}

// redact drops credentials from URL parse errors, which quote the input.
func redact(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Op + ": " + ue.Err.Error()
	}
	return "invalid URL"
}
