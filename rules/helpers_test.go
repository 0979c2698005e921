package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
)

const demoDir = "../adapters/demo/declarations"

var demoIDs = []string{"kanta-client-register", "kanta-processing-log", "koronavilkku", "kela-web-statistics", "clinic-event-invitations"}

func loadDemo(t testing.TB, id string) contracts.Declaration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(demoDir, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var d contracts.Declaration
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return d
}

var (
	received  = time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)
	text      = contracts.Text{FI: "teksti", SV: "text", EN: "text"}
	actOnTest = contracts.Provision{Act: "999/2020", Section: "1", Name: contracts.Text{FI: "Testilaki", SV: "Testlag", EN: "Test Act"}}
	dpaS34    = contracts.Provision{Act: "1050/2018", Section: "34", Name: contracts.Text{FI: "Tietosuojalaki", SV: "Dataskyddslag", EN: "Data Protection Act"}}
)

// purpose is a minimal valid purpose on a basis; edits change it.
func purpose(id string, basis contracts.LegalBasis, edits ...func(*contracts.Purpose)) contracts.Purpose {
	p := contracts.Purpose{
		ID: id, Name: contracts.Text{FI: "Tarkoitus " + id, SV: "Ändamål " + id, EN: "Purpose " + id},
		LegalBasis: basis, SpecialCategory: contracts.SpecialCategoryNone,
		Automated: true, ProvidedBySubject: []string{"contact"},
		AutomatedDecisions: contracts.AutomatedDecisions{Exception: contracts.AutomatedDecisionsNone},
		DataCategories:     []contracts.DataCategory{{ID: "contact", Name: contracts.Text{FI: "Yhteystiedot", SV: "Kontaktuppgifter", EN: "Contact details"}}},
		Retention:          []contracts.Retention{{Category: "contact", Period: "P1Y", Trigger: text}},
		Recipients:         []contracts.Recipient{{Name: contracts.Text{FI: "Vastaanottaja", SV: "Mottagare", EN: "Recipient"}}},
		Source:             text,
	}
	if basis.NeedsLaw() {
		p.BasisLaw = []contracts.Provision{actOnTest}
	}
	for _, e := range edits {
		e(&p)
	}
	return p
}

// register is an identified register keyed on the personal identity code that carries out every
// operation, with the purposes given.
func register(purposes ...contracts.Purpose) *contracts.Declaration {
	return &contracts.Declaration{
		Schema: contracts.DeclarationSchema, RegisterID: "test-register", Version: "1",
		Name:           contracts.Text{FI: "Testirekisteri", SV: "Testregister", EN: "Test register"},
		Controller:     contracts.Controller{Name: text, Contact: contracts.Contact{Email: "dpo@example.fi"}},
		Description:    text,
		Identifiers:    []contracts.IdentifierMatch{{Type: contracts.IdentifierPersonalIdentityCode, Form: contracts.FormPlain}},
		Identification: contracts.Identification{Level: contracts.RegisterIdentified},
		Operations:     slices.Clone(contracts.Operations),
		Purposes:       purposes,
	}
}

// request is a request by the subject, strongly identified, with the identity code verified.
func request(right contracts.Right, edits ...func(*Request)) Request {
	r := Request{Right: right, IdentityLevel: IdentitySubstantial, ReceivedAt: received,
		Supplied: []contracts.IdentifierType{contracts.IdentifierPersonalIdentityCode}}
	for _, e := range edits {
		e(&r)
	}
	return r
}

func mustEvaluate(t testing.TB, req Request, decl *contracts.Declaration) Outcome {
	t.Helper()
	out, err := Evaluate(req, decl)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	checkOutcome(t, out)
	return out
}

func refs(out Outcome) []string {
	r := make([]string, len(out.Citations))
	for i, c := range out.Citations {
		r[i] = c.Ref
	}
	return r
}

// checkOutcome asserts what every outcome must be: known, cited, explained in all three languages,
// consistent about dispatch, and carrying the Art 12(4) notice exactly when it is due.
func checkOutcome(t testing.TB, out Outcome) {
	t.Helper()
	if !slices.Contains(OutcomeCodes, out.Code) {
		t.Fatalf("unknown outcome code %q", out.Code)
	}
	if len(out.Citations) == 0 {
		t.Errorf("%s: no citations", out.Code)
	}
	for _, c := range out.Citations {
		if c.Ref == "" || c.Label.FI == "" || c.Label.SV == "" || c.Label.EN == "" {
			t.Errorf("%s: citation %+v lacks a ref or a label", out.Code, c)
		}
	}
	for _, l := range contracts.Languages {
		s := out.Explanation.In(l)
		if strings.TrimSpace(s) == "" || strings.Contains(s, "%!") {
			t.Errorf("%s: explanation in %s is empty or misformatted: %q", out.Code, l, s)
		}
	}
	if out.Dispatch != out.Code.dispatches() {
		t.Errorf("%s: Dispatch = %v", out.Code, out.Dispatch)
	}
	if out.Dispatch && (!out.Operation.Valid() || len(out.Identifiers) == 0 || len(out.Purposes) == 0) {
		t.Errorf("%s: dispatched without an operation, identifiers or purposes: %+v", out.Code, out)
	}
	if out.NoticeDue != (out.Notice != nil) {
		t.Errorf("%s: NoticeDue = %v but Notice = %v", out.Code, out.NoticeDue, out.Notice)
	}
	if out.NoticeDue {
		if !slices.Contains(refs(out), "GDPR Art 12(4)") {
			t.Errorf("%s: notice due but Art 12(4) not cited", out.Code)
		}
		for _, want := range []struct {
			lang  contracts.Language
			words []string
		}{
			{contracts.Finnish, []string{"tietosuojavaltuutetulle", "77 artikla", "79 artikla"}},
			{contracts.Swedish, []string{"dataombudsmannen", "artikel 77", "artikel 79"}},
			{contracts.English, []string{"Data Protection Ombudsman", "Art 77", "Art 79"}},
		} {
			for _, w := range want.words {
				if !strings.Contains(out.Notice.In(want.lang), w) {
					t.Errorf("%s: the %s notice does not mention %q", out.Code, want.lang, w)
				}
			}
		}
	}
	// The notice column of docs/rights-rules.md#outcome-codes.
	switch out.Code {
	case CodeDispatch, CodeGranted, CodeApplied:
		if out.NoticeDue {
			t.Errorf("%s carries the Art 12(4) notice", out.Code)
		}
	case CodeNoDataHeld, CodeReferToController:
		// Due only for a part held back under a cited rule.
	case CodeOutOfScope, CodeNotDataSubject, CodeNoPersonalData, CodeIdentityNotEstablished, CodeWaitingForIdentity,
		CodeCannotIdentify, CodeRestrictedByLaw, CodePartiallyRestricted, CodeNotApplicable, CodeRefusedException,
		CodePartiallyApplicable, CodePartiallyGranted, CodeRefusedByRegister, CodePending:
		if !out.NoticeDue {
			t.Errorf("%s does not carry the Art 12(4) notice", out.Code)
		}
	default:
		t.Errorf("unknown outcome code %q", out.Code)
	}
	for _, f := range out.Flags {
		if len(f.Citations) == 0 || f.Evidence.FI == "" || f.Evidence.SV == "" || f.Evidence.EN == "" {
			t.Errorf("%s: flag %s without citation or evidence", out.Code, f.Code)
		}
	}
}
