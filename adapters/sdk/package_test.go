package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/internal/embeddednats"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
)

// exporter streams n records of about 1 KiB each, made as they are written, and then the records
// of extra (an invalid one, for a test).
type exporter struct {
	decl  contracts.Declaration
	n     int
	extra []contracts.Record
}

func (e exporter) Declaration() contracts.Declaration { return e.decl }

func (e exporter) Operations() sdk.Operations {
	return sdk.Operations{Export: e.export, Erase: eraseNothing}
}

func (e exporter) export(ctx context.Context, _ sdk.Query, w sdk.RecordWriter) error {
	entry := strings.Repeat("Pääsy potilastietoihin; ", 40)
	for i := range e.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.Write(contracts.Record{Category: "processing log", Fields: map[string]string{"seq": strconv.Itoa(i), "entry": entry}}); err != nil {
			return err
		}
	}
	for _, rec := range e.extra {
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// eraseNothing is the erasure of the test declaration's registers that hold nothing to erase.
func eraseNothing(context.Context, sdk.Query) (int, error) { return 0, nil }

// finder returns n small records at once, from a Lookup handler.
type finder struct {
	decl contracts.Declaration
	n    int
}

func (f finder) Declaration() contracts.Declaration { return f.decl }

func (f finder) Operations() sdk.Operations {
	return sdk.Operations{Lookup: f.lookup, Erase: eraseNothing}
}

func (f finder) lookup(context.Context, sdk.Query) ([]contracts.Record, error) {
	out := make([]contracts.Record, f.n)
	for i := range out {
		out[i] = contracts.Record{Category: "event invitations", Fields: map[string]string{"seq": strconv.Itoa(i)}}
	}
	return out, nil
}

func caseKey(t *testing.T) (*ecdh.PrivateKey, *contracts.PackageTarget) {
	t.Helper()
	key, err := sealed.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return key, &contracts.PackageTarget{Key: base64.StdEncoding.EncodeToString(key.PublicKey().Bytes()), InlineLimit: contracts.DefaultInlineLimit}
}

// openPackage reads a result's package as the platform does, and checks it against the reference:
// it returns the records' "seq" fields in order.
func openPackage(t *testing.T, p *platform, key *ecdh.PrivateKey, ref *contracts.PackageRef) []string {
	t.Helper()
	// Without a deadline of its own, the object store's Get gives the whole read nats.go's default
	// API timeout, 5 s, too short for a large package.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	obs, err := p.js.ObjectStore(ctx, ref.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	object, err := obs.Get(ctx, ref.Object)
	if err != nil {
		t.Fatal(err)
	}
	defer object.Close()
	eph, err := base64.StdEncoding.DecodeString(ref.Sealing.EphemeralKey)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := sealed.NewReader(object, key, eph, ref.Object, ref.Sealing.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var size int64
	lines := bufio.NewReaderSize(io.TeeReader(opened, h), 64<<10)
	var seqs []string
	for {
		line, err := lines.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("after %d records and %d bytes: %v", len(seqs), size, err)
		}
		size += int64(len(line))
		if len(line) > 0 {
			var rec contracts.Record
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("line %d: %v", len(seqs)+1, err)
			}
			if err := contracts.Validate(&rec); err != nil {
				t.Fatalf("line %d: %v", len(seqs)+1, err)
			}
			seqs = append(seqs, rec.Fields["seq"])
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.SHA256 || size != ref.Size || int64(len(seqs)) != ref.Records {
		t.Fatalf("the package holds %d records, %d bytes, SHA-256 %s; the result says %d, %d, %s",
			len(seqs), size, got, ref.Records, ref.Size, ref.SHA256)
	}
	return seqs
}

// TestALargeExportIsStreamedIntoASealedPackage exports more than 256 MiB of records on one subject
// and checks that they arrive whole, sealed to the case key, while the process's heap stays a small
// fraction of that: nothing holds the whole package.
func TestALargeExportIsStreamedIntoASealedPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 270 MB through NATS")
	}
	const records = 260_000 // about 1050 bytes of JSON each
	p := newPlatform(t)
	p.run(exporter{decl: declaration(t), n: records}, 30*time.Second)
	key, target := caseKey(t)
	task := p.task(contracts.OpLookup, contracts.RightAccess)
	task.Package = target

	// What earlier tests in the process left is not the export's.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var (
		mu      sync.Mutex
		peak    uint64
		samples int
	)
	sampling, stopSampling := context.WithCancel(t.Context())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for sampling.Err() == nil {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak, samples = max(peak, ms.HeapInuse), samples+1
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	p.send(task, task.TaskID)
	res := p.result(task.TaskID, 10*time.Minute)
	stopSampling()
	<-sampled
	hwm := vmHWM()

	if res.Status != contracts.StatusFound || res.Package == nil || len(res.Records) > 0 {
		t.Fatalf("result %s with %d inline records and package %+v (%+v), want found with a package", res.Status, len(res.Records), res.Package, res.Error)
	}
	ref := res.Package
	if ref.Bucket != contracts.PackageBucket("test-invitations") || ref.Object != task.TaskID || ref.Records != records ||
		ref.Sealing.Scheme != contracts.SealingScheme || ref.Sealing.ChunkSize != sealed.DefaultChunkSize {
		t.Errorf("package reference %+v", ref)
	}
	if ref.Size < 256<<20 {
		t.Fatalf("the package is %d bytes; the test wants more than 256 MiB", ref.Size)
	}
	seqs := openPackage(t, p, key, ref)
	for i, s := range seqs {
		if s != strconv.Itoa(i) {
			t.Fatalf("record %d is %s: the package is not in the order written", i, s)
		}
	}
	grew := peak - min(peak, before.HeapInuse)
	t.Logf("package: %d records, %d MiB; heap in use %d MiB before, at most %d MiB over %d samples; during the export %s, with the reading %s",
		ref.Records, ref.Size>>20, before.HeapInuse>>20, peak>>20, samples, hwm, vmHWM())
	// The embedded NATS server shares the heap: the bound covers its buffers too.
	if limit := uint64(ref.Size) / 4; grew > limit {
		t.Errorf("heap in use grew by %d MiB during a %d MiB export; want under %d MiB", grew>>20, ref.Size>>20, limit>>20)
	}
}

// vmHWM is the process's peak resident set, from /proc, for the log.
func vmHWM() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "VmHWM unknown"
	}
	for line := range strings.Lines(string(status)) {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return "VmHWM unknown"
}

func TestRecordsBeyondTheInlineLimitComeAsAPackage(t *testing.T) {
	p := newPlatform(t)
	p.run(finder{decl: declaration(t), n: 1001}, 5*time.Second)
	key, target := caseKey(t)

	// Without a package target, a result too large to travel is a clear failure, not a broken message.
	task := p.task(contracts.OpLookup, contracts.RightAccess)
	p.send(task, task.TaskID)
	wantFailed(t, p.result(task.TaskID, 20*time.Second), contracts.ErrInternal, "more on the subject than a result carries inline", "package")

	// With one, a Lookup handler's records go into a package: more than 1000 cannot travel inline.
	task = p.task(contracts.OpLookup, contracts.RightAccess)
	task.Package = target
	p.send(task, task.TaskID)
	res := p.result(task.TaskID, 20*time.Second)
	if res.Status != contracts.StatusFound || res.Package == nil {
		t.Fatalf("result %s %+v, want found with a package", res.Status, res.Error)
	}
	if seqs := openPackage(t, p, key, res.Package); len(seqs) != 1001 || seqs[1000] != "1000" {
		t.Errorf("the package holds %d records", len(seqs))
	}

	// Under the limit they stay inline.
	p2 := newPlatform(t)
	p2.run(finder{decl: declaration(t), n: 3}, 5*time.Second)
	task = p2.task(contracts.OpLookup, contracts.RightAccess)
	task.Package = target
	p2.send(task, task.TaskID)
	if res := p2.result(task.TaskID, 20*time.Second); res.Status != contracts.StatusFound || len(res.Records) != 3 || res.Package != nil {
		t.Errorf("result %s with %d records and package %v, want 3 inline", res.Status, len(res.Records), res.Package)
	}
}

// TestAnInvalidRecordFailsTheLookup: an Export handler that writes an invalid record after its package has
// begun fails the task with what is wrong, and leaves no package behind.
func TestAnInvalidRecordFailsTheLookup(t *testing.T) {
	p := newPlatform(t)
	p.run(exporter{decl: declaration(t), n: 500, extra: []contracts.Record{{Fields: map[string]string{"seq": "x"}}}}, 5*time.Second)
	_, target := caseKey(t)
	task := p.task(contracts.OpLookup, contracts.RightAccess)
	task.Package = target
	p.send(task, task.TaskID)
	wantFailed(t, p.result(task.TaskID, 20*time.Second), contracts.ErrInternal, "record 501", "not valid", "category")
	obs, err := p.js.ObjectStore(t.Context(), contracts.PackageBucket("test-invitations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(t.Context(), task.TaskID); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("the half-written package: %v, want no object", err)
	}
	if info, err := p.js.Stream(t.Context(), "OBJ_"+contracts.PackageBucket("test-invitations")); err != nil {
		t.Fatal(err)
	} else if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("the package bucket keeps %d messages of the failed package", n)
	}
}

// TestReadObjectChecksWhatArrives: a package is read back as stored, and a read that ends short of
// the stored object says so instead of ending like a whole one.
func TestReadObjectChecksWhatArrives(t *testing.T) {
	ctx := context.Background()
	nc, err := nats.Connect(embeddednats.Start(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "read-object"})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB: several chunks
	if _, err := obs.PutBytes(ctx, "whole", data); err != nil {
		t.Fatal(err)
	}
	r, err := sdk.ReadObject(ctx, js, "read-object", "whole")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
	}
	// Drop the object's last chunk from the stream behind the object store's back.
	info, _ := obs.GetInfo(ctx, "whole")
	stream, _ := js.Stream(ctx, "OBJ_read-object")
	last, err := stream.GetLastMsgForSubject(ctx, "$O.read-object.C."+info.NUID)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(ctx, last.Sequence); err != nil {
		t.Fatal(err)
	}
	r, err = sdk.ReadObject(ctx, js, "read-object", "whole")
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, sdk.ErrObjectIncomplete) {
		t.Fatalf("an object missing its last chunk: %v, want ErrObjectIncomplete", err)
	}
}
