package rules

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
)

func TestConclude(t *testing.T) {
	clinic := loadDemo(t, "clinic-event-invitations")
	withEmail := func(r *Request) { r.Supplied = []contracts.IdentifierType{contracts.IdentifierEmail} }
	lookup := mustEvaluate(t, request(access, withEmail), &clinic)
	erase := mustEvaluate(t, request(erasure, withEmail), &clinic)
	partial := mustEvaluate(t, request(access), register(purpose("main", e, func(p *contracts.Purpose) {
		p.Exclusions = []contracts.Exclusion{{Right: access, Provision: dpaS34, Ground: "23(1)(i)", Scope: contracts.ExclusionPartial, Reason: text}}
	})))
	refusal := &contracts.Refusal{Code: "evidence_in_dispute", Reason: tx("Kutsu on todiste vireillä olevassa riidassa.",
		"Inbjudan är bevis i en pågående tvist.", "The invitation is evidence in a pending dispute."), Citation: "GDPR Art 17(3)(e); Act 4/1734 s. 17"}
	for name, tc := range map[string]struct {
		pre   Outcome
		res   ResultSummary
		code  OutcomeCode
		cites string
	}{
		"no answer by the deadline":        {lookup, ResultSummary{}, CodePending, "GDPR Art 12(3)"},
		"a failure by the deadline":        {lookup, ResultSummary{Status: contracts.StatusFailed}, CodePending, "GDPR Art 12(3)"},
		"data found":                       {lookup, ResultSummary{Status: contracts.StatusFound}, CodeGranted, "GDPR Art 15(1)"},
		"data found, others' redacted":     {lookup, ResultSummary{Status: contracts.StatusFound, Redacted: true}, CodePartiallyGranted, "GDPR Art 15(4)"},
		"data found, part held back":       {partial, ResultSummary{Status: contracts.StatusFound}, CodePartiallyGranted, "Act 1050/2018 s. 34"},
		"nothing held":                     {lookup, ResultSummary{Status: contracts.StatusNoData}, CodeNoDataHeld, "GDPR Art 15(1)"},
		"nothing held, part held back":     {partial, ResultSummary{Status: contracts.StatusNoData}, CodeNoDataHeld, "GDPR Art 12(4)"},
		"erased":                           {erase, ResultSummary{Status: contracts.StatusApplied, Recipients: []string{"Mailer Oy"}}, CodeApplied, "GDPR Art 19"},
		"refused by the register":          {erase, ResultSummary{Status: contracts.StatusRefused, Refusal: refusal}, CodeRefusedByRegister, "GDPR Art 17(3)(e)"},
		"refused, with no ground given":    {erase, ResultSummary{Status: contracts.StatusRefused}, CodeRefusedByRegister, "GDPR Art 17(1)(c)"},
		"an outcome that is already final": {mustEvaluate(t, request(erasure), &clinic), ResultSummary{Status: contracts.StatusNoData}, CodeWaitingForIdentity, "GDPR Art 12(6)"},
	} {
		t.Run(name, func(t *testing.T) {
			out := Conclude(tc.pre, tc.res)
			checkOutcome(t, out)
			if out.Code != tc.code || !slices.Contains(refs(out), tc.cites) {
				t.Fatalf("%s %v, want %s citing %s", out.Code, refs(out), tc.code, tc.cites)
			}
			if out.Code == CodePending && strings.Contains(strings.ToLower(out.Explanation.EN), "holds no data") {
				t.Errorf("a register that did not answer is reported as holding no data: %s", out.Explanation.EN)
			}
			if out.Code == CodeApplied {
				i := slices.IndexFunc(out.FollowUps, func(f FollowUp) bool { return f.Kind == FollowUpNotifyRecipients })
				if i < 0 || !slices.Contains(out.FollowUps[i].Recipients, tx("Mailer Oy", "Mailer Oy", "Mailer Oy")) || len(out.FollowUps[i].Recipients) != 2 {
					t.Errorf("the Art 19 follow-up does not name the declared and the reported recipients: %+v", out.FollowUps)
				}
			}
			if out.Code == CodeRefusedByRegister && tc.res.Refusal != nil {
				// Each language reads the register's ground in its own words, and each provision is cited apart.
				for _, l := range contracts.Languages {
					if !strings.Contains(out.Explanation.In(l), tc.res.Refusal.Reason.In(l)) {
						t.Errorf("the register's ground is not given in %s: %s", l, out.Explanation.In(l))
					}
				}
				if !slices.Contains(refs(out), "Act 4/1734 s. 17") {
					t.Errorf("the refusal's second provision is not cited on its own: %v", refs(out))
				}
			}
		})
	}
	if len(lookup.Citations) != 3 {
		t.Errorf("Conclude changed the outcome it was given: %v", refs(lookup))
	}
}

func TestSummarize(t *testing.T) {
	if got := Summarize(nil); got.Status != "" {
		t.Errorf("Summarize(nil) = %+v, want the zero summary", got)
	}
	r := &contracts.Result{Status: contracts.StatusRefused, Refusal: &contracts.Refusal{Code: "r", Reason: tx("r", "r", "r"), Citation: "GDPR Art 16"}, Recipients: []string{"x"}}
	if got := Summarize(r); got.Status != r.Status || got.Refusal != r.Refusal || !slices.Equal(got.Recipients, r.Recipients) {
		t.Errorf("Summarize = %+v", got)
	}
}

func TestOutcomeJSON(t *testing.T) {
	decl := loadDemo(t, "kanta-client-register")
	out := mustEvaluate(t, request(erasure), &decl)
	raw, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"register_id":"kanta-client-register"`, `"right":"erasure"`, `"code":"not_applicable"`,
		`"dispatch":false`, `"notice_due":true`, `"citations":[{"ref":"GDPR Art 17(3)(b)","label":{"fi":`, `"notice":{"fi":`, `"explanation":{"fi":`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
	var back Outcome
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(raw) {
		t.Errorf("the outcome does not survive a round trip:\n%s\n%s", raw, again)
	}
}

func TestExplain(t *testing.T) {
	decl := loadDemo(t, "kanta-client-register")
	out := mustEvaluate(t, request(erasure, func(r *Request) {
		r.History = []PriorRequest{{Right: erasure, ReceivedAt: received.AddDate(0, 0, -3)}}
	}), &decl)
	for lang, want := range map[contracts.Language][]string{
		contracts.Finnish: {"Rekisteri: kanta-client-register", "Oikeus: oikeus tietojen poistamiseen (GDPR Art 17)", "Ratkaisu: Oikeutta ei sovelleta [not_applicable]",
			"Perustelut:", "- GDPR Art 17(3)(b): Poikkeus", "Ilmoitus (12 artiklan 4 kohta):", "tietosuojavaltuutetulle", "Huomiot käsittelijälle:"},
		contracts.Swedish: {"Rättighet: rätten till radering", "Utfall: Rättigheten är inte tillämplig", "Motivering:", "Bestämmelser:", "dataombudsmannen"},
		contracts.English: {"Outcome: The right does not apply [not_applicable]", "Why:", "Provisions:", "- Act 703/2023: Act on the Processing of Client Data",
			"Notice (Art 12(4)):", "Data Protection Ombudsman", "Flags for the office:", "Possibly excessive request (GDPR Art 12(5), GDPR Recital 63)"},
	} {
		text := Explain(out, lang)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: Explain lacks %q:\n%s", lang, w, text)
			}
		}
	}
	clinic := loadDemo(t, "clinic-event-invitations")
	dispatched := mustEvaluate(t, request(restriction, func(r *Request) { r.Supplied = []contracts.IdentifierType{contracts.IdentifierPhone} }), &clinic)
	text := Explain(dispatched, contracts.English)
	for _, w := range []string{"Task for the register: restrict (phone) → event-invitations", "Follow-ups:", "Notify recipients (GDPR Art 19): E-mail and SMS", "Tell the subject before lifting the restriction (GDPR Art 18(3))"} {
		if !strings.Contains(text, w) {
			t.Errorf("Explain lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "Notice (Art 12(4))") {
		t.Errorf("a dispatched outcome shows the Art 12(4) notice:\n%s", text)
	}
}
