package packages_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/devkit/pgtest"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/natsauth"
)

// The large-result test runs each part of the flow in its own process, as in production, so that
// each one's peak resident memory can be measured: the NATS server, the register's adapter (the Go
// SDK) and the platform side that opens the package into the subject's ZIP (this process).
const (
	roleEnv       = "KIRJAAMO_PACKAGES_TEST_ROLE"
	sizeEnv       = "KIRJAAMO_LARGE_RESULT_MIB"
	largeRegister = "kanta-processing-log"
	// memoryCeiling is the bound on any process the package passes through.
	memoryCeiling = 200 << 20
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "nats":
		os.Exit(runNATS())
	case "adapter":
		os.Exit(runAdapter())
	}
	pgtest.Main(m)
}

// runNATS serves JetStream from a file store until its stdin closes.
func runNATS() int {
	srv, err := natsdev.Start(natsdev.Options{StoreDir: os.Getenv("KIRJAAMO_NATS_STORE"), Port: -1})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready", srv.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
	return 0
}

// bulkLog is a processing log with a great deal on one person: each entry has a long free-text
// note, and together they come to the size asked for.
type bulkLog struct {
	decl contracts.Declaration
	size int64
}

func (b bulkLog) Declaration() contracts.Declaration { return b.decl }

func (b bulkLog) Operations() sdk.Operations { return sdk.Operations{Export: b.export} }

func (b bulkLog) export(ctx context.Context, q sdk.Query, w sdk.RecordWriter) error {
	note := strings.Repeat("Kotikäynti: vointi hyvä, lääkkeet otettu, verenpaine mitattu. ", 32) // ~2 KB
	at := time.Date(2021, 1, 4, 8, 0, 0, 0, time.UTC)
	var written int64
	for i := 0; written < b.size; i++ {
		rec := contracts.Record{Category: "processing log", Fields: map[string]string{
			"seq": strconv.Itoa(i), "processed_at": at.Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			"organisation": "Esimerkkilän kotihoito", "purpose": "care relationship: home care visit", "note": note}}
		if err := w.Write(rec); err != nil {
			return err
		}
		written += int64(len(note) + 160)
		if i%1000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func runAdapter() int {
	decl, err := demo.Declaration(largeRegister)
	if err == nil {
		var mib int64
		mib, err = strconv.ParseInt(os.Getenv(sizeEnv), 10, 64)
		if err == nil {
			ctx, stop := context.WithCancel(context.Background())
			go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
			err = sdk.Run(ctx, bulkLog{decl: decl, size: mib << 20},
				sdk.Config{NATSURL: os.Getenv("KIRJAAMO_NATS_URL"), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is one of the test's processes; closing its stdin stops it.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, roleEnv+"="+role)...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { c.stdin.Close(); _ = c.cmd.Wait() })
	return c
}

// peakRSS is a process's high-water mark of resident memory, in bytes, from /proc.
func peakRSS(t *testing.T, pid string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("peak memory of %s: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM for %s", pid)
	return 0
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestALargeResultFlowsThroughInBoundedMemory: a register holds 1 GiB (KIRJAAMO_LARGE_RESULT_MIB) on
// one person. Its lookup streams through the SDK, sealed, into its bucket; the platform opens it and
// writes the subject's ZIP; the package arrives whole, and no process holds more than 200 MB.
func TestALargeResultFlowsThroughInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a gigabyte through three processes")
	}
	mib := os.Getenv(sizeEnv)
	if mib == "" {
		mib = "1024"
	}
	ctx := context.Background()

	natsProc := startChild(t, "nats", "KIRJAAMO_NATS_STORE="+t.TempDir())
	if !natsProc.out.Scan() || !strings.HasPrefix(natsProc.out.Text(), "ready ") {
		t.Fatalf("NATS did not start: %s", natsProc.out.Text())
	}
	natsURL := strings.TrimPrefix(natsProc.out.Text(), "ready ")
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := bus.EnsureStreams(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	if err := natsauth.ProvisionRegister(ctx, js, largeRegister, 1); err != nil {
		t.Fatal(err)
	}
	announced, _ := nc.Subscribe(contracts.AnnounceSubject(largeRegister), func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"accepted":true,"status":"in_force"}`))
	})
	defer announced.Unsubscribe()

	f := fixture{cases: newFixtureCases(t), js: js}
	f.store = mustStore(t, f.cases, js)
	requestID := f.newCase(t)
	key, err := f.store.PublicKey(ctx, requestID)
	if err != nil {
		t.Fatal(err)
	}
	results, err := js.CreateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
		FilterSubject: contracts.ResultSubject(largeRegister), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}

	adapter := startChild(t, "adapter", "KIRJAAMO_NATS_URL="+natsURL, sizeEnv+"="+mib)
	now := time.Now().UTC()
	task := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(requestID, largeRegister), RequestID: requestID,
		RegisterID: largeRegister, Operation: contracts.OpLookup, Right: contracts.RightAccess,
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: demo.People[2].PersonalIdentityCode}},
		ReceivedAt:  now, Deadline: now.AddDate(0, 1, 0), Package: &contracts.PackageTarget{Key: key, InlineLimit: contracts.DefaultInlineLimit}}
	if err := (bus.Publisher{JS: js}).Publish(ctx, []contracts.Task{task}); err != nil {
		t.Fatal(err)
	}
	msg, err := results.Next(jetstream.FetchMaxWait(15 * time.Minute))
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	_ = msg.Ack()
	var res contracts.Result
	if err := json.Unmarshal(msg.Data(), &res); err != nil || res.Validate() != nil {
		t.Fatalf("result: %v %v", err, res.Validate())
	}
	if res.Status != contracts.StatusFound || res.Package == nil || len(res.Records) > 0 {
		t.Fatalf("a %s MiB result came as %s with %d records inline and package %+v", mib, res.Status, len(res.Records), res.Package)
	}
	adapterPeak := peakRSS(t, strconv.Itoa(adapter.cmd.Process.Pid))

	file := casefile.File{Registers: []casefile.Register{{ID: largeRegister, Code: "granted", Package: res.Package, Records: int(res.Package.Records)}}}
	file.Case.RequestID = requestID
	zipped := &countingWriter{}
	if err := file.Package(now, contracts.English).WriteZIP(ctx, zipped, opener(f.store, requestID)); err != nil {
		t.Fatalf("the package did not arrive whole: %v", err)
	}
	natsPeak := peakRSS(t, strconv.Itoa(natsProc.cmd.Process.Pid))
	platformPeak := peakRSS(t, "self")

	t.Logf("%d records, %d MiB of records, %d MiB zipped; peak resident memory: adapter %d MiB, NATS server %d MiB, platform %d MiB",
		res.Package.Records, res.Package.Size>>20, zipped.n>>20, adapterPeak>>20, natsPeak>>20, platformPeak>>20)
	for name, peak := range map[string]int64{"the adapter": adapterPeak, "the NATS server": natsPeak, "the platform": platformPeak} {
		if peak > memoryCeiling {
			t.Errorf("%s peaked at %d MiB of resident memory, over %d MiB", name, peak>>20, memoryCeiling>>20)
		}
	}
	if want, _ := strconv.ParseInt(mib, 10, 64); res.Package.Size < want<<20 {
		t.Errorf("the package holds %d bytes, less than the %s MiB asked for", res.Package.Size, mib)
	}
}
