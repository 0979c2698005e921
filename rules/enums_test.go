package rules

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/enumcheck"
)

// Every member of every enumeration is handled everywhere it must be. The exhaustive linter makes
// each switch and map literal name every member; these tests check what each member then gets: a
// matrix cell for every legal basis, an operation, a conclusion, follow-ups, and words in Finnish,
// Swedish and English.

func TestEveryListNamesEveryConstantOfItsType(t *testing.T) {
	problems, err := enumcheck.Check(".", map[string][]string{
		"OutcomeCode":   enumcheck.Strings(OutcomeCodes),
		"FollowUpKind":  enumcheck.Strings(FollowUpKinds),
		"FlagCode":      enumcheck.Strings(FlagCodes),
		"RequesterRole": enumcheck.Strings(RequesterRoles),
		"IdentityLevel": enumcheck.Strings(IdentityLevels),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// article is the number of the article that grants a right.
func article(t *testing.T, r contracts.Right) int {
	t.Helper()
	n, err := strconv.Atoi(r.Article())
	if err != nil {
		t.Fatalf("%s: article %q", r, r.Article())
	}
	return n
}

// TestEveryRightIsJudgedForEveryLegalBasis: each right has a cell of its own for each basis, which
// cites the right's article, explains itself in every language and, where the right applies, sends
// the right's operation; and once the register has acted, the outcome is concluded: a copy granted
// where the operation returns data, an effect applied where it changes them.
func TestEveryRightIsJudgedForEveryLegalBasis(t *testing.T) {
	for _, right := range contracts.Rights {
		op, err := contracts.OperationFor(right)
		if err != nil {
			t.Fatalf("%s: %v", right, err)
		}
		name := RightName(right)
		if name.FI == "" || name.SV == "" || name.EN == "" {
			t.Errorf("%s: no name in every language: %+v", right, name)
		}
		own := "GDPR Art " + right.Article()
		for _, basis := range contracts.LegalBases {
			t.Run(string(right)+"/"+string(basis), func(t *testing.T) {
				out := mustEvaluate(t, request(right), register(purpose("main", basis)))
				if cells := []OutcomeCode{CodeDispatch, CodeNotApplicable, CodeRefusedException}; !slices.Contains(cells, out.Code) {
					t.Fatalf("code %s is no matrix cell", out.Code)
				}
				if !slices.ContainsFunc(out.Citations, func(c Citation) bool { return strings.HasPrefix(c.Ref, own) }) {
					t.Errorf("the cell does not cite %s: %v", own, refs(out))
				}
				for _, l := range contracts.Languages {
					if text := Explain(out, l); !strings.Contains(text, name.In(l)+" ("+own+")") {
						t.Errorf("Explain in %s does not name the right:\n%s", l, text)
					}
				}
				if !out.Dispatch {
					return
				}
				if out.Operation != op {
					t.Errorf("operation %s, want %s", out.Operation, op)
				}
				status, want := contracts.StatusApplied, CodeApplied
				if op == contracts.OpLookup {
					status, want = contracts.StatusFound, CodeGranted
				}
				concluded := Conclude(out, ResultSummary{Status: status})
				checkOutcome(t, concluded)
				if concluded.Code != want {
					t.Errorf("concluded %s on %s, want %s", concluded.Code, status, want)
				}
			})
		}
	}
}

// TestFollowUpsOfEveryRight: Art 19 follows rectification, erasure and restriction (Art 16 to 18),
// and the Art 18(3) notice a restriction; nothing follows the other rights.
func TestFollowUpsOfEveryRight(t *testing.T) {
	for _, right := range contracts.Rights {
		var out Outcome
		for _, basis := range contracts.LegalBases {
			if out = mustEvaluate(t, request(right), register(purpose("main", basis))); out.Dispatch {
				break
			}
		}
		if !out.Dispatch {
			t.Fatalf("%s is dispatched on no basis", right)
		}
		var kinds []FollowUpKind
		for _, f := range out.FollowUps {
			kinds = append(kinds, f.Kind)
		}
		var want []FollowUpKind
		if n := article(t, right); n >= 16 && n <= 18 {
			want = append(want, FollowUpNotifyRecipients)
		}
		if right == contracts.RightRestriction {
			want = append(want, FollowUpLiftNotice)
		}
		if !slices.Equal(kinds, want) {
			t.Errorf("%s: follow-ups %v, want %v", right, kinds, want)
		}
	}
}

// TestErasureForEverySpecialCategory: of the conditions of Art 9(2), only health care and public
// health keep data from erasure while needed (Art 17(3)(c)); every special category calls for
// strong identification.
func TestErasureForEverySpecialCategory(t *testing.T) {
	for _, cond := range contracts.SpecialCategoryConditions {
		decl := register(purpose("main", b, func(p *contracts.Purpose) { p.SpecialCategory = cond }))
		decl.Identifiers = []contracts.IdentifierMatch{{Type: contracts.IdentifierEmail, Form: contracts.FormPlain}}
		out := mustEvaluate(t, request(erasure, func(r *Request) { r.Supplied = []contracts.IdentifierType{contracts.IdentifierEmail} }), decl)
		health := cond == contracts.SpecialCategoryHealthCare || cond == contracts.SpecialCategoryPublicHealth
		cites := slices.Contains(refs(out), "GDPR Art 17(3)(c)")
		if health != (out.Code == CodeRefusedException) || health != cites {
			t.Errorf("%s: %s %v", cond, out.Code, refs(out))
		}
		if want := map[bool]IdentityLevel{true: IdentitySubstantial, false: IdentityBasic}[cond.Special()]; RequiredIdentity(decl) != want {
			t.Errorf("%s: requires %s, want %s", cond, RequiredIdentity(decl), want)
		}
	}
}

// TestEveryCodeIsNamedAndCharacterised: each outcome code has a name in every language, and a code
// that dispatches is one the workflow waits on.
func TestEveryCodeIsNamedAndCharacterised(t *testing.T) {
	for _, c := range OutcomeCodes {
		if !c.Valid() {
			t.Errorf("%s is not valid", c)
		}
		if n := CodeName(c); n.FI == "" || n.SV == "" || n.EN == "" {
			t.Errorf("%s: no name in every language: %+v", c, n)
		}
		if c.dispatches() && !c.provisional() {
			t.Errorf("%s dispatches a task and waits for no answer", c)
		}
	}
	unknown := OutcomeCode("maybe")
	if unknown.Valid() || unknown.dispatches() || unknown.provisional() {
		t.Error("a value that is not a code dispatches, waits or is valid")
	}
	out := Outcome{Code: unknown}
	settleNotice(&out)
	if !out.NoticeDue {
		t.Error("a value that is not a code escapes the Art 12(4) notice")
	}
}

func TestEveryFlagFollowUpIdentifierAndBasisHasItsWords(t *testing.T) {
	words := map[string]contracts.Text{}
	for _, f := range FlagCodes {
		words["flag "+string(f)] = flagNames[f]
	}
	for _, k := range FollowUpKinds {
		words["follow-up "+string(k)] = followUpNames[k]
	}
	for _, id := range contracts.IdentifierTypes {
		words["identifier "+string(id)] = identifierNames[id]
	}
	for _, basis := range contracts.LegalBases {
		words["basis "+string(basis)] = basisPhrases[basis]
		words["label "+string(basis)] = gdprLabels[string(basis)]
	}
	for _, g := range contracts.RestrictionGrounds {
		words["label "+string(g)] = gdprLabels[string(g)]
	}
	for what, w := range words {
		if w.FI == "" || w.SV == "" || w.EN == "" {
			t.Errorf("%s: no words in every language: %+v", what, w)
		}
	}
}
