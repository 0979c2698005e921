package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/devstack"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/workflows/request"
)

// The walk of the citizen's side in Finnish, Swedish and English: every right through the form to
// its reply (one request withdrawn instead), the form's error states, the pages a public service
// must have, a styled 404, and the access package's cover letter. On every page state it reaches it
// runs axe-core (WCAG 2.1 A and AA) once, and on every page it checks that the text is in the page's
// language: no text of another language's catalogue, no sentence that reads as another language,
// no missing key, except what is marked as quoted data (data-quoted) or in a language of its own
// (lang). The portal sends no script at all, so JavaScript on and off are the same page: every
// state is checked to have none.

// axeTags are the rules axe runs: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// auditor runs axe and the language check on the pages a tab shows, axe once per page state.
type auditor struct {
	t       *testing.T
	axe     string
	foreign map[contracts.Language][]string
	seen    map[string]bool
	runs    int
	shots   string // where screenshots go, if anywhere
}

func newAuditor(t *testing.T) *auditor {
	t.Helper()
	installAxe(t)
	src, err := os.ReadFile("node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core is not installed (npm ci in services/devstack/e2e): %v", err)
	}
	return &auditor{t: t, axe: string(src), foreign: foreignPhrases(), seen: map[string]bool{}, shots: os.Getenv("KIRJAAMO_SCREENSHOTS")}
}

// installAxe runs `npm ci` here when axe-core is missing, so that CI needs nothing but Node.js.
func installAxe(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("node_modules/axe-core/axe.min.js"); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("the browser test needs axe-core: install Node.js and npm, or run `npm ci` in services/devstack/e2e")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
		t.Fatalf("npm ci in services/devstack/e2e failed (%v); it needs the npm registry or a cache:\n%s", err, out)
	}
}

// foreignPhrases are, for each language, the phrases of the other languages' catalogues that its
// own catalogue does not hold: long enough (16 characters) to be words, not names. A page in the
// language must hold none of them.
func foreignPhrases() map[contracts.Language][]string {
	verb := regexp.MustCompile(`%(\[\d+\])?[-+# 0]*[0-9]*(\[\d+\])?[sdvq]|\n`)
	// Filled for every language by the loop below.
	//exhaustive:ignore
	all := map[contracts.Language]string{}
	for _, l := range contracts.Languages {
		var b strings.Builder
		for _, k := range texts.Keys(l) {
			b.WriteString(texts.In(l).T(k))
			b.WriteByte('\n')
		}
		all[l] = b.String()
	}
	// Filled for every language by the loop below.
	//exhaustive:ignore
	out := map[contracts.Language][]string{}
	for _, l := range contracts.Languages {
		seen := map[string]bool{}
		for _, other := range contracts.Languages {
			if other == l {
				continue
			}
			for _, k := range texts.Keys(other) {
				for _, part := range verb.Split(texts.In(other).T(k), -1) {
					part = strings.Join(strings.Fields(part), " ")
					if utf8.RuneCountInString(part) >= 16 && !strings.Contains(all[l], part) && !seen[part] {
						seen[part] = true
						out[l] = append(out[l], part)
					}
				}
			}
		}
	}
	return out
}

// languageCheck gathers a page's text outside quoted data and other languages' elements, and
// reports the foreign phrases in it, the sentences that read as another language, missing keys,
// and scripts.
const languageCheck = `(() => {
  const lang = document.documentElement.lang, foreign = %s;
  const skip = el => el.closest("[data-quoted]") || (el.closest("[lang]") && el.closest("[lang]").lang !== lang);
  const parts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const p = n.parentElement;
    if (p && !skip(p) && !p.closest("script,style")) parts.push(n.nodeValue);
  }
  for (const e of document.querySelectorAll("[aria-label],[title],[placeholder],[alt]"))
    if (!skip(e)) for (const a of ["aria-label", "title", "placeholder", "alt"]) if (e.getAttribute(a)) parts.push(e.getAttribute(a));
  const text = parts.join("\n").replace(/[ \t]+/g, " ");
  const flat = text.replace(/\s+/g, " ");
  const stop = {
    fi: ["ja", "ei", "tai", "että", "sinun", "sinusta", "tiedot", "tietoja", "voit", "kun", "jos", "ovat", "mitä", "tämä", "rekisteri", "rekisterissä", "pyyntö", "pyyntösi"],
    sv: ["och", "att", "är", "det", "som", "för", "med", "inte", "dina", "du", "vi", "till", "av", "på", "om", "har", "uppgifter", "den", "begäran"],
    en: ["the", "and", "of", "to", "is", "are", "your", "you", "we", "for", "with", "this", "that", "not", "by", "data", "request", "has"],
  };
  const misread = [];
  for (const sentence of text.split(/[.!?:;\n•]/)) {
    const words = (sentence.toLowerCase().match(/\p{L}+/gu) || []);
    if (words.length < 6) continue;
    const score = {};
    for (const l in stop) score[l] = words.filter(w => stop[l].includes(w)).length;
    for (const l in stop) if (l !== lang && score[l] >= 3 && score[l] > score[lang]) misread.push(sentence.trim());
  }
  return {foreign: foreign.filter(f => flat.includes(f)), misread, missing: flat.includes("⟦"), scripts: document.scripts.length};
})()`

type languageReport struct {
	Foreign []string `json:"foreign"`
	Misread []string `json:"misread"`
	Missing bool     `json:"missing"`
	Scripts int      `json:"scripts"`
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// check audits the page the tab shows as the state named: the language always, axe the first time
// the state is seen in the page's language.
func (a *auditor) check(b *tab, state string) {
	a.t.Helper()
	lang := eval[string](b, `document.documentElement.lang`)
	rep := a.language(b, contracts.Language(lang))
	where := lang + "/" + state + " (" + b.location() + ")"
	for _, f := range rep.Foreign {
		a.t.Errorf("%s holds text of another language: %q", where, f)
	}
	for _, s := range rep.Misread {
		a.t.Errorf("%s holds a sentence in another language: %q", where, s)
	}
	if rep.Missing {
		a.t.Errorf("%s shows a missing text (⟦key⟧)", where)
	}
	if rep.Scripts != 0 {
		a.t.Errorf("%s has %d scripts: the portal works the same with JavaScript off only if it sends none", where, rep.Scripts)
	}
	key := lang + "/" + state
	if a.seen[key] {
		return
	}
	a.seen[key] = true
	a.runs++
	for _, v := range a.violations(b) {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, fmt.Sprint(n.Target)+" "+n.HTML)
		}
		a.t.Errorf("axe on %s: %s (%s): %s\n\t%s", where, v.ID, v.Impact, v.Help, strings.Join(nodes, "\n\t"))
	}
	if a.shots != "" && slices.Contains(screenshots, key) {
		a.screenshot(b, key)
	}
}

// language runs the language check on the page.
func (a *auditor) language(b *tab, lang contracts.Language) languageReport {
	a.t.Helper()
	foreign, _ := json.Marshal(a.foreign[lang])
	var rep languageReport
	raw := eval[string](b, `JSON.stringify(`+fmt.Sprintf(languageCheck, foreign)+`)`)
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		b.fatalf("the language check: %v", err)
	}
	return rep
}

// violations runs axe on the page.
func (a *auditor) violations(b *tab) []axeViolation {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	tags, _ := json.Marshal(axeTags)
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](a.axe+`;axe.run(document, {runOnly: {type: "tag", values: `+string(tags)+`},
		resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatalf("axe: %v", err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		b.fatalf("axe's answer: %v", err)
	}
	return violations
}

// selfCheck proves the audit can fail: on a page with a field put in without a label, a phrase of
// the Swedish catalogue and a sentence in English, axe and the language check must find each.
func (a *auditor) selfCheck(b *tab) {
	a.t.Helper()
	phrase := a.foreign[contracts.Finnish][0]
	eval[bool](b, `(() => {
		document.querySelector("main").insertAdjacentHTML("beforeend", '<input type="text"><p></p><p>The register holds no data about you, and this is the reply to your request.</p>');
		document.querySelector("main p:nth-last-of-type(2)").textContent = `+jsString(phrase)+`;
		return true;
	})()`)
	if !slices.ContainsFunc(a.violations(b), func(v axeViolation) bool { return v.ID == "label" }) {
		a.t.Error("axe did not find a field without a label: the audit would pass anything")
	}
	rep := a.language(b, contracts.Finnish)
	if !slices.Contains(rep.Foreign, phrase) || len(rep.Misread) == 0 {
		a.t.Errorf("the language check did not find another language's words (%+v): it would pass anything", rep)
	}
}

// screenshots are the page states the README shows, taken when KIRJAAMO_SCREENSHOTS names a folder.
var screenshots = []string{"fi/home", "fi/form_right", "fi/form_details rectification", "sv/form_contact error",
	"fi/form_check erasure", "en/request sent", "fi/reply access", "en/reply erasure"}

func (a *auditor) screenshot(b *tab, key string) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 900, Height: 800, DeviceScaleFactor: 1}); err != nil {
		a.t.Errorf("screenshot %s: %v", key, err)
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		a.t.Errorf("screenshot %s: %v", key, err)
		return
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(key) + ".png"
	if err := os.WriteFile(filepath.Join(a.shots, name), png, 0o644); err != nil {
		a.t.Errorf("screenshot %s: %v", key, err)
	}
}

// sentRequest is a request the walk sent, and what is to become of it.
type walked struct {
	lang  contracts.Language
	right contracts.Right
	id    string
}

// walkEveryRightInEveryLanguage is the walk. Matti makes every request, in a tab of his own.
func walkEveryRightInEveryLanguage(t *testing.T, browserCtx context.Context, stack *devstack.Stack, a *auditor) {
	began := time.Now()
	matti := demo.People[1]
	b := openTab(t, browserCtx, "matti")
	b.open(stack.PortalURL + "/fi/help")
	a.selfCheck(b)
	for _, l := range contracts.Languages {
		b.open(stack.PortalURL + "/" + string(l) + "/")
		a.check(b, "home signed out")
		for _, page := range []string{"help", "privacy", "accessibility"} {
			b.open(stack.PortalURL + "/" + string(l) + "/" + page)
			a.check(b, page)
		}
		if resp := b.open(stack.PortalURL + "/" + string(l) + "/no-such-page"); resp.Status != 404 {
			b.fatalf("an unknown address answered %d, want 404", resp.Status)
		}
		a.check(b, "not found")
	}
	b.open(stack.PortalURL + "/fi/login")
	b.clickAndWaitForPage(`button[name=subject][value="` + matti.Subject + `"]`)
	var sent []walked
	for _, l := range contracts.Languages {
		b.open(stack.PortalURL + "/" + string(l) + "/")
		a.check(b, "home")
		for _, right := range contracts.Rights {
			sent = append(sent, walked{lang: l, right: right, id: sendThroughTheForm(t, a, b, stack, l, right)})
		}
	}
	t.Logf("8. Matti sent every right through the form in fi, sv and en: %d requests", len(sent))

	// The registry office approves each reply but the objections, which Matti withdraws.
	ctx := context.Background()
	for _, w := range sent {
		c := waitForStatus(t, stack, w.id, request.StatusInReview, request.StatusAwaitingInformation)
		if w.right == contracts.RightObjection {
			withdrawThroughThePage(t, a, b, stack, w)
			continue
		}
		if c.Status == request.StatusAwaitingInformation {
			c = waitForStatus(t, stack, w.id, request.StatusInReview)
		}
		if _, err := stack.Platform.Requests.Approve(ctx, w.id, request.Approval{Clerk: "Kaisa Kirjaaja"}); err != nil {
			t.Fatalf("approving %s: %v", w.id, err)
		}
	}
	for _, w := range sent {
		if w.right == contracts.RightObjection {
			continue
		}
		want := request.StatusReplied
		if w.right == contracts.RightRestriction {
			want = request.StatusRestricted
		}
		waitForStatus(t, stack, w.id, want)
		b.open(stack.PortalURL + "/" + string(w.lang) + "/requests/" + w.id)
		if !b.has("#reply") || !b.has("#timeline") || !b.has("#rights") {
			b.fatalf("the replied %s request shows no reply, timeline or rights", w.right)
		}
		a.check(b, "reply "+string(w.right))
		if w.right == contracts.RightAccess {
			coverLetterIsInTheLanguage(t, a, b, w)
		}
	}
	b.open(stack.PortalURL + "/sv/requests")
	a.check(b, "requests")
	t.Logf("8. every reply read in its language; axe ran on %d page states; the walk took %s",
		a.runs, time.Since(began).Round(time.Millisecond))
}

// sendThroughTheForm sends one request through the form's four steps in a language, checking each
// state of the form on the way, and returns its id.
func sendThroughTheForm(t *testing.T, a *auditor, b *tab, stack *devstack.Stack, l contracts.Language, right contracts.Right) string {
	t.Helper()
	prefix := stack.PortalURL + "/" + string(l)
	b.open(prefix + "/requests/new")
	a.check(b, "form_right")
	if right == contracts.RightAccess {
		// Once per language: continuing without a right shows the error summary.
		if resp := b.clickAndWaitForPage("#continue"); resp.Status != 422 {
			b.fatalf("continuing without a right answered %d", resp.Status)
		}
		a.check(b, "form_right error")
	}
	b.do("choosing "+string(right), chromedp.Click(chromedp.CSS("#right-"+string(right))))
	b.clickAndWaitForPage("#continue")
	variant := ""
	if right == contracts.RightRectification {
		variant = " rectification"
		if !b.has(`#rectify_field option[value="phone"]`) {
			b.fatalf("the rectification form does not offer the registers' correctable phone number")
		}
		b.do("choosing the phone number", chromedp.SetValue(chromedp.CSS("#rectify_field"), "phone"))
		b.typeInto("#rectify_value", "Puhelinnumero")
		if resp := b.clickAndWaitForPage("#continue"); resp.Status != 422 || !b.has("#error-rectify_value") {
			b.fatalf("a phone number in words was answered %d", resp.Status)
		}
		a.check(b, "form_details rectification error")
		b.typeInto("#rectify_value", "+358 40 111 0099")
	} else {
		b.do("writing the details", chromedp.SetValue(chromedp.CSS("#details"), "Matti "+string(right)))
	}
	a.check(b, "form_details"+variant)
	b.clickAndWaitForPage("#continue")
	if right == contracts.RightAccess {
		b.typeInto("#phone", "abc")
		if resp := b.clickAndWaitForPage("#continue"); resp.Status != 422 {
			b.fatalf("a phone number in letters was answered %d", resp.Status)
		}
		a.check(b, "form_contact error")
		b.do("clearing the phone number", chromedp.Clear(chromedp.CSS("#phone")))
	}
	a.check(b, "form_contact")
	b.clickAndWaitForPage("#continue")
	if !b.has("#answers") {
		b.fatalf("no check of the answers")
	}
	checkState := "form_check"
	if right == contracts.RightErasure {
		checkState += " erasure"
		if !b.has("#erasure-warning") || !b.has("#erase-at-once") {
			b.fatalf("the check of an erasure does not say what cannot be undone and which registers erase at once")
		}
	}
	a.check(b, checkState)
	b.clickAndWaitForPage("#submit")
	m := regexp.MustCompile(`/requests/([0-9a-f-]{36})$`).FindStringSubmatch(b.location())
	if m == nil || !b.has("#reference") {
		b.fatalf("sending the %s request did not lead to its confirmation", right)
	}
	a.check(b, "request sent")
	return m[1]
}

// withdrawThroughThePage withdraws a request on its page, which asks first.
func withdrawThroughThePage(t *testing.T, a *auditor, b *tab, stack *devstack.Stack, w walked) {
	t.Helper()
	b.open(stack.PortalURL + "/" + string(w.lang) + "/requests/" + w.id)
	a.check(b, "request in review")
	b.clickAndWaitForPage("#withdraw")
	if !b.has("#confirm-withdraw") || !b.has("#keep") {
		b.fatalf("withdrawing does not ask first")
	}
	a.check(b, "withdraw")
	b.clickAndWaitForPage("#confirm-withdraw")
	if !b.has("#withdrawal") {
		b.fatalf("the withdrawn request does not say so")
	}
	a.check(b, "withdrawn")
}

// coverLetterIsInTheLanguage downloads the access package and checks its cover letter and CSV are
// in the request's language, and the cover letter passes axe.
func coverLetterIsInTheLanguage(t *testing.T, a *auditor, b *tab, w walked) {
	t.Helper()
	dir := t.TempDir()
	_, content := b.downloadByClicking("#download-zip", dir)
	zr, err := zip.NewReader(bytes.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatalf("the %s package is not a ZIP: %v", w.lang, err)
	}
	cover := texts.In(w.lang).T("cover.file")
	var html []byte
	csvs := 0
	for _, f := range zr.File {
		rc, _ := f.Open()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(rc)
		rc.Close()
		switch {
		case f.Name == cover+".html":
			html = buf.Bytes()
		case strings.HasSuffix(f.Name, ".csv"):
			csvs++
			if header := strings.SplitN(buf.String(), "\n", 2)[0]; !strings.Contains(header, texts.In(w.lang).T("cover.category")) {
				t.Errorf("%s's header in the %s package is %q", f.Name, w.lang, header)
			}
		}
	}
	if html == nil || csvs == 0 {
		t.Fatalf("the %s package has no %s.html or no CSV", w.lang, cover)
	}
	path := filepath.Join(dir, cover+".html")
	if err := os.WriteFile(path, html, 0o600); err != nil {
		t.Fatal(err)
	}
	b.open("file://" + path)
	a.check(b, "cover letter")
}

// waitForStatus waits for a case to reach one of the statuses.
func waitForStatus(t *testing.T, stack *devstack.Stack, id string, statuses ...request.Status) cases.Case {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := stack.Platform.Cases.Case(context.Background(), id)
		if err == nil && slices.Contains(statuses, c.Status) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s never reached %v (last: %s, %v)", id, statuses, c.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
