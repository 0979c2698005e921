package pgtest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/devkit/pgcluster"
)

const helperEnv = "PGTEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		runHelper(dir)
		return
	}
	if flag.Parse(); testing.Short() {
		fmt.Println("skipped by -short (make test-short): every test here runs PostgreSQL")
		os.Exit(0)
	}
	Main(m)
}

// runHelper plays a test binary that owns a cluster and gets killed.
func runHelper(dir string) {
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		panic(err)
	}
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: filepath.Join(dir, "pg"), Fast: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.URL("postgres"))
	select {}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dbExists(t *testing.T, name string) bool {
	t.Helper()
	var ok bool
	err := connect(t, cluster.URL("postgres")).QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDatabasesIsolatedAndDropped(t *testing.T) {
	var names []string
	for _, sub := range []string{"a", "b"} {
		t.Run(sub, func(t *testing.T) {
			url := New(t)
			conn := connect(t, url)
			if _, err := conn.Exec(t.Context(), "CREATE TABLE only_"+sub+" (id int)"); err != nil {
				t.Fatal(err)
			}
			var tables []string
			rows, _ := conn.Query(t.Context(), "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
			tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) != 1 || tables[0] != "only_"+sub {
				t.Fatalf("tables = %v, want only only_%s", tables, sub)
			}
			var name string
			if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			// Left open on purpose: the drop must cope with it.
			_, _ = pgx.Connect(t.Context(), url)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("database names = %v", names)
	}
	for _, name := range names {
		if dbExists(t, name) {
			t.Errorf("database %s not dropped", name)
		}
	}
}

func TestExternalServer(t *testing.T) {
	New(t) // make sure the cluster runs
	t.Setenv(EnvURL, cluster.URL("postgres"))
	url := New(t)
	var one int
	if err := connect(t, url).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

// TestReapsLeftovers SIGKILLs a process owning a cluster, as a test
// timeout would, and checks that the next cluster start removes it.
func TestReapsLeftovers(t *testing.T) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgcluster.Remove(filepath.Join(dir, "pg")); os.RemoveAll(dir) })
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	url, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	url = strings.TrimSpace(url)
	_ = helper.Process.Kill()
	_ = helper.Wait()
	conn := connect(t, url) // the orphaned postgres still runs
	conn.Close(context.Background())

	reapLeftovers()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("leftover dir still there: %v", err)
	}
	if conn, err := pgx.Connect(t.Context(), url); err == nil {
		conn.Close(context.Background())
		t.Fatal("leftover postgres still answers")
	}
}
