package contracts

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

var eventTime = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

// kantaView is a view of Aino's patient records, as the Kanta processing log would publish it.
func kantaView() ProcessingEvent {
	return ProcessingEvent{Protocol: ProcessingProtocol, EventID: "kanta-2026-000001", RegisterID: "kanta-processing-log",
		Subject: []SubjectIdentifier{{Type: IdentifierPersonalIdentityCode, Form: FormPlain, Value: "150385-9013"}},
		At:      eventTime, Actor: Actor{Organisation: "Esimerkkilän terveyskeskus", Role: "physician", Person: "Laura Lääkäri"},
		Purpose: "care", LegalBasis: BasisLegalObligation, DataCategories: []string{"patient-records"}, Operation: ProcessingView}
}

func kantaDeclaration(t *testing.T) Declaration {
	t.Helper()
	return decodeStrict(t, readDemo(t, "kanta-processing-log"))
}

func TestAProcessingEventAgreesWithItsSchema(t *testing.T) {
	schema := compileSchema(t, "processing.v1.schema.json")
	disclosed := kantaView()
	disclosed.Operation, disclosed.Purpose, disclosed.Recipient = ProcessingDisclosure, "statutory-disclosure", "Kela"
	embargoed := disclosed
	until := eventTime.Add(30 * 24 * time.Hour)
	embargoed.EmbargoUntil = &until
	hashed := kantaView()
	hashed.Subject = []SubjectIdentifier{{Type: IdentifierEmail, Form: FormSHA256, Value: HashSHA256(IdentifierEmail, "aino@example.fi")}}
	for name, e := range map[string]ProcessingEvent{"view": kantaView(), "disclosure": disclosed, "embargoed": embargoed, "hashed": hashed} {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: the Go validation refuses it: %v", name, err)
		}
		raw, _ := json.Marshal(e)
		if err := schemaValidate(t, schema, raw); err != nil {
			t.Errorf("%s: the schema refuses what the Go type produces: %v", name, err)
		}
	}

	good, _ := json.Marshal(kantaView())
	for name, c := range map[string]struct {
		change func(map[string]any)
		field  string
	}{
		"a disclosure without its recipient": {func(m map[string]any) { m["operation"] = "disclosure" }, "recipient"},
		"a view with a recipient":            {func(m map[string]any) { m["recipient"] = "Kela" }, "recipient"},
		"an unknown operation":               {func(m map[string]any) { m["operation"] = "peek" }, "operation"},
		"an event id with a space":           {func(m map[string]any) { m["event_id"] = "log 1" }, "event_id"},
		"no subject":                         {func(m map[string]any) { m["subject"] = []any{} }, "subject"},
		"a hash that is not one": {func(m map[string]any) {
			m["subject"] = []any{map[string]any{"type": "email", "form": "sha256", "value": "aino@example.fi"}}
		}, "subject[0].value"},
		"an unknown legal basis": {func(m map[string]any) { m["legal_basis"] = "6(1)(g)" }, "legal_basis"},
		"no categories":          {func(m map[string]any) { m["data_categories"] = []any{} }, "data_categories"},
		"no role":                {func(m map[string]any) { delete(m["actor"].(map[string]any), "role") }, "actor.role"},
	} {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		c.change(m)
		raw, _ := json.Marshal(m)
		if err := schemaValidate(t, schema, raw); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
		var e ProcessingEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		ve, _ := AsValidationError(e.Validate())
		if ve == nil || !slices.ContainsFunc(ve.Fields, func(f FieldError) bool { return f.Field == c.field }) {
			t.Errorf("%s: the Go validation gives %v, want a problem with %s", name, e.Validate(), c.field)
		}
	}
}

func TestAnEventSaysOnlyWhatItsRegisterDeclares(t *testing.T) {
	d := kantaDeclaration(t)
	now := eventTime.Add(time.Hour)
	view := kantaView()
	if err := view.CheckDeclared(&d, now); err != nil {
		t.Fatalf("a declared view is refused: %v", err)
	}
	anonymous := d
	anonymous.Processing = &ProcessingLog{}
	*anonymous.Processing = *d.Processing
	anonymous.Processing.ActorNames = nil
	noEmbargo := d
	noEmbargo.Processing = &ProcessingLog{}
	*noEmbargo.Processing = *d.Processing
	noEmbargo.Processing.Embargo = nil
	silent := d
	silent.Processing = nil

	for name, c := range map[string]struct {
		decl   *Declaration
		change func(e *ProcessingEvent)
		field  string
	}{
		"another register's id":         {&d, func(e *ProcessingEvent) { e.RegisterID = "koronavilkku" }, "register_id"},
		"a register that declares none": {&silent, func(e *ProcessingEvent) {}, "register_id"},
		"an identifier it does not match": {&d, func(e *ProcessingEvent) {
			e.Subject = []SubjectIdentifier{{Type: IdentifierEmail, Form: FormPlain, Value: "aino@example.fi"}}
		}, "subject[0].type"},
		"a form it does not store": {&d, func(e *ProcessingEvent) {
			e.Subject[0] = SubjectIdentifier{Type: IdentifierPersonalIdentityCode, Form: FormSHA256, Value: HashSHA256(IdentifierPersonalIdentityCode, "150385-9013")}
		}, "subject[0].form"},
		"an undeclared purpose":           {&d, func(e *ProcessingEvent) { e.Purpose = "marketing" }, "purpose"},
		"another legal basis":             {&d, func(e *ProcessingEvent) { e.LegalBasis = BasisConsent }, "legal_basis"},
		"a category of another purpose":   {&d, func(e *ProcessingEvent) { e.DataCategories = []string{"social-welfare-records"} }, "data_categories[0]"},
		"a name that is not essential":    {&anonymous, func(e *ProcessingEvent) {}, "actor.person"},
		"an embargo without a law for it": {&noEmbargo, func(e *ProcessingEvent) { u := e.At.Add(time.Hour); e.EmbargoUntil = &u }, "embargo_until"},
		"an embargo longer than the law's": {&d, func(e *ProcessingEvent) {
			u := e.At.AddDate(2, 0, 1)
			e.EmbargoUntil = &u
		}, "embargo_until"},
		"a time in the future":        {&d, func(e *ProcessingEvent) { e.At = now.Add(time.Hour) }, "at"},
		"a time beyond the retention": {&d, func(e *ProcessingEvent) { e.At = now.AddDate(-12, 0, -1) }, "at"},
	} {
		e := kantaView()
		c.change(&e)
		ve, _ := AsValidationError(e.CheckDeclared(c.decl, now))
		if ve == nil || !slices.ContainsFunc(ve.Fields, func(f FieldError) bool { return f.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", name, e.CheckDeclared(c.decl, now), c.field)
		}
	}
	within := kantaView()
	u := within.At.AddDate(2, 0, 0)
	within.EmbargoUntil = &u
	if err := within.CheckDeclared(&d, now); err != nil {
		t.Errorf("an embargo of exactly the longest time is refused: %v", err)
	}
}

func TestADeclaredProcessingLogIsChecked(t *testing.T) {
	for name, c := range map[string]struct {
		change func(p *ProcessingLog, d *Declaration)
		field  string
	}{
		"a retention that is no duration": {func(p *ProcessingLog, _ *Declaration) { p.Retention = "12 years" }, "processing.retention"},
		"an embargo's longest that is no duration": {func(p *ProcessingLog, _ *Declaration) { p.Embargo.Longest = "two years" },
			"processing.embargo.longest"},
		"an embargo by no statute": {func(p *ProcessingLog, _ *Declaration) { p.Embargo.Law.Act = "police practice" }, "processing.embargo.law.act"},
		"a public task without its law": {func(p *ProcessingLog, _ *Declaration) {
			p.Purposes[0].LegalBasis, p.Purposes[0].BasisLaw = BasisPublicTask, nil
		}, "processing.purposes[0].basis_law"},
		"a purpose declared twice":         {func(p *ProcessingLog, _ *Declaration) { p.Purposes[1].ID = p.Purposes[0].ID }, "processing.purposes[1].id"},
		"a register without personal data": {func(_ *ProcessingLog, d *Declaration) { d.NoPersonalData = true }, "processing"},
	} {
		d := kantaDeclaration(t)
		c.change(d.Processing, &d)
		ve, _ := AsValidationError(d.Validate())
		if ve == nil || !slices.ContainsFunc(ve.Fields, func(f FieldError) bool { return f.Field == c.field }) {
			t.Errorf("%s: %v, want a problem with %s", name, d.Validate(), c.field)
		}
		raw, _ := json.Marshal(&d)
		if strings.HasPrefix(name, "a register without") {
			if err := schemaValidate(t, declarationSchema(t), raw); err == nil {
				t.Errorf("%s: the schema accepts it", name)
			}
		}
	}
}

func TestPeriods(t *testing.T) {
	for s, want := range map[string]Period{"P12Y": {Years: 12}, "P1Y6M": {Years: 1, Months: 6}, "P2W": {Weeks: 2}, "P21D": {Days: 21}} {
		if got, ok := ParsePeriod(s); !ok || got != want {
			t.Errorf("ParsePeriod(%q) = %+v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "P", "12Y", "P1D1Y", "PT1H", "P-1Y", "P1.5Y"} {
		if _, ok := ParsePeriod(s); ok {
			t.Errorf("ParsePeriod(%q) accepts it", s)
		}
	}
	if p, _ := ParsePeriod("P12Y"); !p.Before(p.After(eventTime)).Equal(eventTime) {
		t.Error("Before does not undo After")
	}
}
