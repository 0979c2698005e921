package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/cli"
	"kirjaamo.dev/services/internal/store/events"
)

const kantaLog = "kanta-processing-log"

// TestUsesOfAinosDataReachHerPageSecondsAfterTheRegisterLoggedThem: the Kanta processing log's table
// gets a row, the generic SQL adapter publishes it as an event, the processing service stores it
// in its block, and Aino's page shows it, checked, within seconds; the log's checkpoint is then
// published, and verify finds the log intact.
func TestUsesOfAinosDataReachHerPageSecondsAfterTheRegisterLoggedThem(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	aino := []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: demo.People[0].PersonalIdentityCode}}
	logged := time.Now().Add(-time.Second)
	if _, err := openRegisters(t, s).Exec(ctx, `INSERT INTO kanta_log.entries (personal_identity_code, processed_at, organisation, purpose,
		service, role, professional) VALUES ($1, $2, 'Esimerkkilän neuvola', 'care relationship: appointment', 'Patient Data Repository',
		'public health nurse', 'Terhi Terveydenhoitaja')`, demo.People[0].PersonalIdentityCode, logged); err != nil {
		t.Fatal(err)
	}
	var found *events.Shown
	for deadline := time.Now().Add(30 * time.Second); found == nil; time.Sleep(200 * time.Millisecond) {
		p, err := s.Platform.Events.Page(ctx, aino, events.Filter{Organisation: "neuvola"}, nil, 10, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) > 0 {
			found = &p.Events[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("the use did not reach Aino's page within 30 s")
		}
	}
	t.Logf("the use reached the page %s after it was logged", time.Since(logged).Round(time.Millisecond))
	if found.Problem != "" || found.Event.Actor.Person != "Terhi Terveydenhoitaja" || found.Event.Purpose != "care" {
		t.Errorf("the use as shown: %+v (%s)", found.Event, found.Problem)
	}
	// The live stream adds made-up uses too: more than the seeded two come by.
	p, err := s.Platform.Events.Page(ctx, aino, events.Filter{}, nil, 50, time.Now())
	if err != nil || p.Broken != 0 {
		t.Fatalf("Aino's page: %v, %d broken", err, p.Broken)
	}
	for deadline := time.Now().Add(20 * time.Second); !found.Anchored; time.Sleep(500 * time.Millisecond) {
		shown, err := s.Platform.Events.Event(ctx, aino, kantaLog, found.Event.EventID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		found = &shown
		if time.Now().After(deadline) {
			t.Fatal("no published checkpoint covered the use within 20 s")
		}
	}
	published, err := s.Platform.Checkpoints.All(ctx, events.Log(kantaLog))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Platform.Events.Verify(ctx, kantaLog, published, nil, time.Now())
	if err != nil || rep.Broken != nil || rep.Chain.Checkpoints == 0 {
		t.Errorf("verify: %+v (%v)", rep, err)
	}
	proof, problem, err := s.Platform.Events.Proof(ctx, aino, kantaLog, found.Event.EventID, time.Now())
	if err != nil || problem != "" || !strings.Contains(proof.EventCanonical, "Terhi Terveydenhoitaja") {
		t.Errorf("the proof: %q %v", problem, err)
	}
}

// TestAnEditedUseIsShownToThePersonAsSuchAndVerifyNamesIt: one of Aino's uses edited in PostgreSQL
// by someone who holds the tables (the owner's role) is shown on her page as changed, with the page
// saying so, and `kirjaamo processing verify` names its block and place; undone, both are clean.
func TestAnEditedUseIsShownToThePersonAsSuchAndVerifyNamesIt(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	aino := []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: demo.People[0].PersonalIdentityCode}}
	var shown events.Shown
	for deadline := time.Now().Add(30 * time.Second); shown.Event.EventID == ""; time.Sleep(500 * time.Millisecond) {
		p, err := s.Platform.Events.Page(ctx, aino, events.Filter{Register: kantaLog, Operation: contracts.ProcessingView}, nil, 1, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 1 {
			shown = p.Events[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("Aino has no use of her data in the Kanta log")
		}
	}
	owner, err := pgxpool.New(ctx, s.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	edit := func(operation string) {
		t.Helper()
		tag, err := owner.Exec(ctx, `UPDATE processing_events SET operation = $1
			WHERE log = (SELECT id FROM processing_logs WHERE register_id = $2) AND event_key = $3`, operation, kantaLog, events.EventKey(shown.Event.EventID))
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("editing the use: %v (%d rows)", err, tag.RowsAffected())
		}
	}
	verify := func() events.Report {
		t.Helper()
		rep, err := cli.VerifyProcessing(ctx, s.Platform.Events, s.Platform.Checkpoints, kantaLog, nil)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	hc := browser(t)
	signIn(t, hc, s.PortalURL, "/en/login", demo.People[0].Subject)

	edit(string(contracts.ProcessingDeletion))
	restored := false
	defer func() {
		if !restored {
			edit(string(contracts.ProcessingView))
		}
	}()
	status, body, _ := page(t, hc, s.PortalURL+"/en/processing?register="+kantaLog)
	if status != 200 || !strings.Contains(body, `id="tampered"`) {
		t.Errorf("Aino's page after the edit answered %d and does not say a use was changed", status)
	}
	if rep := verify(); rep.Broken == nil || rep.Broken.Block != shown.Block || rep.Broken.Position != shown.Position {
		t.Errorf("verify after the edit names %+v, want block %d place %d", rep.Broken, shown.Block, shown.Position)
	}

	edit(string(contracts.ProcessingView))
	restored = true
	status, body, _ = page(t, hc, s.PortalURL+"/en/processing?register="+kantaLog)
	if status != 200 || strings.Contains(body, `id="tampered"`) {
		t.Errorf("Aino's page after the edit was undone answered %d, still saying a use was changed: %v", status, strings.Contains(body, `id="tampered"`))
	}
	if rep := verify(); rep.Broken != nil {
		t.Errorf("verify after the edit was undone: %+v", rep.Broken)
	}
}
