package devstack

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kirjaamo.dev/adapters/demo"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/natsauth"
)

// TestCredentialsAreKeptInTheDataDir: a second start uses the keys and credentials of the first,
// which only their owner can read.
func TestCredentialsAreKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := natsCredentials(dir, registerIDs(demo.Registers))
	if err != nil {
		t.Fatal(err)
	}
	second, err := natsCredentials(dir, registerIDs(demo.Registers))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(second.RegisterCreds))
	for id, path := range second.RegisterCreds {
		ids = append(ids, id)
		a, _ := os.ReadFile(first.RegisterCreds[id])
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s's credentials changed between starts (%v)", id, err)
		}
	}
	slices.Sort(ids)
	if want := []string{"clinic-event-invitations", "kanta-client-register", "kanta-processing-log", "kela-web-statistics", "koronavilkku"}; !slices.Equal(ids, want) {
		t.Errorf("credentials for %v, want the five demo registers", ids)
	}
	_ = filepath.WalkDir(filepath.Join(dir, "nats-auth"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		if want := os.FileMode(0o600); d.IsDir() {
			want = 0o700
			if info.Mode().Perm() != want {
				t.Errorf("%s is %v, want %v", path, info.Mode().Perm(), want)
			}
		} else if info.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
}

// TestTheDevNATSTakesNoAnonymousClients: on the running stack, a client without credentials is
// refused, and a demo register's credentials do not reach another register's tasks, while every
// adapter came into force with its own.
func TestTheDevNATSTakesNoAnonymousClients(t *testing.T) {
	s := sharedStack(t)
	if nc, err := nats.Connect(s.NATSURL); err == nil {
		nc.Close()
		t.Fatal("the dev NATS took an anonymous client")
	}
	errs := make(chan error, 10)
	nc, err := nats.Connect(s.NATSURL, nats.UserCredentials(s.natsAuth.RegisterCreds["koronavilkku"]),
		nats.CustomInboxPrefix(natsauth.InboxPrefix("koronavilkku")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync(contracts.TaskSubject("kanta-client-register")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("koronavilkku subscribing to Kanta's tasks: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("koronavilkku subscribed to Kanta's tasks")
	}
}
