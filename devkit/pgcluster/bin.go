package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
)

// binDir finds a directory holding initdb, pg_ctl and postgres: the one
// initdb on PATH lives in, else the highest /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// PATH often holds symlinks (Debian's /usr/local/bin); resolve so
		// the sibling binaries are found next to the real initdb.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); hasBins(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Sort by major version numerically, so 10 beats 9.6.
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		if hasBins(dir) {
			return dir, nil
		}
	}
	return "", errors.New("pgcluster: no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under /usr/lib/postgresql/*/bin; install the postgresql server package")
}

func hasBins(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.binDir, name) }

// command builds a PG command running as the cluster's OS user, with PG*
// variables scrubbed so a developer's PGDATA or PGPORT cannot redirect it.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin(name), args...)
	cmd.Dir = c.dir // the PG user may not be able to reach the caller's cwd
	for _, kv := range os.Environ() {
		if len(kv) >= 2 && kv[:2] == "PG" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if c.cred != nil {
		cmd.SysProcAttr = sysProcAttr(c.cred)
	}
	return cmd
}

// run runs a PG command, folding its output into the error.
func (c *Cluster) run(name string, args ...string) error {
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytesTrim(out))
	}
	return nil
}

func bytesTrim(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Bin is the path of one of the machine's PostgreSQL programs (pg_dump, psql, …), from the
// directory the clusters here run from, so that a client matches the server it talks to.
func Bin(name string) (string, error) {
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}
