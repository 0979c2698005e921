package sqladapter

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
)

func TestAProcessingLogIsCheckedAgainstTheDeclaration(t *testing.T) {
	for path, c := range map[string]struct {
		edit func(string) string
		says string
	}{
		"processing_log.purpose": {func(s string) string {
			return strings.Replace(s, `"dispensing a prescription": "dispensing"`, `"dispensing a prescription": "marketing"`, 1)
		}, `"marketing" is not a purpose`},
		"processing_log.operation": {func(s string) string {
			return strings.Replace(s, `"operation": {"column": "operation"}`, `"operation": {"value": "peek"}`, 1)
		}, `"peek" is not an operation`},
		"processing_log.progress": {func(s string) string {
			return strings.Replace(s, `"progress": {"schema": "sqladapter", "table": "kanta_log_progress"},`, ``, 1)
		}, "required"},
		"processing_log.role": {func(s string) string {
			return strings.Replace(s, `"role": {"column": "role"}`, `"role": {"column": "role", "value": "nurse"}`, 1)
		}, "not both"},
		"processing_log.subject[0].type": {func(s string) string {
			return strings.Replace(s, `"subject": [{"type": "personal_identity_code"`, `"subject": [{"type": "email"`, 1)
		}, "does not name email"},
	} {
		wantProblem(t, parseProcessingEdited(t, c.edit), path, c.says)
	}
	// A declaration that does not make the professional's name essential: the mapping may not give it.
	cfg, err := ReadConfigFS(Examples, "examples/kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	decl := cfg.RegisterDeclaration()
	p := *decl.Processing
	p.ActorNames, decl.Processing = nil, &p
	ce := &ConfigError{}
	cfg.ProcessingLog.validate(ce, &decl, true)
	wantProblem(t, ce, "processing_log.person", "does not declare a person's name essential")
}

// parseProcessingEdited is the example configuration, with its declaration inline, edited.
func parseProcessingEdited(t *testing.T, edit func(string) string) error {
	t.Helper()
	decl, err := Examples.ReadFile("examples/kanta-processing-log.declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Examples.ReadFile("examples/kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	inline := strings.Replace(string(cfg), `"declaration_file": "kanta-processing-log.declaration.json"`, `"declaration": `+string(decl), 1)
	_, err = ParseConfig([]byte(edit(inline)), "kanta.json", nil)
	return err
}

// published collects every event published on the register's subject, a repeat included.
type published struct {
	mu     sync.Mutex
	events []contracts.ProcessingEvent
}

func (p *published) take(m *nats.Msg) {
	var ev contracts.ProcessingEvent
	_ = json.Unmarshal(m.Data, &ev)
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
}

func (p *published) wait(t *testing.T, n int) []contracts.ProcessingEvent {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		got := append([]contracts.ProcessingEvent(nil), p.events...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events published, want %d", len(got), n)
		}
	}
}

// TestTheLogTableBecomesProcessingEvents follows the Kanta log table with the example's mapping: its
// rows become events from the first on, rows added later follow, a row the declaration does not
// allow is skipped, and a restart goes on after the last row delivered instead of sending the table
// again.
func TestTheLogTableBecomesProcessingEvents(t *testing.T) {
	ctx := t.Context()
	srv := natstest.New(t)
	db := newDB(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.ProcessingStream, Subjects: []string{contracts.AllProcessingSubject},
		Retention: jetstream.WorkQueuePolicy, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	seen := &published{}
	if _, err := nc.Subscribe(contracts.ProcessingSubject("kanta-processing-log"), seen.take); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfigFS(Examples, "examples/kanta-processing-log.json")
	if err != nil {
		t.Fatal(err)
	}
	reg := New(cfg, db).BeforeSetup(seed(db, "testdata/kanta-processing-log.sql"))
	if err := reg.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	follow := func() (stop func()) {
		events, err := sdk.OpenEvents(ctx, reg.Declaration(), sdk.Config{NATSURL: srv.ClientURL(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- reg.PublishProcessing(runCtx, events) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("PublishProcessing: %v", err)
			}
			if err := events.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
	stop := follow()
	first := seen.wait(t, 4)
	byID := map[string]contracts.ProcessingEvent{}
	for _, ev := range first {
		byID[ev.EventID] = ev
	}
	if ev := byID["1"]; ev.Purpose != "care" || ev.LegalBasis != contracts.BasisLegalObligation || ev.Actor.Person != "Laura Lääkäri" ||
		ev.Actor.Role != "physician" || ev.Subject[0].Value != "150385-9013" || ev.Operation != contracts.ProcessingView ||
		len(ev.DataCategories) != 1 || ev.DataCategories[0] != "patient-records" {
		t.Errorf("the first row's event: %+v", ev)
	}
	if ev := byID["4"]; ev.Purpose != "own-request" || len(ev.DataCategories) != 2 || ev.Actor.Person != "" {
		t.Errorf("Kela's fault investigation: %+v", ev)
	}

	// A disclosure held back for a while, a row whose purpose the map does not know, and a view.
	if _, err := db.Exec(ctx, `INSERT INTO kanta_log.entries (personal_identity_code, processed_at, organisation, purpose, service, role,
		operation, recipient, embargo_until) VALUES
		('150385-9013', now() - interval '1 hour', 'Esimerkkilän terveyskeskus', 'disclosure to Kela for a benefit decision', 'Patient Data Repository',
			'physician', 'disclosure', 'Kela', now() + interval '30 days'),
		('150385-9013', now(), 'Mainostoimisto', 'marketing', 'none', 'copywriter', 'view', NULL, NULL),
		('150385-9013', now(), 'Apteekki Esimerkki', 'dispensing a prescription', 'Prescription Centre', 'pharmacist', 'view', NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	later := seen.wait(t, 6)
	stop()
	var disclosure *contracts.ProcessingEvent
	for i, ev := range later {
		if ev.EventID == "6" {
			t.Errorf("the marketing row was published: %+v", ev)
		}
		if ev.EventID == "5" {
			disclosure = &later[i]
		}
	}
	if disclosure == nil || disclosure.Operation != contracts.ProcessingDisclosure || disclosure.Recipient != "Kela" ||
		disclosure.EmbargoUntil == nil || disclosure.Purpose != "statutory-disclosure" {
		t.Errorf("the disclosure's event: %+v", disclosure)
	}
	var last string
	if err := db.QueryRow(ctx, `SELECT last_id FROM sqladapter.kanta_log_progress WHERE log = 'kanta_log.entries'`).Scan(&last); err != nil || last != "7" {
		t.Errorf("progress %q (%v), want 7, the last row read", last, err)
	}

	// Started again, the adapter sends nothing it delivered, and goes on with a new row.
	stop = follow()
	defer stop()
	if _, err := db.Exec(ctx, `INSERT INTO kanta_log.entries (personal_identity_code, processed_at, organisation, purpose, service, role)
		VALUES ('311260-9039', now(), 'Esimerkkilän kotihoito', 'care relationship: home care visit', 'Patient Data Repository', 'practical nurse')`); err != nil {
		t.Fatal(err)
	}
	again := seen.wait(t, 7)
	time.Sleep(300 * time.Millisecond)
	if final := seen.wait(t, 7); len(final) != 7 || again[6].EventID != "8" {
		t.Errorf("after the restart %d events were published, the last %q; want one more, row 8", len(final), again[len(again)-1].EventID)
	}
}
