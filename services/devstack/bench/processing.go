package bench

// The processing events' benchmark (`kirjaamo bench processing`, make bench-processing): how fast
// the processing service stores the registers' events, and how fast one person's page reads with
// many events stored. See BENCHMARKS.md for the figures and what they are worth.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/devkit/pgcluster"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/processing"
	"kirjaamo.dev/workflows/codec"
)

// ProcessingShape is what the processing benchmark does.
type ProcessingShape struct {
	// Ingest is how many events go through JetStream and the processing service, timed.
	Ingest int
	// People is how many people the ingested events are about (a skewed share each).
	People int
	// Stored is how many more events are loaded in bulk, into the 24 months before this one, before
	// the pages are timed.
	Stored int64
	// Pages is how many pages are read, timed, at each step of the load.
	Pages int
	// Dir is where the throwaway PostgreSQL cluster and JetStream are made ("": the system's
	// temporary directory); the benchmark removes them when done.
	Dir string
	// MinFreeDisk stops the bulk load early when the disk has less free space than this (bytes).
	MinFreeDisk uint64
}

// DefaultProcessingShape is a quick run.
var DefaultProcessingShape = ProcessingShape{Ingest: 100_000, People: 10_000, Stored: 1_000_000, Pages: 2000, MinFreeDisk: 12 << 30}

const benchRegister = "kanta-processing-log"

// Processing runs the processing benchmark and writes its figures.
func Processing(ctx context.Context, out io.Writer, shape ProcessingShape) error {
	dir, err := os.MkdirTemp(shape.Dir, "kirjaamo-bench-processing-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	shape.Dir = dir
	quiet := slog.New(slog.DiscardHandler)
	pg, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(dir, "pg"), Fast: true, Logger: quiet})
	if err != nil {
		return err
	}
	defer pg.Stop()
	ns, err := natsdev.Start(natsdev.Options{StoreDir: filepath.Join(dir, "nats"), Logger: quiet})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	url := pg.URL("postgres")
	if err := store.Migrate(ctx, url, ""); err != nil {
		return err
	}
	keys, err := codec.ParseKeys(codec.NewKey("bench"))
	if err != nil {
		return err
	}
	keyring, err := store.NewKeyring(keys)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, url, keyring, slog.Default())
	if err != nil {
		return err
	}
	defer db.Close()
	signer, err := platform.CheckpointSigner(keys)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<15))
	if err != nil {
		return err
	}
	if err := bus.EnsureStreams(ctx, js, 1, slog.Default()); err != nil {
		return err
	}
	if err := ledger.EnsureStream(ctx, js, 1); err != nil {
		return err
	}
	st := events.New(db, signer, &ledger.Checkpoints{JS: js})
	fmt.Fprintf(out, "machine: %d CPUs, %s\n", runtimeCPUs(), pgVersion(ctx, db))

	people := makePeople(shape.People)
	if err := ingest(ctx, out, js, st, db.Pool, people, shape.Ingest); err != nil {
		return err
	}
	probes := probePeople(people)
	if err := timePages(ctx, out, st, probes, shape.Pages, "after the ingest"); err != nil {
		return err
	}
	return bulkLoad(ctx, out, db, st, shape, func(stored int64) error {
		return timePages(ctx, out, st, probes, shape.Pages, fmt.Sprintf("with %d events stored", stored))
	})
}

func runtimeCPUs() int {
	n, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, countLines(n, "processor"))
}

func countLines(b []byte, prefix string) int {
	n := 0
	for _, line := range splitLines(b) {
		if len(line) >= len(prefix) && string(line[:len(prefix)]) == prefix {
			n++
		}
	}
	return n
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			return append(out, b)
		}
		out, b = append(out, b[:i]), b[i+1:]
	}
	return out
}

func pgVersion(ctx context.Context, db *store.DB) string {
	var v string
	_ = db.Pool.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&v)
	return "PostgreSQL " + v
}

// person is one person the ingested events are about, with their share of the events.
type person struct {
	code  string
	share float64
}

// makePeople makes n people with made-up identity codes whose shares of the events follow Zipf's
// law (s = 1): a few people are seen very often, most rarely.
func makePeople(n int) []person {
	out := make([]person, n)
	sum := 0.0
	for i := range out {
		out[i] = person{code: identityCode(i), share: 1 / float64(i+1)}
		sum += out[i].share
	}
	for i := range out {
		out[i].share /= sum
	}
	return out
}

// identityCode is the n-th of a series of made-up Finnish personal identity codes, valid: born on
// one of some 36,000 days of the 1900s, with an individual number from 002 to 899.
func identityCode(n int) string {
	born := time.Date(1920, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n/898)
	individual := 2 + n%898
	first10 := fmt.Sprintf("%s-%03d", born.Format("020106"), individual)
	return first10 + string(contracts.PersonalIdentityCodeCheck(first10))
}

// probePeople are the people whose pages are timed: the one seen most, and people at the 1st,
// 10th, 50th and 90th percentile of how often they are seen.
func probePeople(people []person) []person {
	var out []person
	for _, q := range []float64{0, 0.01, 0.1, 0.5, 0.9} {
		out = append(out, people[int(q*float64(len(people)-1))])
	}
	return out
}

// inForce is the demo Kanta processing log's declaration, in force.
type inForce struct{ versions []declarations.Version }

func (c inForce) VersionsInForce(context.Context, time.Time) ([]declarations.Version, error) {
	return c.versions, nil
}

// ingest publishes n events of the demo Kanta processing log to JetStream, then starts the
// processing service and times it until every event is stored.
func ingest(ctx context.Context, out io.Writer, js jetstream.JetStream, st *events.Store, db *pgxpool.Pool, people []person, n int) error {
	d, err := demo.Declaration(benchRegister)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	catalogue := inForce{[]declarations.Version{{RegisterID: d.RegisterID, Digest: d.Digest(), Declaration: raw}}}
	cumulative := make([]float64, len(people))
	sum := 0.0
	for i, p := range people {
		sum += p.share
		cumulative[i] = sum
	}
	now := time.Now().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	span := now.Sub(monthStart)
	kinds := []struct {
		org, role, purpose, category string
		op                           contracts.ProcessingOperation
		recipient                    string
	}{
		{"Esimerkkilän terveyskeskus", "physician", "care", "patient-records", contracts.ProcessingView, ""},
		{"Esimerkkilän sairaala, päivystys", "nurse", "care", "patient-records", contracts.ProcessingView, ""},
		{"Apteekki Esimerkki", "pharmacist", "dispensing", "prescriptions", contracts.ProcessingView, ""},
		{"Esimerkkilän sairaala, laboratorio", "laboratory nurse", "care", "patient-records", contracts.ProcessingChange, ""},
		{"Esimerkkilän terveyskeskus", "physician", "statutory-disclosure", "patient-records", contracts.ProcessingDisclosure, "Kela"},
	}
	// The events are published first, by several publishers at once, so that what is timed is the
	// processing service alone.
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	const publishers = 8
	for w := range publishers {
		g.Go(func() error {
			r := mrand.New(mrand.NewPCG(uint64(w), 7))
			var pending []jetstream.PubAckFuture
			for i := w; i < n; i += publishers {
				who := people[min(len(people)-1, pick(cumulative, r.Float64()))]
				k := kinds[r.IntN(len(kinds))]
				ev := contracts.ProcessingEvent{Protocol: contracts.ProcessingProtocol, EventID: uuid.NewString(), RegisterID: benchRegister,
					Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierPersonalIdentityCode, Form: contracts.FormPlain, Value: who.code}},
					At:      monthStart.Add(time.Duration(r.Int64N(int64(span)))),
					Actor:   contracts.Actor{Organisation: k.org, Role: k.role}, Purpose: k.purpose, LegalBasis: contracts.BasisLegalObligation,
					DataCategories: []string{k.category}, Operation: k.op, Recipient: k.recipient}
				data, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				f, err := js.PublishAsync(contracts.ProcessingSubject(benchRegister), data, jetstream.WithMsgID(ev.EventID))
				if err != nil {
					return err
				}
				if pending = append(pending, f); len(pending) == 2000 {
					if err := awaitAll(gctx, pending); err != nil {
						return err
					}
					pending = pending[:0]
				}
			}
			return awaitAll(gctx, pending)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(out, "published %d events to JetStream in %s\n", n, time.Since(start).Round(time.Millisecond))

	runCtx, stop := context.WithCancel(ctx)
	cfg := processing.DefaultConfig()
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		done <- processing.Run(runCtx, cfg, processing.Deps{JS: js, Store: st, Declarations: catalogue, Log: slog.New(slog.DiscardHandler)})
	}()
	stream, err := js.Stream(ctx, contracts.ProcessingStream)
	if err != nil {
		stop()
		return err
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			stop()
			return err
		}
		if info.State.Msgs == 0 {
			break
		}
		select {
		case err := <-done:
			stop()
			return fmt.Errorf("the processing service stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	took := time.Since(start)
	stop()
	if err := <-done; err != nil {
		return err
	}
	var stored int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM processing_events`).Scan(&stored); err != nil {
		return err
	}
	if stored != int64(n) {
		why := ""
		if rejected, err := js.Stream(ctx, bus.RejectedStream); err == nil {
			if m, err := rejected.GetMsg(ctx, 1); err == nil {
				why = m.Header.Get(processing.RejectedCode) + ": " + m.Header.Get(processing.RejectedReason)
			}
		}
		return fmt.Errorf("ingest: %d events published, %d stored; the first rejected: %s", n, stored, why)
	}
	fmt.Fprintf(out, "ingest: %d events stored from JetStream in %s: %.0f events/s (batch %d, %d workers)\n", n,
		took.Round(time.Millisecond), float64(n)/took.Seconds(), cfg.Batch, cfg.Workers)
	return nil
}

// pick is the first index whose cumulative share reaches x.
func pick(cumulative []float64, x float64) int {
	i, _ := slices.BinarySearch(cumulative, x)
	return i
}

func awaitAll(ctx context.Context, pending []jetstream.PubAckFuture) error {
	for _, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// timePages reads the probe people's first pages (50 events, newest first, each opened and checked
// as the portal does) in turn, and writes the latencies' percentiles.
func timePages(ctx context.Context, out io.Writer, st *events.Store, probes []person, pages int, when string) error {
	var all []time.Duration
	per := make([][]time.Duration, len(probes))
	shown := make([]int, len(probes))
	now := time.Now()
	for i := range pages {
		who := i % len(probes)
		id := []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: probes[who].code}}
		start := time.Now()
		p, err := st.Page(ctx, id, events.Filter{}, nil, 50, now)
		took := time.Since(start)
		if err != nil {
			return err
		}
		if p.Broken != 0 {
			return fmt.Errorf("a probe's page has %d events that do not verify", p.Broken)
		}
		shown[who] = len(p.Events)
		all, per[who] = append(all, took), append(per[who], took)
	}
	q := func(d []time.Duration, p float64) string {
		slices.Sort(d)
		return fmt.Sprintf("%.1f ms", float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds())/1000)
	}
	fmt.Fprintf(out, "pages %s: %d pages, p50 %s, p99 %s, max %s\n", when, len(all), q(all, 0.5), q(all, 0.99), q(all, 1))
	for i := range probes {
		fmt.Fprintf(out, "  person %d (%d events on the page): p50 %s, p99 %s\n", i, shown[i], q(per[i], 0.5), q(per[i], 0.99))
	}
	return nil
}

// bulkLoad loads shape.Stored events into the 24 months before this one, a month at a time: each
// month's rows are made by PostgreSQL (generate_series) into a table of their own, indexed, then
// attached as the month's partition, so that the load costs what a bulk load costs and the schema is
// the real one. The rows are as the store keeps them: the subject is the real keyed blind index of one
// of 2 million made-up people (events.Store.SubjectOf), Zipf-skewed; the sealed part is as long as a
// real one but random bytes, which nothing opens: these are other people's events, which the timed
// pages never show. They belong to 20 registers, also skewed, in blocks that are not stored (verify
// would name them). after runs when each sixth of the load is attached.
func bulkLoad(ctx context.Context, out io.Writer, db *store.DB, st *events.Store, shape ProcessingShape, after func(stored int64) error) error {
	if shape.Stored <= 0 {
		return nil
	}
	pool := db.Pool
	var sealedLen int
	var keyID string
	if err := pool.QueryRow(ctx, `SELECT avg(octet_length(sealed))::int, min(key_id) FROM processing_events`).Scan(&sealedLen, &keyID); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_logs (n int PRIMARY KEY, log smallint NOT NULL);
		CREATE TABLE bench_people (n int PRIMARY KEY, subject bytea NOT NULL)`); err != nil {
		return err
	}
	for i := range 20 {
		if _, err := pool.Exec(ctx, `WITH l AS (INSERT INTO processing_logs (register_id) VALUES ($1) RETURNING id)
			INSERT INTO bench_logs SELECT $2, id FROM l`, fmt.Sprintf("bench-register-%02d", i+1), i); err != nil {
			return err
		}
	}
	const people = 2_000_000
	rows := make([][]any, people)
	for n := range people {
		ev := contracts.ProcessingEvent{Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierPersonalIdentityCode,
			Form: contracts.FormPlain, Value: identityCode(people + n)}}}
		rows[n] = []any{int32(n), st.SubjectOf(&ev)}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_people"}, []string{"n", "subject"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `ANALYZE bench_people; ANALYZE bench_logs`); err != nil {
		return err
	}
	random := make([]byte, 1<<20)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	// The months are loaded two at a time, and the pages timed after every four.
	const months, steps = 24, 6
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	perMonth := (shape.Stored + months - 1) / months
	var stored int64
	start := time.Now()
	for step := range steps {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(2)
		var mu sync.Mutex
		for m := step*months/steps + 1; m <= (step+1)*months/steps; m++ {
			first := thisMonth.AddDate(0, -m, 0)
			offset := int64(m-1) * perMonth
			n := min(perMonth, shape.Stored-offset)
			if n <= 0 {
				break
			}
			if free := freeDisk(shape.Dir); free < shape.MinFreeDisk {
				fmt.Fprintf(out, "bulk load stopped: %d GiB free on the disk\n", free>>30)
				break
			}
			g.Go(func() error {
				t := time.Now()
				if err := loadMonth(gctx, pool, first, offset, n, people, random, sealedLen, keyID); err != nil {
					return fmt.Errorf("month %s: %w", first.Format("2006-01"), err)
				}
				mu.Lock()
				defer mu.Unlock()
				stored += n
				fmt.Fprintf(out, "loaded %s: %d events in %s (%d in all, %s since the start)\n", first.Format("2006-01"), n,
					time.Since(t).Round(time.Second), stored, time.Since(start).Round(time.Second))
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var size int64
		if err := pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size); err != nil {
			return err
		}
		fmt.Fprintf(out, "bulk load: %d events in %s, database %.1f GiB\n", stored, time.Since(start).Round(time.Second), float64(size)/(1<<30))
		if err := after(stored); err != nil {
			return err
		}
		if stored >= shape.Stored || freeDisk(shape.Dir) < shape.MinFreeDisk {
			return nil
		}
	}
	return nil
}

// loadMonth makes n events of the month that starts at first, the offset-th to the (offset+n)-th of
// the load, and attaches them as the month's partition.
func loadMonth(ctx context.Context, pool *pgxpool.Pool, first time.Time, offset, n int64, people int, random []byte, sealedLen int, keyID string) error {
	next := first.AddDate(0, 1, 0)
	name := "processing_events_" + first.Format("2006_01")
	lit := func(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'" }
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		steps := []string{
			`SET LOCAL work_mem = '256MB'`,
			`SET LOCAL maintenance_work_mem = '1GB'`,
			`CREATE TABLE ` + name + ` (LIKE processing_events INCLUDING DEFAULTS, CHECK (at >= ` + lit(first) + ` AND at < ` + lit(next) + `))`,
		}
		for _, q := range steps {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		// A person is the floor of exp(U ln people): Zipf's law with s = 1; a register, of 20 U^2.
		_, err := tx.Exec(ctx, `INSERT INTO `+name+` (log, at, event_key, subject, operation, purpose, embargo_until, block, position, key_id, sealed)
			SELECT l.log, $1::timestamptz + s.r4 * ($2::timestamptz - $1::timestamptz), substr(sha256(int8send(s.g)), 1, 16), p.subject,
				CASE WHEN s.r2 < 0.85 THEN 'view' WHEN s.r2 < 0.95 THEN 'change' WHEN s.r2 < 0.99 THEN 'disclosure' ELSE 'deletion' END,
				CASE WHEN s.r3 < 0.7 THEN 'care' WHEN s.r3 < 0.9 THEN 'dispensing' ELSE 'statutory-disclosure' END,
				CASE WHEN s.r3 > 0.999 THEN now() + interval '30 days' END,
				s.g / 1024, (s.g % 1024)::int, $3, substr($4::bytea, 1 + (s.r5 * (octet_length($4::bytea) - $5))::int, $5)
			FROM (SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6 FROM generate_series($6::bigint, $7::bigint) g) s
			JOIN bench_people p ON p.n = least($8 - 1, floor(exp(s.r1 * ln($8::float8)))::int - 1)
			JOIN bench_logs l ON l.n = floor(20 * s.r6 * s.r6)::int`,
			first, next, keyID, random, sealedLen, offset, offset+n-1, people)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`ALTER TABLE ` + name + ` ADD PRIMARY KEY (log, event_key, at)`,
			`CREATE INDEX ON ` + name + ` (subject, at DESC)`,
			`CREATE INDEX ON ` + name + ` (log, block)`,
			`CREATE INDEX ON ` + name + ` (log, embargo_until) WHERE embargo_until IS NOT NULL`,
			`ALTER TABLE processing_events ATTACH PARTITION ` + name + ` FOR VALUES FROM (` + lit(first) + `) TO (` + lit(next) + `)`,
			`ANALYZE ` + name,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
}

// freeDisk is how many bytes are free on the disk that holds dir.
func freeDisk(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return math.MaxUint64
	}
	return st.Bavail * uint64(st.Bsize)
}
