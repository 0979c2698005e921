package contracts

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kirjaamo.dev/contracts/schemas"
)

// demoDir holds the demo registers' declarations; they double as the schema's worked examples.
const demoDir = "../adapters/demo/declarations"

var demoRegisters = []string{"kanta-client-register", "kanta-processing-log", "koronavilkku", "kela-web-statistics", "clinic-event-invitations"}

func readDemo(t *testing.T, registerID string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(demoDir, registerID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// decodeStrict refuses unknown fields, so that a misspelt field in a declaration is not silently lost.
func decodeStrict(t *testing.T, raw []byte) Declaration {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var d Declaration
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

func declarationSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	const url = "https://kirjaamo.dev/schemas/declaration.v1.schema.json"
	f, err := schemas.FS.Open("declaration.v1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaValidate(t *testing.T, s *jsonschema.Schema, raw []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

func TestDemoDeclarationsAreValid(t *testing.T) {
	s := declarationSchema(t)
	files, _ := filepath.Glob(filepath.Join(demoDir, "*.json"))
	if len(files) != len(demoRegisters) {
		t.Errorf("found %d demo declarations, want %d: %v", len(files), len(demoRegisters), files)
	}
	for _, id := range demoRegisters {
		t.Run(id, func(t *testing.T) {
			raw := readDemo(t, id)
			d := decodeStrict(t, raw)
			if d.RegisterID != id {
				t.Errorf("register_id = %q, want %q", d.RegisterID, id)
			}
			if err := d.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if err := schemaValidate(t, s, raw); err != nil {
				t.Errorf("schema: %v", err)
			}
			// What Go writes back must satisfy the schema too, or the catalogue would publish
			// declarations that other-language adapters' own checks refuse.
			again, _ := json.Marshal(&d)
			if err := schemaValidate(t, s, again); err != nil {
				t.Errorf("schema, after a round trip through Go: %v", err)
			}
		})
	}
}

// TestClinicClaimingUnlinkableIsRefused is the Art 11 rule of docs/rights-rules.md#checks-before-approval:
// unsalted hashes of e-mail addresses and phone numbers are recomputable, so the clinic cannot claim
// Art 11.
func TestClinicClaimingUnlinkableIsRefused(t *testing.T) {
	d := decodeStrict(t, readDemo(t, "clinic-event-invitations"))
	d.Identification.Level = RegisterUnlinkable
	d.Identification.Reason = &Text{FI: "Emme tunnista.", SV: "Vi identifierar inte.", EN: "We cannot identify."}
	err := d.Validate()
	ve, ok := AsValidationError(err)
	if !ok {
		t.Fatalf("Validate() = %v, want a ValidationError", err)
	}
	f := fieldError(ve, "identification.level")
	if f == nil || f.Rule != "art11_unlinkable" {
		t.Fatalf("no art11_unlinkable error on identification.level: %v", ve.Fields)
	}
	for _, want := range []string{"identifiers[0] (email, sha256)", "identifiers[1] (phone, sha256)", "Art 11(2)", "IMY-2022-3822", "Kry", "pseudonymisation"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message does not say %q: %s", want, f.Message)
		}
	}
	raw, _ := json.Marshal(&d)
	if schemaValidate(t, declarationSchema(t), raw) == nil {
		t.Error("the schema accepts an unlinkable register that matches hashed identifiers")
	}
}

func fieldError(ve *ValidationError, field string) *FieldError {
	for i := range ve.Fields {
		if ve.Fields[i].Field == field {
			return &ve.Fields[i]
		}
	}
	return nil
}

// TestDeclarationsThatCannotBeRightAreRefused edits a valid declaration in one way at a time and
// checks that Validate names the field and the rule, and, where JSON Schema can express the rule,
// that the schema refuses it as well.
func TestDeclarationsThatCannotBeRightAreRefused(t *testing.T) {
	s := declarationSchema(t)
	law := Provision{Act: "1050/2018", Section: "34", Name: Text{FI: "Tietosuojalaki", SV: "Dataskyddslag", EN: "Data Protection Act"}}
	reason := Text{FI: "syy", SV: "skäl", EN: "reason"}
	for _, tc := range []struct {
		name     string
		base     string
		edit     func(d *Declaration)
		field    string
		rule     string
		says     string
		schemaOK bool // the rule is beyond JSON Schema
	}{
		{"portability excluded from an automated consent purpose without a statute", "clinic-event-invitations", func(d *Declaration) {
			d.Purposes[0].LegalBasis = BasisConsent
			d.Purposes[0].Exclusions = []Exclusion{{Right: RightPortability, Ground: "23(1)(e)", Scope: ExclusionWhole, Reason: reason,
				Provision: Provision{Name: law.Name}}}
		}, "purposes[0].exclusions[0].provision.act", "provision_required", "Art 20(1)", false},
		{"an exclusion citing no provision", "kanta-client-register", func(d *Declaration) {
			d.Purposes[0].Exclusions = []Exclusion{{Right: RightAccess, Ground: "23(1)(i)", Scope: ExclusionPartial, Reason: reason,
				Provision: Provision{Name: law.Name}}}
		}, "purposes[0].exclusions[0].provision.act", "provision_required", "Art 23(1)", false},
		{"an exclusion citing something that is not a statute", "kanta-client-register", func(d *Declaration) {
			d.Purposes[0].Exclusions = []Exclusion{{Right: RightAccess, Ground: "23(1)(i)", Scope: ExclusionPartial, Reason: reason,
				Provision: Provision{Act: "our policy", Name: law.Name}}}
		}, "purposes[0].exclusions[0].provision.act", "statute", "statute number", false},
		{"an unknown Art 23(1) point", "kanta-client-register", func(d *Declaration) {
			d.Purposes[0].Exclusions = []Exclusion{{Right: RightAccess, Ground: "23(1)(k)", Scope: ExclusionPartial, Reason: reason, Provision: law}}
		}, "purposes[0].exclusions[0].ground", "article", "unknown article", false},
		{"an unknown legal basis", "kanta-client-register", func(d *Declaration) { d.Purposes[0].LegalBasis = "6(1)(g)" },
			"purposes[0].legal_basis", "article", "unknown article", false},
		{"an unknown special-category condition", "kanta-processing-log", func(d *Declaration) { d.Purposes[0].SpecialCategory = "9(2)(k)" },
			"purposes[0].special_category", "article", "unknown article", false},
		{"an unknown Art 22(2) point", "kanta-processing-log", func(d *Declaration) { d.Purposes[0].AutomatedDecisions.Exception = "22(2)(d)" },
			"purposes[0].automated_decisions.exception", "article", "unknown article", false},
		{"automated decisions under 22(2)(b) without the law", "kanta-processing-log", func(d *Declaration) {
			d.Purposes[0].AutomatedDecisions = AutomatedDecisions{Exception: AutomatedLaw, Logic: &reason}
		}, "purposes[0].automated_decisions.law", "required", "Art 22(2)(b)", false},
		{"a public task with no law", "koronavilkku", func(d *Declaration) { d.Purposes[0].BasisLaw = nil },
			"purposes[0].basis_law", "art6_3", "Art 6(3)", false},
		{"retention for a category the purpose does not have", "clinic-event-invitations", func(d *Declaration) { d.Purposes[0].Retention[0].Category = "nothing" },
			"purposes[0].retention[0].category", "category", "not the id", true},
		{"a category kept with no retention", "clinic-event-invitations", func(d *Declaration) { d.Purposes[0].Retention = d.Purposes[0].Retention[:1] },
			"purposes[0].data_categories[1]", "retention", "Art 5(1)(e)", true},
		{"a period that is not a duration", "clinic-event-invitations", func(d *Declaration) { d.Purposes[0].Retention[0].Period = "a year" },
			"purposes[0].retention[0].period", "duration", "ISO 8601", false},
		{"a statutory retention citing no law", "clinic-event-invitations", func(d *Declaration) { d.Purposes[0].Retention[0].Statutory = true },
			"purposes[0].retention[0].provision", "required", "cites the law", false},
		{"an unlinkable register keyed on a hash it lets the subject add", "koronavilkku", func(d *Declaration) {
			d.Identification.Additional[0].Form = FormSHA256
		}, "identification.additional_identifiers[0].form", "art11_hashed", "IMY-2022-3822", false},
		{"additional identifiers on a linkable register", "clinic-event-invitations", func(d *Declaration) {
			d.Identification.Additional = []IdentifierMatch{{Type: IdentifierPersonalIdentityCode, Form: FormPlain}}
		}, "identification.additional_identifiers", "unlinkable_only", "Art 11(2)", false},
		{"an identified register with no identifiers", "kanta-processing-log", func(d *Declaration) { d.Identifiers = nil },
			"identifiers", "required", "at least one identifier", true},
		{"a register that cannot answer access requests", "kanta-processing-log", func(d *Declaration) { d.Operations = []Operation{OpRectify} },
			"operations", "lookup_required", "Art 15", false},
		{"a third-country recipient with no safeguard", "kanta-client-register", func(d *Declaration) { d.Purposes[0].Recipients[0].ThirdCountry = "US" },
			"purposes[0].recipients[0].safeguard", "required", "Art 15(2)", false},
		{"no personal data, yet an identifier", "kela-web-statistics", func(d *Declaration) {
			d.Identifiers = []IdentifierMatch{{Type: IdentifierEmail, Form: FormSHA256}}
		}, "identifiers", "no_personal_data", "holds personal data", false},
		{"no personal data, yet a retained dataset", "kela-web-statistics", func(d *Declaration) { d.ClosedDatasets[0].State = DatasetRetained },
			"closed_datasets[0].state", "no_personal_data", "contradicts", true},
		{"a closed dataset that ends before it starts", "kela-web-statistics", func(d *Declaration) { d.ClosedDatasets[0].CollectedTo = "2022-03-01" },
			"closed_datasets[0].collected_to", "gtefield", "collected_from", true},
		{"a controller nobody can reach", "clinic-event-invitations", func(d *Declaration) { d.Controller.Contact = Contact{} },
			"controller.contact", "required_one", "Art 13(1)(a)", false},
		{"a name missing its Swedish", "clinic-event-invitations", func(d *Declaration) { d.Name.SV = "" },
			"name.sv", "required", "is required", false},
		{"a bad register id", "clinic-event-invitations", func(d *Declaration) { d.RegisterID = "Clinic!" },
			"register_id", "register_id", "lower-case", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decodeStrict(t, readDemo(t, tc.base))
			tc.edit(&d)
			err := d.Validate()
			ve, ok := AsValidationError(err)
			if !ok {
				t.Fatalf("Validate() = %v, want a ValidationError", err)
			}
			f := fieldError(ve, tc.field)
			if f == nil {
				t.Fatalf("no error on %s: %v", tc.field, ve.Fields)
			}
			if f.Rule != tc.rule || !strings.Contains(f.Message, tc.says) {
				t.Errorf("%s: rule %q message %q; want rule %q and a message saying %q", tc.field, f.Rule, f.Message, tc.rule, tc.says)
			}
			raw, _ := json.Marshal(&d)
			if err := schemaValidate(t, s, raw); (err == nil) != tc.schemaOK {
				t.Errorf("schema validation error = %v; want an error: %v", err, !tc.schemaOK)
			}
		})
	}
}

func TestDigestTellsVersionsApart(t *testing.T) {
	raw := readDemo(t, "koronavilkku")
	d := decodeStrict(t, raw)
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	again := decodeStrict(t, compact.Bytes())
	if d.Digest() != again.Digest() {
		t.Error("the same declaration, spelt differently, has two digests")
	}
	if !strings.HasPrefix(d.Digest(), "sha256:") || len(d.Digest()) != len("sha256:")+64 {
		t.Errorf("digest %q is not sha256:<64 hex>", d.Digest())
	}
	bumped := again
	bumped.Version = "2020-12b"
	if bumped.Digest() == d.Digest() {
		t.Error("a new version has the old digest")
	}
}

func TestIdentifierTypesListsWhatARegisterMaySee(t *testing.T) {
	for id, want := range map[string][]IdentifierType{
		"kanta-client-register":    {IdentifierPersonalIdentityCode, IdentifierEmail},
		"koronavilkku":             {IdentifierPhone},
		"clinic-event-invitations": {IdentifierEmail, IdentifierPhone},
		"kela-web-statistics":      nil,
	} {
		d := decodeStrict(t, readDemo(t, id))
		if got := d.IdentifierTypes(); !slices.Equal(got, want) {
			t.Errorf("%s: IdentifierTypes() = %v, want %v", id, got, want)
		}
	}
}

func TestStatuteNumbersAndDurations(t *testing.T) {
	for s, want := range map[string]bool{"1050/2018": true, "(EU) 2016/679": true, "(EEC) 1182/71": true, "12345/2018": true,
		"our policy": false, "/2018": false, "1/2": false, "123456/2018": false, "(US) 1/2000": false, "": false} {
		if isStatuteNumber(s) != want {
			t.Errorf("isStatuteNumber(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"P10Y": true, "P6M": true, "P21D": true, "P1Y2M3W4D": true,
		"P": false, "PY": false, "P1D2Y": false, "10Y": false, "P1H": false, "P1Y1Y": false, "": false} {
		if isDuration(s) != want {
			t.Errorf("isDuration(%q) = %v", s, !want)
		}
	}
}

// TestCheckRulesIsTheLegalPartOfValidate: the engine runs CheckRules on every evaluation, so it
// must refuse what would decide an outcome wrongly, and may leave lengths and formats to Validate.
func TestCheckRulesIsTheLegalPartOfValidate(t *testing.T) {
	d := decodeStrict(t, readDemo(t, "clinic-event-invitations"))
	d.Name.SV = ""
	if err := d.CheckRules(); err != nil {
		t.Errorf("CheckRules refuses a missing Swedish name: %v", err)
	}
	if d.Validate() == nil {
		t.Error("Validate accepts a missing Swedish name")
	}
	d.Identification.Level = RegisterUnlinkable
	ve, ok := AsValidationError(d.CheckRules())
	if !ok || fieldError(ve, "identification.level") == nil {
		t.Errorf("CheckRules accepts an unlinkable register keyed on hashes: %v", ve)
	}
}

func TestRecordTypesAreDeclaredOnceAndCorrectableOnlyWhereRectified(t *testing.T) {
	d := decodeStrict(t, readDemo(t, "kanta-client-register"))
	label := Text{FI: "Nimi", SV: "Namn", EN: "Name"}
	d.Records = []RecordType{
		{Category: "contacts", Name: label, Fields: []RecordField{{Name: "name", Label: label, Format: FormatText, Correctable: true},
			{Name: "name", Label: label, Format: FormatText}}},
		{Category: "contacts", Name: label, Fields: []RecordField{{Name: "born", Label: label, Format: "birthday"}}},
	}
	d.Operations = []Operation{OpLookup}
	ve, ok := AsValidationError(d.Validate())
	if !ok {
		t.Fatal("accepted")
	}
	got := map[string]string{}
	for _, f := range ve.Fields {
		got[f.Field] = f.Rule
	}
	for field, rule := range map[string]string{"records[0].fields[1].name": "unique", "records[1].category": "unique",
		"records[0].fields[0].correctable": "operation", "records[1].fields[0].format": "field_format"} {
		if got[field] != rule {
			t.Errorf("%s: %q, want %q (all: %v)", field, got[field], rule, got)
		}
	}
	if len(d.Correctable()) != 1 || d.Correctable()[0].Name != "name" {
		t.Errorf("Correctable() = %+v", d.Correctable())
	}
}
