package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store/events"
)

// TestWhoHasUsedMyData is issue #14's walk, in Finnish, Swedish and English: Aino signs in, and for
// each language a use of her data is logged in the demo Kanta processing log's own table; the
// generic SQL adapter publishes it, and seconds later her "Who has used my data" page shows it. She
// filters her uses by the organisation, exports them as CSV, checks one against its signed
// checkpoint, and starts an objection from it, with the use filled in. Then a use the register holds
// back (an embargo of 40 s) is stored at once but shown only from its date. axe finds nothing on any
// page.
func TestWhoHasUsedMyData(t *testing.T) {
	execPath := chromiumPath(t)
	logs := &syncBuffer{}
	stack := startPlatform(t, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("platform log, last lines:\n%s", lastLines(logs, 80))
		}
	})
	axe := loadAxe(t)
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
		checkAxe(citizen, axe, lang+" processing")

		// Filter: the organisation's name, sent as a GET parameter.
		citizen.typeInto("#organisation", "neuvola ("+lang)
		if resp := citizen.clickAndWaitForPage("#apply"); resp.Status != 200 || !strings.Contains(citizen.location(), "organisation=") {
			citizen.fatalf("filtering answered %d at %s", resp.Status, citizen.location())
		}
		who := eval[[]string](citizen, `[...document.querySelectorAll("tr.event td.who")].map(e => e.textContent)`)
		if len(who) != 1 || !strings.Contains(who[0], organisation) {
			citizen.fatalf("the filtered page shows %q, want only the use by %s", who, organisation)
		}
		checkAxe(citizen, axe, lang+" processing filtered")

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
		checkAxe(citizen, axe, lang+" proof")
		checkProofOffline(citizen, stack.Platform.Signer.Public())

		// Act on it: an objection about the register, with the use filled in.
		citizen.open(filtered)
		if resp := citizen.clickAndWaitForPage(`tr.event a.act[data-right="objection"]`); resp.Status != 200 {
			citizen.fatalf("starting an objection answered %d", resp.Status)
		}
		chosen := eval[string](citizen, `(document.querySelector("input[name=right]:checked") || {}).value || ""`)
		details := eval[string](citizen, `document.querySelector("#details").value`)
		if chosen != string(contracts.RightObjection) || !strings.Contains(details, organisation) {
			citizen.fatalf("the form has %q chosen and details %q, want an objection naming %s", chosen, details, organisation)
		}
		checkAxe(citizen, axe, lang+" objection form")
		if lang == "en" {
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

// awaitEval is eval of an expression whose value is a promise, within a time of its own (axe takes
// seconds on a busy machine).
func awaitEval[T any](b *tab, within time.Duration, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatalf("reading the page (%s): %v", expression, err)
	}
	return v
}

// loadAxe reads axe-core, installing it with npm (package.json here) when it is missing.
func loadAxe(t *testing.T) string {
	t.Helper()
	const path = "node_modules/axe-core/axe.min.js"
	if _, err := os.Stat(path); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("the browser test needs axe-core: install Node.js and npm, or run `npm ci` in services/devstack/e2e")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			t.Fatalf("npm ci in services/devstack/e2e failed (%v):\n%s", err, out)
		}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// checkAxe runs axe-core (WCAG 2.1 A and AA) on the page the tab shows and fails on any violation.
func checkAxe(b *tab, axe, where string) {
	b.t.Helper()
	out := awaitEval[string](b, time.Minute, axe+`;axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
		resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => v.id + ": " + v.help + " " + v.nodes.map(n => n.html).join(" | "))))`)
	var violations []string
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		b.fatalf("axe's answer: %v", err)
	}
	for _, v := range violations {
		b.t.Errorf("axe on %s (%s): %s", where, b.location(), v)
	}
	if len(violations) == 0 {
		b.t.Logf("axe on %s: no violations", where)
	}
}
