package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
)

// FuzzEvaluate: any input gives a cited, explained outcome or a validation error, never a panic. The
// declaration is a demo declaration, or whatever JSON the fuzzer makes, edited by the fuzzer's bytes
// so that every gate and modifier is reached.
func FuzzEvaluate(f *testing.F) {
	var demos [][]byte
	for _, id := range demoIDs {
		raw, err := os.ReadFile(filepath.Join(demoDir, id+".json"))
		if err != nil {
			f.Fatal(err)
		}
		demos = append(demos, raw)
	}
	for i, raw := range demos {
		for j, right := range contracts.Rights {
			f.Add(raw, []byte{byte(i * j), byte(j)}, string(right), string(IdentitySubstantial), uint8(7), uint8(j), uint8(i))
		}
	}
	f.Add([]byte(`{}`), []byte{9, 2, 10, 1, 8, 200, 14, 0}, "objection", "basic", uint8(4), uint8(0xff), uint8(5))
	f.Add([]byte(`not json`), []byte{13, 1}, "teleport", "medium", uint8(0xff), uint8(0), uint8(0))

	statuses := []contracts.ResultStatus{"", contracts.StatusFound, contracts.StatusNoData, contracts.StatusApplied, contracts.StatusRefused, contracts.StatusFailed}
	f.Fuzz(func(t *testing.T, declJSON, edits []byte, right, level string, supplied, flags, history uint8) {
		// A fuzzed name containing "%!" would trip the check for misformatted text.
		if bytes.Contains(declJSON, []byte("%!")) {
			return
		}
		var decl contracts.Declaration
		if err := json.Unmarshal(declJSON, &decl); err != nil {
			if err := json.Unmarshal(demos[len(declJSON)%len(demos)], &decl); err != nil {
				t.Fatal(err)
			}
		}
		edit(&decl, edits)
		req := Request{Right: contracts.Right(right), IdentityLevel: IdentityLevel(level), ReceivedAt: received,
			Unlawful: flags&1 != 0, Objection: flags&2 != 0, DirectMarketing: flags&4 != 0, IdentityFailed: flags&8 != 0}
		if flags&16 != 0 {
			req.Requester = Requester{Role: RequesterRepresentative, MandateVerified: flags&32 != 0, Mandate: []contracts.Right{req.Right}}
		}
		req.Requester.SubjectDeceased = flags&64 != 0
		for i, t := range append(slices.Clone(contracts.IdentifierTypes), "iban") {
			if supplied&(1<<i) != 0 {
				req.Supplied = append(req.Supplied, t)
			}
		}
		for i := range int(history % 8) {
			req.History = append(req.History, PriorRequest{Right: contracts.Rights[i%len(contracts.Rights)], ReceivedAt: received.Add(-time.Duration(i*97) * time.Hour)})
		}

		out, err := Evaluate(req, &decl)
		if err != nil {
			if ve, ok := contracts.AsValidationError(err); !ok || len(ve.Fields) == 0 {
				t.Fatalf("Evaluate returned %v, not a ValidationError naming fields", err)
			}
			return
		}
		checkOutcome(t, out)
		for _, st := range statuses {
			checkOutcome(t, Conclude(out, ResultSummary{Status: st, Redacted: flags&128 != 0,
				Refusal: &contracts.Refusal{Code: "reason", Reason: tx("syy", "skäl", "reason"), Citation: "GDPR Art 17(3)(b)"}, Recipients: []string{"recipient"}}))
		}
		for _, l := range contracts.Languages {
			if Explain(out, l) == "" {
				t.Fatal("empty explanation")
			}
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatal(err)
		}
	})
}

// edit changes a declaration by pairs of bytes: what to change, and to what.
func edit(d *contracts.Declaration, edits []byte) {
	for i := 0; i+1 < len(edits); i += 2 {
		op, v := edits[i]%16, int(edits[i+1])
		var p *contracts.Purpose
		if len(d.Purposes) > 0 {
			p = &d.Purposes[v%len(d.Purposes)]
		}
		switch {
		case op == 9:
			d.Identification.Level = []contracts.IdentificationLevel{contracts.RegisterIdentified, contracts.RegisterLinkable, contracts.RegisterUnlinkable, ""}[v%4]
		case op == 10:
			if v%4 == 0 {
				d.Identifiers = nil
			} else {
				d.Identifiers = append(d.Identifiers, contracts.IdentifierMatch{Type: contracts.IdentifierTypes[v%3], Form: []contracts.IdentifierForm{contracts.FormPlain, contracts.FormSHA256}[v/3%2]})
			}
		case op == 11:
			d.Identification.Additional = append(d.Identification.Additional, contracts.IdentifierMatch{Type: contracts.IdentifierTypes[v%3], Form: contracts.FormPlain})
		case op == 12:
			d.Operations = slices.DeleteFunc(d.Operations, func(o contracts.Operation) bool { return o == contracts.Operations[v%len(contracts.Operations)] })
		case op == 13:
			d.NoPersonalData = !d.NoPersonalData
		case op == 14 && p != nil && v%2 == 0:
			d.Purposes = d.Purposes[:len(d.Purposes)-1]
		case op == 14 && p != nil:
			dup := *p
			dup.ID = p.ID + "-x"
			dup.LegalBasis = contracts.LegalBases[v%6]
			d.Purposes = append(d.Purposes, dup)
		case p == nil:
		case op == 0:
			p.LegalBasis = contracts.LegalBases[v%6]
			if v > 250 {
				p.LegalBasis = "6(1)(x)"
			}
			if p.LegalBasis.NeedsLaw() && len(p.BasisLaw) == 0 {
				p.BasisLaw = []contracts.Provision{actOnTest}
			}
		case op == 1:
			p.SpecialCategory = contracts.SpecialCategoryConditions[v%len(contracts.SpecialCategoryConditions)]
		case op == 2:
			p.Automated = !p.Automated
		case op == 3:
			p.ProvidedBySubject = nil
			if v%2 == 1 && len(p.DataCategories) > 0 {
				p.ProvidedBySubject = []string{p.DataCategories[0].ID}
			}
		case op == 4:
			p.ResearchOrStatistics = !p.ResearchOrStatistics
		case op == 5:
			p.Archiving = !p.Archiving
		case op == 6:
			p.LegalClaims = !p.LegalClaims
		case op == 7:
			p.DirectMarketing = !p.DirectMarketing
		case op == 8:
			ex := contracts.Exclusion{Right: contracts.Rights[v%6], Provision: dpaS34, Ground: contracts.RestrictionGrounds[v%10],
				Scope: []contracts.ExclusionScope{contracts.ExclusionWhole, contracts.ExclusionPartial}[v/6%2], Reason: text}
			if v > 240 {
				ex.Provision.Act = ""
			}
			p.Exclusions = append(p.Exclusions, ex)
		case op == 15:
			p.AutomatedDecisions = contracts.AutomatedDecisions{Exception: contracts.AutomatedDecisionExceptions[v%4], Law: &dpaS34, Logic: &text}
		}
	}
}
