package rules

import (
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
)

// TestDemoRegisters checks docs/rights-rules.md#worked-examples, and the team's brief on the demo
// registers, on the demo registers' own declarations.
func TestDemoRegisters(t *testing.T) {
	for _, id := range demoIDs {
		decl := loadDemo(t, id)
		if err := decl.Validate(); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	supplied := func(types ...contracts.IdentifierType) func(*Request) {
		return func(r *Request) { r.Supplied = types }
	}
	hetu, email, phone := contracts.IdentifierPersonalIdentityCode, contracts.IdentifierEmail, contracts.IdentifierPhone

	t.Run("erasure at the Kanta client register: not applicable, national law", func(t *testing.T) {
		decl := loadDemo(t, "kanta-client-register")
		out := mustEvaluate(t, request(erasure), &decl)
		if out.Code != CodeNotApplicable || out.Dispatch || !out.NoticeDue {
			t.Fatalf("%s dispatch %v notice %v, want not_applicable with the notice", out.Code, out.Dispatch, out.NoticeDue)
		}
		for _, want := range []string{"GDPR Art 17(3)(b)", "Act 703/2023", "Act 61/2007", "GDPR Art 12(4)"} {
			if !slices.Contains(refs(out), want) {
				t.Errorf("does not cite %s: %v", want, refs(out))
			}
		}
		// Rectification is offered instead, and the retention is stated.
		for lang, words := range map[contracts.Language][]string{
			contracts.English: {"rectified (Art 16)", "10 years", "termination of the client account"},
			contracts.Finnish: {"oikaisemista (16 artikla)", "10 vuotta"},
			contracts.Swedish: {"rättas (artikel 16)", "10 år"},
		} {
			for _, w := range words {
				if !strings.Contains(out.Explanation.In(lang), w) {
					t.Errorf("%s explanation lacks %q: %s", lang, w, out.Explanation.In(lang))
				}
			}
		}
	})
	t.Run("portability at the Kanta client register: not applicable, 20(3)", func(t *testing.T) {
		decl := loadDemo(t, "kanta-client-register")
		out := mustEvaluate(t, request(portability), &decl)
		if out.Code != CodeNotApplicable || !slices.Contains(refs(out), "GDPR Art 20(3)") {
			t.Errorf("%s %v, want not_applicable citing 20(3)", out.Code, refs(out))
		}
	})
	t.Run("access and rectification at the Kanta client register apply", func(t *testing.T) {
		decl := loadDemo(t, "kanta-client-register")
		for _, right := range []contracts.Right{access, rectification} {
			out := mustEvaluate(t, request(right, supplied(hetu, email)), &decl)
			if out.Code != CodeDispatch || !slices.Equal(out.Identifiers, []contracts.IdentifierType{hetu, email}) {
				t.Errorf("%s: %s with %v, want dispatch with the identity code and e-mail", right, out.Code, out.Identifiers)
			}
		}
	})
	t.Run("access at the Kanta processing log returns who processed the data", func(t *testing.T) {
		decl := loadDemo(t, "kanta-processing-log")
		out := mustEvaluate(t, request(access), &decl)
		if out.Code != CodeDispatch || out.Operation != contracts.OpLookup {
			t.Errorf("%s %s, want dispatch lookup", out.Code, out.Operation)
		}
		// The log is protected against editing: a correction goes to the controller.
		if out := mustEvaluate(t, request(rectification), &decl); out.Code != CodeReferToController {
			t.Errorf("rectification at the log: %s, want refer_to_controller", out.Code)
		}
	})
	t.Run("access at Koronavilkku without a phone number: cannot identify", func(t *testing.T) {
		decl := loadDemo(t, "koronavilkku")
		out := mustEvaluate(t, request(access), &decl)
		if out.Code != CodeCannotIdentify || out.Dispatch || !slices.Contains(refs(out), "GDPR Art 11(2)") {
			t.Fatalf("%s %v, want cannot_identify citing 11(2)", out.Code, refs(out))
		}
		for lang, word := range map[contracts.Language]string{contracts.English: "phone number", contracts.Finnish: "puhelinnumero", contracts.Swedish: "telefonnummer"} {
			if !strings.Contains(out.Explanation.In(lang), word) {
				t.Errorf("the %s explanation does not tell the subject to give the phone number: %s", lang, out.Explanation.In(lang))
			}
		}
	})
	t.Run("access at Koronavilkku with the phone number: dispatch", func(t *testing.T) {
		decl := loadDemo(t, "koronavilkku")
		out := mustEvaluate(t, request(access, supplied(hetu, phone)), &decl)
		if out.Code != CodeDispatch || out.Operation != contracts.OpLookup || !slices.Equal(out.Identifiers, []contracts.IdentifierType{phone}) {
			t.Errorf("%s %s %v, want dispatch lookup with the phone only", out.Code, out.Operation, out.Identifiers)
		}
	})
	t.Run("erasure at Koronavilkku with the phone number: the statute keeps the data 21 days", func(t *testing.T) {
		decl := loadDemo(t, "koronavilkku")
		out := mustEvaluate(t, request(erasure, supplied(phone)), &decl)
		if out.Code != CodeNotApplicable || !slices.Contains(refs(out), "GDPR Art 17(3)(c)") || !strings.Contains(out.Explanation.EN, "21 days") {
			t.Errorf("%s %v: %s", out.Code, refs(out), out.Explanation.EN)
		}
	})
	t.Run("erasure at the clinic's invitations: dispatch erase", func(t *testing.T) {
		decl := loadDemo(t, "clinic-event-invitations")
		out := mustEvaluate(t, request(erasure, supplied(email)), &decl)
		if out.Code != CodeDispatch || out.Operation != contracts.OpErase {
			t.Errorf("%s %s, want dispatch erase", out.Code, out.Operation)
		}
	})
	t.Run("access at a register keyed on the SHA-256 of the e-mail address: the adapter hashes and answers", func(t *testing.T) {
		decl := loadDemo(t, "clinic-event-invitations")
		out := mustEvaluate(t, request(access, supplied(hetu, email)), &decl)
		if out.Code != CodeDispatch || !slices.Equal(out.Identifiers, []contracts.IdentifierType{email}) {
			t.Errorf("%s %v, want dispatch with the e-mail only", out.Code, out.Identifiers)
		}
	})
	t.Run("objection to the clinic's marketing: absolute", func(t *testing.T) {
		decl := loadDemo(t, "clinic-event-invitations")
		out := mustEvaluate(t, request(objection, supplied(phone), func(r *Request) { r.DirectMarketing = true }), &decl)
		if out.Code != CodeDispatch || !slices.Contains(refs(out), "GDPR Art 21(3)") {
			t.Errorf("%s %v, want dispatch citing 21(3)", out.Code, refs(out))
		}
	})
	t.Run("Kela website statistics: no personal data, whatever the right", func(t *testing.T) {
		decl := loadDemo(t, "kela-web-statistics")
		for _, right := range contracts.Rights {
			out := mustEvaluate(t, request(right, func(r *Request) { r.IdentityLevel, r.Supplied = "", nil }), &decl)
			if out.Code != CodeNoPersonalData || out.Dispatch || !slices.Contains(refs(out), "GDPR Recital 26") {
				t.Errorf("%s: %s %v, want no_personal_data citing Recital 26", right, out.Code, refs(out))
			}
			if !strings.Contains(out.Explanation.EN, "19 April 2022") || !strings.Contains(out.Explanation.EN, "deleted") {
				t.Errorf("%s: the reply does not account for the 2022 IP addresses: %s", right, out.Explanation.EN)
			}
		}
	})
	t.Run("the clinic claiming Art 11 is refused, and says why", func(t *testing.T) {
		decl := loadDemo(t, "clinic-event-invitations")
		decl.Identification.Level = contracts.RegisterUnlinkable
		decl.Identification.Reason = &text
		_, err := Evaluate(request(access, supplied(email)), &decl)
		ve, ok := contracts.AsValidationError(err)
		if !ok {
			t.Fatalf("Evaluate = %v, want a ValidationError", err)
		}
		i := slices.IndexFunc(ve.Fields, func(f contracts.FieldError) bool { return f.Field == "declaration.identification.level" })
		if i < 0 {
			t.Fatalf("no error on declaration.identification.level: %v", ve.Fields)
		}
		for _, want := range []string{"cannot be unlinkable", "unsalted SHA-256", "IMY-2022-3822", "Kry", "personal data"} {
			if !strings.Contains(ve.Fields[i].Message, want) {
				t.Errorf("the refusal does not say %q: %s", want, ve.Fields[i].Message)
			}
		}
	})
}
