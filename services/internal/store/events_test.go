package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/devkit/pgtest"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/store/outbox"
)

const (
	ainoCode  = "150385-9013"
	mattiCode = "020794-9029"
	kantaLog  = "kanta-processing-log"
)

var (
	ainoID  = []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: ainoCode}}
	mattiID = []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: mattiCode}}
	evening = time.Date(2026, 5, 4, 18, 0, 0, 0, time.UTC)
)

// use is event n of the Kanta log: a view of a person's records by a health centre, n minutes
// before the evening.
func use(n int, code string) contracts.ProcessingEvent {
	return contracts.ProcessingEvent{Protocol: contracts.ProcessingProtocol, EventID: fmt.Sprintf("kanta-%05d", n), RegisterID: kantaLog,
		Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierPersonalIdentityCode, Form: contracts.FormPlain, Value: code}},
		At:      evening.Add(-time.Duration(n) * time.Minute).Add(123456 * time.Nanosecond),
		Actor:   contracts.Actor{Organisation: "Esimerkkilän terveyskeskus", Role: "physician", Person: "Laura Lääkäri"},
		Purpose: "care", LegalBasis: contracts.BasisLegalObligation, DataCategories: []string{"patient-records"}, Operation: contracts.ProcessingView}
}

func openEvents(t *testing.T) (stores, *events.Store) {
	t.Helper()
	s := open(t)
	return s, events.New(s.db, signer, nil)
}

func appendAll(t *testing.T, e *events.Store, batch ...contracts.ProcessingEvent) int {
	t.Helper()
	n, err := e.Append(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func page(t *testing.T, e *events.Store, who []contracts.Identifier, f events.Filter, after *events.Cursor, limit int, now time.Time) events.Page {
	t.Helper()
	p, err := e.Page(context.Background(), who, f, after, limit, now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ids(p events.Page) []string {
	var out []string
	for _, e := range p.Events {
		out = append(out, e.Event.EventID)
	}
	return out
}

func TestAPersonSeesTheirOwnEventsOnceNewestFirst(t *testing.T) {
	s, e := openEvents(t)
	var batch []contracts.ProcessingEvent
	for n := range 30 {
		batch = append(batch, use(n, ainoCode))
	}
	batch = append(batch, use(100, mattiCode))
	// A batch that spans a month boundary makes the partitions it needs.
	old := use(101, ainoCode)
	old.At = time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
	batch = append(batch, old)
	if n := appendAll(t, e, batch...); n != 32 {
		t.Fatalf("%d events stored, want 32", n)
	}
	// The same events again, and the same event twice in a batch: stored once.
	if n := appendAll(t, e, append(batch[:5:5], batch[0])...); n != 0 {
		t.Errorf("%d events stored again", n)
	}
	now := evening.Add(time.Hour)
	first := page(t, e, ainoID, events.Filter{}, nil, 20, now)
	if len(first.Events) != 20 || first.Next == nil || first.Events[0].Event.EventID != "kanta-00000" || first.Broken != 0 {
		t.Fatalf("the first page: %v, next %v, broken %d", ids(first), first.Next, first.Broken)
	}
	got := first.Events[0]
	if got.Problem != "" || got.Event.Actor.Person != "Laura Lääkäri" || got.Event.Subject[0].Value != ainoCode ||
		!got.Event.At.Equal(batch[0].At.Truncate(time.Microsecond)) || got.Event.LegalBasis != contracts.BasisLegalObligation {
		t.Errorf("the newest event as shown: %+v (%s)", got.Event, got.Problem)
	}
	cursor, ok := events.ParseCursor(first.Next.String())
	if !ok {
		t.Fatal("the cursor does not read back")
	}
	rest := page(t, e, ainoID, events.Filter{}, &cursor, 20, now)
	all := append(ids(first), ids(rest)...)
	if len(all) != 31 || rest.Next != nil || all[30] != "kanta-00101" || slices.Contains(all, "kanta-00100") {
		t.Errorf("Aino's events over two pages: %v (next %v)", all, rest.Next)
	}
	if p := page(t, e, mattiID, events.Filter{}, nil, 20, now); !slices.Equal(ids(p), []string{"kanta-00100"}) {
		t.Errorf("Matti sees %v", ids(p))
	}
	// The stored rows hold neither the identity code nor the professional's name in clear.
	var clear int
	if err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM processing_events WHERE position(convert_to($1, 'UTF8') IN sealed) > 0
		OR position(convert_to($2, 'UTF8') IN sealed) > 0`, ainoCode, "Laura").Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d rows hold a name or a code in clear (%v)", clear, err)
	}
}

func TestTheFiltersNarrowThePage(t *testing.T) {
	_, e := openEvents(t)
	disclosed := use(1, ainoCode)
	disclosed.Operation, disclosed.Purpose, disclosed.Recipient = contracts.ProcessingDisclosure, "statutory-disclosure", "Kela"
	pharmacy := use(2, ainoCode)
	pharmacy.Actor, pharmacy.Purpose, pharmacy.DataCategories = contracts.Actor{Organisation: "Apteekki Esimerkki", Role: "pharmacist"}, "dispensing",
		[]string{"prescriptions"}
	other := use(3, ainoCode)
	other.RegisterID = "kanta-client-register"
	appendAll(t, e, use(0, ainoCode), disclosed, pharmacy, other)
	now := evening.Add(time.Hour)
	for name, c := range map[string]struct {
		f    events.Filter
		want []string
	}{
		"by register":     {events.Filter{Register: "kanta-client-register"}, []string{"kanta-00003"}},
		"by operation":    {events.Filter{Operation: contracts.ProcessingDisclosure}, []string{"kanta-00001"}},
		"by purpose":      {events.Filter{Purpose: "dispensing"}, []string{"kanta-00002"}},
		"by organisation": {events.Filter{Organisation: "apteekki"}, []string{"kanta-00002"}},
		"by time":         {events.Filter{From: evening.Add(-2 * time.Minute), To: evening.Add(-30 * time.Second)}, []string{"kanta-00001", "kanta-00002"}},
		"none":            {events.Filter{Register: "no-such-register"}, nil},
	} {
		if got := ids(page(t, e, ainoID, c.f, nil, 10, now)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	// Filtering on the organisation drops events after they are read: a page still fills, and goes on.
	var many []contracts.ProcessingEvent
	for n := 10; n < 60; n++ {
		ev := use(n, ainoCode)
		if n%10 == 0 {
			ev.Actor.Organisation = "Apteekki Esimerkki"
		}
		many = append(many, ev)
	}
	appendAll(t, e, many...)
	p := page(t, e, ainoID, events.Filter{Organisation: "Apteekki"}, nil, 3, now)
	if got := ids(p); !slices.Equal(got, []string{"kanta-00002", "kanta-00010", "kanta-00020"}) || p.Next == nil {
		t.Errorf("filtered by organisation: %v, next %v", got, p.Next)
	}
	if got := ids(page(t, e, ainoID, events.Filter{Organisation: "Apteekki"}, p.Next, 3, now)); !slices.Equal(got, []string{"kanta-00030", "kanta-00040", "kanta-00050"}) {
		t.Errorf("the next page filtered by organisation: %v", got)
	}
}

func TestAnEmbargoedEventIsStoredButShownOnlyFromItsDate(t *testing.T) {
	_, e := openEvents(t)
	held := use(1, ainoCode)
	held.Operation, held.Purpose, held.Recipient = contracts.ProcessingDisclosure, "statutory-disclosure", "Poliisi"
	until := evening.Add(24 * time.Hour)
	held.EmbargoUntil = &until
	appendAll(t, e, use(0, ainoCode), held)
	if got := ids(page(t, e, ainoID, events.Filter{}, nil, 10, evening.Add(time.Hour))); !slices.Equal(got, []string{"kanta-00000"}) {
		t.Errorf("before its date: %v", got)
	}
	if _, err := e.Event(context.Background(), ainoID, kantaLog, "kanta-00001", evening.Add(time.Hour)); err == nil {
		t.Error("an embargoed event was found by its id before its date")
	}
	counts, err := e.HeldBack(context.Background(), evening.Add(time.Hour))
	if err != nil || len(counts) != 1 || counts[0].RegisterID != kantaLog || counts[0].Count != 1 || !counts[0].Next.Equal(until) {
		t.Errorf("held back: %+v (%v)", counts, err)
	}
	if got := ids(page(t, e, ainoID, events.Filter{}, nil, 10, until)); !slices.Equal(got, []string{"kanta-00000", "kanta-00001"}) {
		t.Errorf("from its date: %v", got)
	}
	if counts, _ := e.HeldBack(context.Background(), until); len(counts) != 0 {
		t.Errorf("held back after the date: %+v", counts)
	}
}

func TestAPersonCanCheckAnEventAgainstItsBlocksSignedCheckpoint(t *testing.T) {
	_, e := openEvents(t)
	var batch []contracts.ProcessingEvent
	for n := range 13 {
		batch = append(batch, use(n, []string{ainoCode, mattiCode}[n%2]))
	}
	appendAll(t, e, batch...)
	now := evening.Add(time.Hour)
	proof, problem, err := e.Proof(context.Background(), ainoID, kantaLog, "kanta-00004", now)
	if err != nil || problem != "" {
		t.Fatalf("proof: %v, %q", err, problem)
	}
	if proof.Block.Count != 13 || len(proof.Path) != 4 || proof.Event.EventID != "kanta-00004" || proof.Checkpoint.Seq != proof.Block.Seq {
		t.Errorf("the proof: count %d, path of %d, event %s", proof.Block.Count, len(proof.Path), proof.Event.EventID)
	}
	// Checked as the person would, from the JSON they download, with the platform's public keys.
	raw, err := json.Marshal(proof)
	if err != nil {
		t.Fatal(err)
	}
	var downloaded events.Proof
	if err := json.Unmarshal(raw, &downloaded); err != nil {
		t.Fatal(err)
	}
	if err := downloaded.Check(signer.Public()); err != nil {
		t.Errorf("the downloaded proof does not check: %v", err)
	}
	for name, edit := range map[string]func(p *events.Proof){
		"another event":    func(p *events.Proof) { p.EventCanonical = strings.Replace(p.EventCanonical, "physician", "nurse", 1) },
		"another position": func(p *events.Proof) { p.Position++ },
		"another root":     func(p *events.Proof) { p.Block.Root[0] ^= 1 },
		"another block":    func(p *events.Proof) { p.BlockBody = strings.Replace(p.BlockBody, `"count":13`, `"count":12`, 1) },
		"a forged signature": func(p *events.Proof) {
			p.Checkpoint.Signature = append([]byte(nil), p.Checkpoint.Signature...)
			p.Checkpoint.Signature[0] ^= 1
		},
	} {
		var p events.Proof
		_ = json.Unmarshal(raw, &p)
		edit(&p)
		if err := p.Check(signer.Public()); err == nil {
			t.Errorf("%s: the proof still checks", name)
		}
	}
	if _, _, err := e.Proof(context.Background(), mattiID, kantaLog, "kanta-00004", now); err == nil {
		t.Error("Matti got the proof of Aino's event")
	}
}

// TestAnEditedEventIsShownAsSuchAndVerifyNamesIt edits the database as someone with its owner's
// rights could: a column, a sealed payload, a block's root, a removed event.
func TestAnEditedEventIsShownAsSuchAndVerifyNamesIt(t *testing.T) {
	s, e := openEvents(t)
	ctx := context.Background()
	for b := range 3 { // three blocks
		var batch []contracts.ProcessingEvent
		for n := range 5 {
			batch = append(batch, use(b*10+n, ainoCode))
		}
		appendAll(t, e, batch...)
	}
	now := evening.Add(time.Hour)
	verify := func() events.Report {
		t.Helper()
		published, err := e.Checkpoints(ctx, kantaLog)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.Verify(ctx, kantaLog, published, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(); rep.Broken != nil || rep.Events != 15 || rep.Chain.Last != 3 {
		t.Fatalf("the intact log: %+v", rep)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// The operation of event kanta-00012 (block 2, place 2) made a deletion.
	exec(`UPDATE processing_events SET operation = 'deletion' WHERE event_key = $1`, events.EventKey("kanta-00012"))
	p := page(t, e, ainoID, events.Filter{}, nil, 20, now)
	if p.Broken != 1 {
		t.Errorf("%d events shown as broken, want 1", p.Broken)
	}
	for _, ev := range p.Events {
		if (ev.Problem != "") != (ev.Block == 2 && ev.Position == 2) {
			t.Errorf("block %d place %d: problem %q", ev.Block, ev.Position, ev.Problem)
		}
	}
	if rep := verify(); rep.Broken == nil || rep.Broken.Block != 2 || rep.Broken.Position != 2 || !strings.Contains(rep.Broken.Reason, "changed") {
		t.Errorf("verify after the edit: %+v", rep.Broken)
	}
	exec(`UPDATE processing_events SET operation = 'view' WHERE event_key = $1`, events.EventKey("kanta-00012"))
	if rep := verify(); rep.Broken != nil {
		t.Fatalf("verify after the edit was undone: %+v", rep.Broken)
	}

	// A block's root replaced: its link and signature no longer check, for the page and for verify.
	exec(`UPDATE processing_blocks SET root = sha256(root) WHERE seq = 1`)
	p = page(t, e, ainoID, events.Filter{}, nil, 20, now)
	if p.Broken != 5 {
		t.Errorf("after the block's root was replaced, %d events shown as broken, want its 5", p.Broken)
	}
	if rep := verify(); rep.Broken == nil || rep.Broken.Block != 1 {
		t.Errorf("verify after the root was replaced: %+v", rep.Broken)
	}
	exec(`UPDATE processing_blocks SET root = (SELECT root FROM processing_blocks WHERE seq = 2) WHERE seq = 1`) // not the original: still broken
	exec(`DELETE FROM processing_blocks WHERE seq = 1`)
	if rep := verify(); rep.Broken == nil {
		t.Error("verify with the first block removed finds nothing")
	}
}

func TestARemovedEventIsFoundUnlessTheRetentionRemovedIt(t *testing.T) {
	s, e := openEvents(t)
	ctx := context.Background()
	batch := []contracts.ProcessingEvent{use(0, ainoCode), use(1, ainoCode), use(2, ainoCode)}
	batch[2].At = evening.AddDate(-2, 0, 0)
	appendAll(t, e, batch...)
	if _, err := s.db.Pool.Exec(ctx, `DELETE FROM processing_events WHERE event_key = $1`, events.EventKey("kanta-00001")); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Verify(ctx, kantaLog, nil, nil, evening)
	if err != nil || rep.Broken == nil || !strings.Contains(rep.Broken.Reason, "missing 1 of its 3 events") {
		t.Errorf("verify with an event removed: %+v (%v)", rep.Broken, err)
	}
	// A retention of one year deletes the old event; the block held one that old, so what is gone is
	// accounted for (here too the removed one: a verifier cannot tell which of a block's old events
	// the retention took).
	year, _ := contracts.ParsePeriod("P1Y")
	if n, err := e.Expire(ctx, map[string]contracts.Period{kantaLog: year}, evening); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	rep, err = e.Verify(ctx, kantaLog, nil, &year, evening)
	if err != nil || rep.Broken != nil || rep.Expired != 2 || rep.Events != 1 {
		t.Errorf("verify after the retention: %+v", rep)
	}
}

func TestADisclosureNoticeIsQueuedWhenTheDisclosureBecomesVisible(t *testing.T) {
	s, e := openEvents(t)
	ctx := context.Background()
	if err := e.Subscribe(ctx, ainoID, "aino.virtanen@example.fi", contracts.Swedish, evening); err != nil {
		t.Fatal(err)
	}
	sub, err := e.Subscribed(ctx, ainoID)
	if err != nil || sub == nil || sub.Address != "aino.virtanen@example.fi" || sub.Language != contracts.Swedish {
		t.Fatalf("subscribed: %+v, %v", sub, err)
	}
	disclosed := use(1, ainoCode)
	disclosed.Operation, disclosed.Purpose, disclosed.Recipient = contracts.ProcessingDisclosure, "statutory-disclosure", "Kela"
	held := use(2, ainoCode)
	held.Operation, held.Purpose, held.Recipient = contracts.ProcessingDisclosure, "statutory-disclosure", "Poliisi"
	until := time.Now().Add(48 * time.Hour)
	held.EmbargoUntil = &until
	mattis := use(3, mattiCode)
	mattis.Operation, mattis.Purpose, mattis.Recipient = contracts.ProcessingDisclosure, "statutory-disclosure", "Kela"
	appendAll(t, e, use(0, ainoCode), disclosed, held, mattis)
	now := time.Now().Add(time.Minute)
	if n, err := e.Notify(ctx, now); err != nil || n != 1 {
		t.Fatalf("notices queued: %d, %v; want Aino's one", n, err)
	}
	if n, _ := e.Notify(ctx, now); n != 0 {
		t.Errorf("%d notices queued again", n)
	}
	var kinds []string
	rows, _ := s.db.Pool.Query(ctx, `SELECT kind FROM outbox`)
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		kinds = append(kinds, k)
	}
	if !slices.Equal(kinds, []string{string(outbox.KindDisclosureNotice)}) {
		t.Errorf("the outbox holds %v", kinds)
	}
	// The held-back disclosure's notice comes when its embargo ends.
	if n, _ := e.Notify(ctx, until.Add(time.Second)); n != 1 {
		t.Errorf("after the embargo, %d notices, want 1", n)
	}
	if err := e.Unsubscribe(ctx, ainoID); err != nil {
		t.Fatal(err)
	}
	if sub, _ := e.Subscribed(ctx, ainoID); sub != nil {
		t.Error("still subscribed")
	}
}

// TestTheServicesRoleMayOnlyAppendEvents: the services' role stores, reads and (through the owner's
// function) expires events, but may not change or delete one.
func TestTheServicesRoleMayOnlyAppendEvents(t *testing.T) {
	url := pgtest.New(t)
	ctx := context.Background()
	roles := store.Roles{Owner: "e_owner", App: "e_app"}
	ownerURL, appURL, err := store.SetUpRoles(ctx, url, roles, "owner-secret", "app-secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, ownerURL, roles.App); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, appURL, testKeys(t), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := events.New(db, signer, nil)
	if n, err := e.Append(ctx, []contracts.ProcessingEvent{use(0, ainoCode), use(1, ainoCode)}); err != nil || n != 2 {
		t.Fatalf("the services' role stores events: %d, %v", n, err)
	}
	if got := ids(page(t, e, ainoID, events.Filter{}, nil, 10, evening.Add(time.Hour))); len(got) != 2 {
		t.Errorf("the services' role reads %v", got)
	}
	for _, stmt := range []string{
		`UPDATE processing_events SET operation = 'deletion'`,
		`DELETE FROM processing_events`,
		`UPDATE processing_blocks SET count = 1`,
		`DELETE FROM processing_blocks`,
		`TRUNCATE processing_events`,
		`UPDATE processing_events_2026_05 SET operation = 'deletion'`,
	} {
		if _, err := db.Pool.Exec(ctx, stmt); err == nil {
			t.Errorf("the services' role may: %s", stmt)
		}
	}
	year, _ := contracts.ParsePeriod("P1Y")
	if n, err := e.Expire(ctx, map[string]contracts.Period{kantaLog: year}, evening.AddDate(2, 0, 0)); err != nil || n != 2 {
		t.Errorf("the retention through the owner's function: %d, %v", n, err)
	}
}

// TestCheckpointsArePublishedAndKept: a log that grew is checkpointed once, on JetStream and here;
// the page says which events a published checkpoint covers, and verify checks the log against them.
func TestCheckpointsArePublishedAndKept(t *testing.T) {
	s := open(t)
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := ledger.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	out := ledger.Checkpoints{JS: js}
	e := events.New(s.db, signer, &out)
	appendAll(t, e, use(0, ainoCode), use(1, ainoCode))
	now := evening.Add(time.Hour)
	if p := page(t, e, ainoID, events.Filter{}, nil, 10, now); p.Events[0].Anchored {
		t.Error("an event is anchored before any checkpoint")
	}
	if err := e.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Checkpoint(ctx); err != nil { // nothing new: nothing published
		t.Fatal(err)
	}
	published, err := out.All(ctx, events.Log(kantaLog))
	if err != nil || len(published) != 1 || published[0].Seq != 1 {
		t.Fatalf("published: %+v, %v", published, err)
	}
	if p := page(t, e, ainoID, events.Filter{}, nil, 10, now); !p.Events[0].Anchored || !p.Events[1].Anchored {
		t.Error("the events are not anchored by the published checkpoint")
	}
	appendAll(t, e, use(2, ainoCode))
	if p := page(t, e, ainoID, events.Filter{}, nil, 10, now); p.Events[2].Event.EventID != "kanta-00002" || p.Events[2].Anchored {
		t.Error("an event stored after the checkpoint is anchored")
	}
	rep, err := e.Verify(ctx, kantaLog, published, nil, now)
	if err != nil || rep.Broken != nil || rep.Chain.Checkpoints != 1 || rep.Chain.Unanchored != 1 {
		t.Errorf("verify against the published checkpoint: %+v (%v)", rep, err)
	}
	proof, problem, err := e.Proof(ctx, ainoID, kantaLog, "kanta-00000", now)
	if err != nil || problem != "" || proof.Published == nil || proof.Published.Seq != 1 {
		t.Errorf("the proof's published checkpoint: %+v (%q, %v)", proof.Published, problem, err)
	}
}
