package pgcluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func start(t *testing.T, dir string, fast bool) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), Options{DataDir: dir, Fast: fast, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM notes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMain skips the package in the quick lane: its tests run PostgreSQL clusters.
func TestMain(m *testing.M) {
	if flag.Parse(); testing.Short() {
		fmt.Println("skipped by -short (make test-short): every test here runs PostgreSQL")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDataSurvivesStopAndCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir, false)

	if err := c.CreateDatabase(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(t.Context(), "app"); err != nil {
		t.Fatalf("second CreateDatabase: %v", err)
	}
	execSQL(t, c.URL("app"), "CREATE TABLE notes (body text)")
	execSQL(t, c.URL("app"), "INSERT INTO notes VALUES ('before stop')")
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	c = start(t, dir, false)
	if c.Port() != port {
		t.Errorf("restart port = %d, want persisted %d", c.Port(), port)
	}
	if n := count(t, c.URL("app")); n != 1 {
		t.Fatalf("rows after restart = %d, want 1", n)
	}

	// fsync is on, so a committed row survives SIGKILL.
	execSQL(t, c.URL("app"), "INSERT INTO notes VALUES ('before crash')")
	c.Kill()
	c = start(t, dir, false)
	if n := count(t, c.URL("app")); n != 2 {
		t.Fatalf("rows after crash = %d, want 2", n)
	}
}

func TestSecurity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir, true)

	fi, err := os.Stat(filepath.Join(dir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode = %v", fi.Mode().Perm())
	}
	bad := strings.Replace(c.URL("postgres"), ":"+c.password+"@", ":wrong@", 1)
	if conn, err := pgx.Connect(t.Context(), bad); err == nil {
		conn.Close(context.Background())
		t.Fatal("connected with a wrong password")
	}
	noPass := strings.Replace(c.URL("postgres"), ":"+c.password+"@", "@", 1)
	if conn, err := pgx.Connect(t.Context(), noPass); err == nil {
		conn.Close(context.Background())
		t.Fatal("connected without a password")
	}
	// Only loopback: nothing listens on other addresses of this host.
	if ips, _ := net.InterfaceAddrs(); len(ips) > 0 {
		for _, a := range ips {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip == nil || ip.IsLoopback() || ip.To4() == nil {
				continue
			}
			if conn, err := net.Dial("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(c.Port()))); err == nil {
				conn.Close()
				t.Fatalf("postgres reachable on %s", ip)
			}
		}
	}

	if _, err := Start(t.Context(), Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Start on a running dir: err = %v, want in use", err)
	}
}

func TestPersistedPortTaken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir, true)
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c = start(t, dir, true)
	if c.Port() == port {
		t.Fatal("reused a port that is taken")
	}
	execSQL(t, c.URL("postgres"), "SELECT 1")
}

// TestLeftoverPostmaster covers `make dev` dying without stopping
// postgres: the next Start must take the cluster over.
func TestLeftoverPostmaster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	c := start(t, dir, true)
	c.unlock() // as if the owning process had died
	old := c.exited

	c2 := start(t, dir, true)
	<-old // the leftover was stopped
	execSQL(t, c2.URL("postgres"), "SELECT 1")

	c2.unlock()
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir still there: %v", err)
	}
	<-c2.exited
}

func TestDataDirRequired(t *testing.T) {
	if _, err := Start(t.Context(), Options{}); err == nil {
		t.Fatal("no error without DataDir")
	}
}

// Outside the temp dir, Start must not loosen permissions itself.
func TestUnsearchableParentOutsideTemp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	parent, err := os.MkdirTemp("/var/tmp", "pgcluster-perm-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	_, err = Start(t.Context(), Options{DataDir: filepath.Join(parent, "pg")})
	if err == nil || !strings.Contains(err.Error(), "not searchable") {
		t.Fatalf("err = %v, want not searchable", err)
	}
	if fi, _ := os.Stat(parent); fi.Mode().Perm() != 0o700 {
		t.Fatalf("parent mode changed to %v", fi.Mode().Perm())
	}
}
