package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/texts"
)

// TestWhoHasUsedMyData is issue #14's walk, in Finnish, Swedish and English: Aino signs in, and for
// each language a use of her data is logged in the demo Kanta processing log's own table; the
// generic SQL adapter publishes it, and seconds later her "Who has used my data" page shows it. She
// filters her uses by the organisation, exports them as CSV, checks one against its signed
// checkpoint, and starts an objection from it, with the use filled in. Then a use the register holds
// back (an embargo of 40 s) is stored at once but shown only from its date. Every page passes #13's
// audit (axe-core, WCAG 2.1 A and AA, and the language check).
func TestWhoHasUsedMyData(t *testing.T) {
	execPath := chromiumPath(t)
	logs := &syncBuffer{}
	stack := startPlatform(t, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("platform log, last lines:\n%s", lastLines(logs, 80))
		}
	})
	audit := newAuditor(t)
	browserCtx := startBrowser(t, execPath, 8*time.Minute)
	citizen := openTab(t, browserCtx, "citizen")
	aino := demo.People[0]
	citizenSignsIn(t, citizen, stack, aino)
	ctx := t.Context()
	registers, err := pgxpool.New(ctx, stack.RegistersURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(registers.Close)
	logUse := func(organisation string, embargoUntil *time.Time) {
		t.Helper()
		if _, err := registers.Exec(ctx, `INSERT INTO kanta_log.entries (personal_identity_code, processed_at, organisation, purpose,
			service, role, professional, operation, embargo_until) VALUES ($1, now(), $2, 'care relationship: appointment',
			'Patient Data Repository', 'public health nurse', 'Terhi Terveydenhoitaja', 'view', $3)`,
			aino.PersonalIdentityCode, organisation, embargoUntil); err != nil {
			t.Fatal(err)
		}
	}
	heldBack := "Esimerkkilän poliisilaitos"
	for _, lang := range []string{"fi", "sv", "en"} {
		organisation := "Esimerkkilän neuvola (" + lang + ")"
		logged := time.Now()
		logUse(organisation, nil)
		citizen.open(stack.PortalURL + "/" + lang + "/processing")
		citizen.reloadUntil("the use logged "+lang, 60*time.Second, func() bool { return strings.Contains(citizen.text("#events"), organisation) })
		t.Logf("%s: the use logged at the register reached the page after %s", lang, time.Since(logged).Round(100*time.Millisecond))
		audit.check(citizen, "processing")

		// Filter: the organisation's name, sent as a GET parameter.
		citizen.typeInto("#organisation", "neuvola ("+lang)
		if resp := citizen.clickAndWaitForPage("#apply"); resp.Status != 200 || !strings.Contains(citizen.location(), "organisation=") {
			citizen.fatalf("filtering answered %d at %s", resp.Status, citizen.location())
		}
		who := eval[[]string](citizen, `[...document.querySelectorAll("tr.event td.who")].map(e => e.textContent)`)
		if len(who) != 1 || !strings.Contains(who[0], organisation) {
			citizen.fatalf("the filtered page shows %q, want only the use by %s", who, organisation)
		}
		audit.check(citizen, "processing filtered")

		// Export: the filtered uses as CSV.
		name, csv := citizen.downloadByClicking("#export", t.TempDir())
		if !strings.HasSuffix(name, ".csv") || !strings.Contains(string(csv), organisation) || strings.Count(strings.TrimSpace(string(csv)), "\n") != 1 {
			citizen.fatalf("the export %q is not the one filtered use as CSV:\n%s", name, csv)
		}

		// Proof: the use against its block's signed checkpoint.
		filtered := citizen.location()
		if resp := citizen.clickAndWaitForPage("tr.event a.check"); resp.Status != 200 || !citizen.has("#proof-ok") || citizen.text("#leaf-hash") == "" {
			citizen.fatalf("the proof answered %d and does not say the use checks", resp.Status)
		}
		if lang == "fi" {
			citizen.reloadUntil("a published checkpoint to cover the use", 60*time.Second, func() bool { return citizen.has("#published") })
		}
		audit.check(citizen, "processing proof")
		checkProofOffline(citizen, stack.Platform.Signer.Public())

		// Act on it: an objection about the register, with the use filled in. The request form opens at
		// its details step, the objection chosen and the details describing the use.
		citizen.open(filtered)
		if resp := citizen.clickAndWaitForPage(`tr.event a.act[data-right="objection"]`); resp.Status != 200 ||
			!strings.HasSuffix(citizen.location(), "/"+lang+"/requests/new/details") {
			citizen.fatalf("starting an objection answered %d at %s, want the form's details step", resp.Status, citizen.location())
		}
		heading := citizen.text("h1")
		details := eval[string](citizen, `document.querySelector("#details").value`)
		if want := texts.In(contracts.Language(lang)).Of("portal.details_label", string(contracts.RightObjection)); heading != want ||
			!strings.Contains(details, organisation) {
			citizen.fatalf("the details step asks %q with details %q, want %q naming %s", heading, details, want, organisation)
		}
		audit.check(citizen, "form_details objection from a use")
		if lang == "en" {
			citizen.clickAndWaitForPage("#continue") // the details as filled in: to the contact details
			citizen.clickAndWaitForPage("#continue") // to the check page
			if got := eval[string](citizen, `document.querySelector("main").innerText`); !strings.Contains(got, organisation) {
				citizen.fatalf("the check page does not hold the use's details: %q", got)
			}
			audit.check(citizen, "form_check objection from a use")
			if resp := citizen.clickAndWaitForPage("#submit"); resp.Status != 200 || requestPage.FindStringSubmatch(citizen.location()) == nil {
				citizen.fatalf("sending the objection answered %d at %s, want the request's page", resp.Status, citizen.location())
			}
			t.Logf("en: the objection was sent: %s", citizen.location())
		}
	}

	// A use the register holds back for 40 s: stored at once, and not shown until its date.
	until := time.Now().Add(40 * time.Second)
	logUse(heldBack, &until)
	person := []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: aino.PersonalIdentityCode}}
	for stored := false; !stored; time.Sleep(250 * time.Millisecond) {
		later, err := stack.Platform.Events.Page(ctx, person, events.Filter{Organisation: "poliisi"}, nil, 5, until.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		stored = len(later.Events) == 1
		if !stored && time.Now().After(until) {
			t.Fatal("the held-back use was not stored before its embargo ended")
		}
	}
	citizen.open(stack.PortalURL + "/en/processing?organisation=poliisi")
	if shows := citizen.has("tr.event"); shows || time.Now().After(until) {
		citizen.fatalf("the held-back use is stored and shows %v, %s before its embargo ends", shows, time.Until(until).Round(time.Second))
	}
	citizen.open(stack.PortalURL + "/en/processing?organisation=poliisi")
	citizen.reloadUntil("the held-back use to show from its date", time.Until(until)+30*time.Second, func() bool { return citizen.has("tr.event") })
	if time.Now().Before(until) {
		citizen.fatalf("the held-back use showed before its date")
	}
	t.Logf("the held-back use showed %s after its embargo ended", time.Since(until).Round(100*time.Millisecond))
	if err := stack.Err(); err != nil {
		t.Errorf("a service failed during the walk: %v", err)
	}
}

// checkProofOffline downloads the proof the page links to and checks it as `kirjaamo processing
// check-proof` does (docs/processing-proof.md), with nothing but the platform's public keys.
func checkProofOffline(b *tab, public ledger.PublicKeys) {
	b.t.Helper()
	name, raw := b.downloadByClicking("#download-proof", b.t.TempDir())
	var proof events.Proof
	if err := json.Unmarshal(raw, &proof); err != nil {
		b.fatalf("the proof %s is not JSON: %v", name, err)
	}
	if err := proof.Check(public); err != nil {
		b.fatalf("the downloaded proof does not check: %v", err)
	}
}
