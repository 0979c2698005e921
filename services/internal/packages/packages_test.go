package packages_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/devkit/pgtest"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/packages"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/workflows/codec"
	"kirjaamo.dev/workflows/request"
)

const register = "kanta-processing-log"

type fixture struct {
	store *packages.Store
	cases *cases.Repo
	js    jetstream.JetStream
}

func newFixtureCases(t *testing.T) *cases.Repo {
	t.Helper()
	payload, _ := codec.ParseKeys(codec.NewKey("k1"))
	keys, err := store.NewKeyring(payload)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.MigrateAndOpen(context.Background(), pgtest.New(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return cases.New(db)
}

func mustStore(t *testing.T, c *cases.Repo, js jetstream.JetStream) *packages.Store {
	t.Helper()
	keys, _ := codec.ParseKeys(codec.NewKey("k1"))
	s, err := packages.New(c, js, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	c := newFixtureCases(t)
	nc, err := nats.Connect(natstest.New(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: contracts.PackageBucket(register)}); err != nil {
		t.Fatal(err)
	}
	return fixture{store: mustStore(t, c, js), cases: c, js: js}
}

func (f fixture) newCase(t *testing.T) string {
	t.Helper()
	id := uuid.NewString()
	now := time.Now()
	err := f.cases.Record(context.Background(), request.Input{RequestID: id, ReceivedAt: now, Channel: request.ChannelWeb,
		Receipt: request.ReceiptOf(now), Request: contracts.SubmitRequest{Right: contracts.RightAccess, Language: "fi"},
		Subject: request.Subject{ID: "s", Name: "n", IdentityMethod: "oidc", IdentityLevel: "high"}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// deliver does what a register's adapter does: seals the plaintext to the case key and puts it in
// the register's bucket, then returns the reference its result would carry.
func (f fixture) deliver(t *testing.T, requestID string, plain []byte, records int64) contracts.PackageRef {
	t.Helper()
	ctx := context.Background()
	pub, err := f.store.PublicKey(ctx, requestID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(pub)
	caseKey, err := sealed.ParsePublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	object := contracts.PackageObject(contracts.TaskID(requestID, register))
	var buf bytes.Buffer
	w, err := sealed.NewWriter(&buf, caseKey, object, 1024)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	obs, _ := f.js.ObjectStore(ctx, contracts.PackageBucket(register))
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: object}, &buf); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plain)
	return contracts.PackageRef{Bucket: contracts.PackageBucket(register), Object: object, Format: contracts.PackageFormat,
		Records: records, Size: int64(len(plain)), SHA256: hex.EncodeToString(sum[:]),
		Sealing: contracts.Sealing{Scheme: contracts.SealingScheme, EphemeralKey: base64.StdEncoding.EncodeToString(w.EphemeralKey()), ChunkSize: 1024}}
}

func lines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"category":"processing log","fields":{"seq":"%d","viewer":"Terveyskeskus"}}`+"\n", i)
	}
	return b.Bytes()
}

func TestTheCaseKeyIsMadeOnceAndKeptSealed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.newCase(t)
	first, err := f.store.PublicKey(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.store.PublicKey(ctx, id)
	if first != again {
		t.Fatal("a retried activity got another public key: packages sealed to the first would not open")
	}
	other, _ := f.store.PublicKey(ctx, f.newCase(t))
	if other == first {
		t.Fatal("two requests share a key")
	}
	k, _ := f.cases.StoredKey(ctx, id)
	priv, _ := packages.PrivateKey(f.store, ctx, id)
	if bytes.Contains(k.SealedPrivateKey, priv.Bytes()) {
		t.Fatal("the private key is stored in clear")
	}
	if _, err := f.store.PublicKey(ctx, uuid.NewString()); err == nil {
		t.Fatal("a key was made for a request that was never recorded")
	}
}

func TestAPackageOpensWholeAndChecked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.newCase(t)
	plain := lines(2000) // ~150 KB: many chunks of the sealing and of the object store
	ref := f.deliver(t, id, plain, 2000)

	rc, err := f.store.Open(ctx, id, register, ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(plain), err)
	}

	for name, change := range map[string]func(r *contracts.PackageRef){
		"checksum": func(r *contracts.PackageRef) { r.SHA256 = hex.EncodeToString(make([]byte, 32)) },
		"size":     func(r *contracts.PackageRef) { r.Size-- },
		"records":  func(r *contracts.PackageRef) { r.Records++ },
		"sealing":  func(r *contracts.PackageRef) { r.Sealing.ChunkSize = 2048 },
	} {
		bad := ref
		change(&bad)
		rc, err := f.store.Open(ctx, id, register, bad)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if !errors.Is(err, packages.ErrIncomplete) {
			t.Errorf("a package whose %s differs from its result: got %v, want packages.ErrIncomplete", name, err)
		}
	}
}

func TestAPackageOpensOnlyForItsOwnRequestAndRegister(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id, other := f.newCase(t), f.newCase(t)
	_, _ = f.store.PublicKey(ctx, other)
	ref := f.deliver(t, id, lines(10), 10)
	if _, err := f.store.Open(ctx, other, register, ref); err == nil {
		t.Fatal("another request's case opened this package")
	}
	if _, err := f.store.Open(ctx, id, "koronavilkku", ref); err == nil {
		t.Fatal("the package was taken for another register's")
	}
	// Copied under the other request's name, it still does not open: it is sealed to its own request's key and name.
	moved := ref
	moved.Object = contracts.PackageObject(contracts.TaskID(other, register))
	obs, _ := f.js.ObjectStore(ctx, ref.Bucket)
	data, _ := obs.GetBytes(ctx, ref.Object)
	obs.PutBytes(ctx, moved.Object, data)
	rc, err := f.store.Open(ctx, other, register, moved)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, packages.ErrIncomplete) {
		t.Fatalf("a package copied to another task opened: %v", err)
	}
}

// opener is the package store's Open for one request, as the portal hands it to the access package.
func opener(s *packages.Store, requestID string) casefile.Opener {
	return func(ctx context.Context, registerID string, ref contracts.PackageRef) (io.ReadCloser, error) {
		return s.Open(ctx, requestID, registerID, ref)
	}
}
