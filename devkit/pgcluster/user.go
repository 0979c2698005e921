package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// initdb and postgres refuse to run as root. When we are root, the PG
// binaries run as the "postgres" user (or "nobody") instead.
func pgCredential() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	var firstErr error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, "", fmt.Errorf("pgcluster: user %s: %w", name, err)
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, name, nil
	}
	return nil, "", fmt.Errorf("pgcluster: running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as: %w", firstErr)
}

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	// No supplementary groups: the PG user gets exactly its uid and gid,
	// which is also what ensureSearchable checks against.
	return &syscall.SysProcAttr{Credential: cred}
}

// chownTree gives the whole cluster directory to the PG user.
func chownTree(dir string, cred *syscall.Credential) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == cred.Uid && st.Gid == cred.Gid {
			return nil
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

// ensureSearchable makes sure the PG user can reach dir through its
// ancestors. A directory it cannot search is fixed by adding o+x (search
// only, not listing) when the directory is inside the system temp dir,
// which is where throwaway test clusters live (t.TempDir and
// os.MkdirTemp create 0700 directories). Anywhere else we refuse rather
// than loosen permissions of, say, /root behind the caller's back.
func ensureSearchable(dir string, cred *syscall.Credential, logger *slog.Logger) error {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	var ancestors []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		ancestors = append(ancestors, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, p := range ancestors {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if searchable(info.Mode(), st, cred) {
			continue
		}
		if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
			return fmt.Errorf("pgcluster: directory %s is not searchable by uid %d, which runs PostgreSQL; chmod o+x it or choose a data dir elsewhere", p, cred.Uid)
		}
		if err := os.Chmod(p, info.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("pgcluster: make %s searchable: %w", p, err)
		}
		logger.Info("pgcluster: granted search permission (o+x) so PostgreSQL can reach its data dir", "dir", p)
	}
	return nil
}

func searchable(mode fs.FileMode, st *syscall.Stat_t, cred *syscall.Credential) bool {
	perm := mode.Perm()
	switch {
	case st.Uid == cred.Uid:
		return perm&0o100 != 0
	case st.Gid == cred.Gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
