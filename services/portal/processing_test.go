package portal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
)

// fakeProcessing holds events by the identity code they are about, and the page's last query.
type fakeProcessing struct {
	events     map[string][]events.Shown
	filter     events.Filter
	subscribed map[string]string
}

func newFakeProcessing(t testing.TB) *fakeProcessing {
	at := time.Date(2026, 5, 4, 6, 30, 0, 0, time.UTC)
	view := func(id string, op contracts.ProcessingOperation, purpose, recipient string) events.Shown {
		return events.Shown{Event: contracts.ProcessingEvent{EventID: id, RegisterID: "kanta-processing-log", At: at, Operation: op,
			Purpose: purpose, Recipient: recipient, LegalBasis: contracts.BasisLegalObligation, DataCategories: []string{"patient-records"},
			Actor: contracts.Actor{Organisation: "Esimerkkilän terveyskeskus", Role: "physician", Person: "Laura Lääkäri"}}, Anchored: true}
	}
	tampered := view("k-3", contracts.ProcessingView, "care", "")
	tampered.Problem = events.ProblemChanged
	return &fakeProcessing{subscribed: map[string]string{}, events: map[string][]events.Shown{
		ainoID.PersonalIdentityCode: {view("k-1", contracts.ProcessingView, "care", ""), view("k-2", contracts.ProcessingDisclosure, "statutory-disclosure", "Kela"), tampered},
	}}
}

func code(person []contracts.Identifier) string { return person[0].Value }

func (f *fakeProcessing) Page(_ context.Context, person []contracts.Identifier, filter events.Filter, _ *events.Cursor, limit int, _ time.Time) (events.Page, error) {
	f.filter = filter
	var p events.Page
	for _, e := range f.events[code(person)] {
		if filter.Operation == "" || e.Event.Operation == filter.Operation {
			p.Events = append(p.Events, e)
			if e.Problem != "" {
				p.Broken++
			}
		}
	}
	return p, nil
}
func (f *fakeProcessing) Export(ctx context.Context, person []contracts.Identifier, filter events.Filter, now time.Time, each func(events.Shown) error) error {
	p, _ := f.Page(ctx, person, filter, nil, 0, now)
	for _, e := range p.Events {
		if err := each(e); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeProcessing) Event(_ context.Context, person []contracts.Identifier, registerID, eventID string, _ time.Time) (events.Shown, error) {
	for _, e := range f.events[code(person)] {
		if e.Event.RegisterID == registerID && e.Event.EventID == eventID {
			return e, nil
		}
	}
	return events.Shown{}, events.ErrNotFound
}
func (f *fakeProcessing) Proof(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (events.Proof, string, error) {
	e, err := f.Event(ctx, person, registerID, eventID, now)
	if err != nil {
		return events.Proof{}, "", err
	}
	return events.Proof{Event: e.Event, LeafHash: []byte{0xab, 0xcd}, Block: events.Header{Count: 1, Root: []byte{0xab, 0xcd}}}, e.Problem, nil
}
func (f *fakeProcessing) Subscribe(_ context.Context, person []contracts.Identifier, address string, _ contracts.Language, _ time.Time) error {
	f.subscribed[code(person)] = address
	return nil
}
func (f *fakeProcessing) Unsubscribe(_ context.Context, person []contracts.Identifier) error {
	delete(f.subscribed, code(person))
	return nil
}
func (f *fakeProcessing) Subscribed(_ context.Context, person []contracts.Identifier) (*events.Subscription, error) {
	if a, ok := f.subscribed[code(person)]; ok {
		return &events.Subscription{Address: a}, nil
	}
	return nil, nil
}

func TestThePersonSeesTheirUsesWithPurposesInPlainWordsInEachLanguage(t *testing.T) {
	h := newHarness(t)
	for lang, words := range map[string][]string{
		"fi": {"Kuka on käyttänyt tietojani", "Kanta-palvelujen käsittelyloki", "Hoito", "Sinua hoitava ammattilainen", "Luovutettu: <span data-quoted>Kela</span>"},
		"sv": {"Vem har använt mina uppgifter", "Kantatjänsternas behandlingslogg", "Vård", "En yrkesperson som vårdar dig", "Utlämnat: <span data-quoted>Kela</span>"},
		"en": {"Who has used my data", "Kanta Services processing log", "Care", "A professional caring for you", "Disclosed: <span data-quoted>Kela</span>"},
	} {
		w := h.page(t, ainoID, "GET", "/"+lang+"/processing", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", lang, w.Code, w.Body)
		}
		body := w.Body.String()
		for _, word := range words {
			if !strings.Contains(body, word) {
				t.Errorf("%s: the page does not say %q", lang, word)
			}
		}
		if !strings.Contains(body, `id="tampered"`) || strings.Count(body, `class="event"`) != 3 {
			t.Errorf("%s: the tampered use is not said to be so, or not every use is shown", lang)
		}
		if strings.Contains(body, "⟦") {
			t.Errorf("%s: a text is missing: %s", lang, body[strings.Index(body, "⟦"):][:60])
		}
	}
	if w := h.page(t, mattiID, "GET", "/en/processing", nil); !strings.Contains(w.Body.String(), `id="none"`) {
		t.Error("Matti, who has no uses, is not told so")
	}
}

func TestTheFiltersAreGETParametersCheckedField(t *testing.T) {
	h := newHarness(t)
	w := h.page(t, ainoID, "GET", "/en/processing?operation=disclosure&from=2026-05-01&to=2026-05-04&organisation=terveys&register=kanta-processing-log&purpose=care", nil)
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), `class="event"`) != 1 {
		t.Fatalf("filtered by operation: %d", w.Code)
	}
	f := h.processing.filter
	if f.Operation != contracts.ProcessingDisclosure || f.Organisation != "terveys" || f.Register != "kanta-processing-log" || f.Purpose != "care" ||
		f.From.Format(time.DateOnly) != "2026-05-01" || f.To.Format(time.DateOnly) != "2026-05-05" {
		t.Errorf("the filter asked for: %+v", f)
	}
	// The export link carries the same filters, as parameters of their own.
	if !strings.Contains(w.Body.String(), `href="/en/processing.csv?from=2026-05-01&amp;operation=disclosure&amp;organisation=terveys&amp;purpose=care&amp;register=kanta-processing-log&amp;to=2026-05-04"`) {
		t.Error("the export link does not carry the filters as parameters")
	}
	for query, field := range map[string]string{
		"operation=peek":                           "operation",
		"register=nowhere":                         "register",
		"purpose=marketing":                        "purpose",
		"from=4.5.2026":                            "from",
		"from=2026-05-04&to=2026-05-01":            "to",
		"organisation=" + strings.Repeat("x", 201): "organisation",
		"before=not-a-cursor":                      "form",
	} {
		w := h.page(t, ainoID, "GET", "/fi/processing?"+query, nil)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="error-`+field+`"`) {
			t.Errorf("%s: %d, want 422 with an error at %s", query, w.Code, field)
		}
		// The error summary links to the field, and the title says there is an error.
		input := field
		if field == "form" {
			input = "filters"
		}
		if body := w.Body.String(); !strings.Contains(body, `<a href="#`+input+`">`) ||
			!strings.Contains(body, "<title>"+texts.In(contracts.Finnish).T("portal.error_prefix")) {
			t.Errorf("%s: no error summary linking to #%s, or the title does not say there is an error", query, input)
		}
	}
}

func TestTheExportIsCSVInThePagesLanguage(t *testing.T) {
	h := newHarness(t)
	w := h.page(t, ainoID, "GET", "/sv/processing.csv?operation=disclosure", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %s", w.Code, w.Header())
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "tid" || rows[1][1] != "Kantatjänsternas behandlingslogg" || rows[1][8] != "Utlämnat" || rows[1][9] != "Kela" {
		t.Errorf("the CSV: %q", rows)
	}
	if w := h.page(t, ainoID, "GET", "/en/processing.csv?operation=peek", nil); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("an export with a bad filter: %d", w.Code)
	}
}

func TestAUseCanBeCheckedAndActedOn(t *testing.T) {
	h := newHarness(t)
	w := h.page(t, ainoID, "GET", "/en/processing/kanta-processing-log/k-1/proof", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="proof-ok"`) || !strings.Contains(w.Body.String(), "abcd") {
		t.Errorf("the proof page: %d", w.Code)
	}
	if w := h.page(t, ainoID, "GET", "/en/processing/kanta-processing-log/k-3/proof", nil); !strings.Contains(w.Body.String(), `id="proof-failed"`) {
		t.Error("the proof of a tampered use does not say it fails")
	}
	w = h.page(t, ainoID, "GET", "/en/processing/kanta-processing-log/k-1/proof.json", nil)
	var p events.Proof
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Event.EventID != "k-1" {
		t.Errorf("the proof's JSON: %v", err)
	}
	if w := h.page(t, mattiID, "GET", "/en/processing/kanta-processing-log/k-1/proof", nil); w.Code != http.StatusNotFound {
		t.Errorf("Matti's look at Aino's proof: %d", w.Code)
	}
	// Acting on a use starts the request form at its details, the right chosen and the use described.
	send := h.signedInAs(&web.Session{Identity: &ainoID, CSRF: "csrf-token"})
	w = send("GET", "/fi/processing/kanta-processing-log/k-2/act?right=objection", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/fi/requests/new/details" {
		t.Fatalf("acting on a use: %d, to %q", w.Code, w.Header().Get("Location"))
	}
	w = send("GET", "/fi/requests/new/details", nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, texts.In(contracts.Finnish).Of("portal.details_label", contracts.RightObjection)) ||
		!strings.Contains(body, "Kanta-palvelujen käsittelyloki") || !strings.Contains(body, "(tapahtuma k-2)") || !strings.Contains(body, "Laura Lääkäri") {
		t.Errorf("the details step from a use: %d %s", w.Code, body)
	}
	if w := send("GET", "/fi/requests/new", nil); !strings.Contains(w.Body.String(), `value="objection" aria-describedby="right-objection-hint" checked`) {
		t.Error("Back from the details does not show the objection chosen")
	}
	details := html.UnescapeString(body[strings.Index(body, `name="details"`):])
	details = details[strings.Index(details, ">")+1 : strings.Index(details, "</textarea>")]
	if w := send("POST", "/fi/requests/new/details", url.Values{"details": {details}}); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/fi/requests/new/contact" {
		t.Errorf("the details from a use, sent on: %d, to %q", w.Code, w.Header().Get("Location"))
	}
	for _, path := range []string{"/en/processing/kanta-processing-log/k-2/act?right=erasure", "/en/processing/kanta-processing-log/nope/act?right=access"} {
		if w := h.page(t, ainoID, "GET", path, nil); w.Code < 400 || w.Code >= 500 {
			t.Errorf("%s: %d", path, w.Code)
		}
	}
}

func TestNoticesAreOptIn(t *testing.T) {
	h := newHarness(t)
	aino := ainoID
	aino.Email = "aino.virtanen@example.fi"
	if w := h.page(t, aino, "GET", "/en/processing", nil); !strings.Contains(w.Body.String(), `id="notices-start"`) {
		t.Fatal("no way to ask for notices")
	}
	w := h.page(t, aino, "POST", "/en/processing/notices", url.Values{"notices": {"on"}})
	if w.Code != http.StatusSeeOther || h.processing.subscribed[aino.PersonalIdentityCode] != aino.Email {
		t.Fatalf("asking for notices: %d, %v", w.Code, h.processing.subscribed)
	}
	if w := h.page(t, aino, "GET", "/en/processing", nil); !strings.Contains(w.Body.String(), `id="notices-off"`) {
		t.Error("the page does not offer to stop the notices")
	}
	h.page(t, aino, "POST", "/en/processing/notices", url.Values{"notices": {"off"}})
	if _, on := h.processing.subscribed[aino.PersonalIdentityCode]; on {
		t.Error("the notices did not stop")
	}
	if w := h.page(t, ainoID, "POST", "/en/processing/notices", url.Values{"notices": {"on"}}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("notices without an address: %d", w.Code)
	}
}
