package rules

import (
	"fmt"
	"slices"
	"testing"

	"kirjaamo.dev/contracts"
)

const (
	a = contracts.BasisConsent
	b = contracts.BasisContract
	c = contracts.BasisLegalObligation
	d = contracts.BasisVitalInterests
	e = contracts.BasisPublicTask
	f = contracts.BasisLegitimateInterests
)

var (
	access        = contracts.RightAccess
	rectification = contracts.RightRectification
	erasure       = contracts.RightErasure
	restriction   = contracts.RightRestriction
	portability   = contracts.RightPortability
	objection     = contracts.RightObjection
)

type cell struct {
	right   contracts.Right
	basis   contracts.LegalBasis
	purpose func(*contracts.Purpose)
	request func(*Request)
	code    OutcomeCode
	cites   []string // must be cited
	absent  []string // must not be cited
	flags   []FlagCode
}

func (cl cell) name() string {
	return fmt.Sprintf("%s/%s", cl.right, cl.basis)
}

func (cl cell) run(t *testing.T) {
	t.Helper()
	var pe []func(*contracts.Purpose)
	if cl.purpose != nil {
		pe = append(pe, cl.purpose)
	}
	var re []func(*Request)
	if cl.request != nil {
		re = append(re, cl.request)
	}
	decl := register(purpose("main", cl.basis, pe...))
	if err := decl.Validate(); err != nil {
		t.Fatalf("the test's declaration is invalid: %v", err)
	}
	out := mustEvaluate(t, request(cl.right, re...), decl)
	if out.Code != cl.code {
		t.Fatalf("code = %s, want %s\n%s", out.Code, cl.code, Explain(out, contracts.English))
	}
	got := refs(out)
	for _, want := range cl.cites {
		if !slices.Contains(got, "GDPR Art "+want) && !slices.Contains(got, want) {
			t.Errorf("does not cite %s: %v", want, got)
		}
	}
	for _, not := range cl.absent {
		if slices.Contains(got, "GDPR Art "+not) {
			t.Errorf("cites %s: %v", not, got)
		}
	}
	var flags []FlagCode
	for _, fl := range out.Flags {
		flags = append(flags, fl.Code)
	}
	if !slices.Equal(flags, cl.flags) {
		t.Errorf("flags = %v, want %v", flags, cl.flags)
	}
}

// TestMatrix is every cell of docs/rights-rules.md#the-matrix, and the two rows across its columns.
func TestMatrix(t *testing.T) {
	dispatch, notApplicable := CodeDispatch, CodeNotApplicable
	cells := []cell{
		// 15 access: yes in every column.
		{right: access, basis: a, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		{right: access, basis: b, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		{right: access, basis: c, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		{right: access, basis: d, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		{right: access, basis: e, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		{right: access, basis: f, code: dispatch, cites: []string{"15(1)", "15(3)"}},
		// 16 rectification: yes in every column.
		{right: rectification, basis: a, code: dispatch, cites: []string{"16"}},
		{right: rectification, basis: b, code: dispatch, cites: []string{"16"}},
		{right: rectification, basis: c, code: dispatch, cites: []string{"16"}},
		{right: rectification, basis: d, code: dispatch, cites: []string{"16"}},
		{right: rectification, basis: e, code: dispatch, cites: []string{"16"}},
		{right: rectification, basis: f, code: dispatch, cites: []string{"16"}},
		// 17 erasure.
		{right: erasure, basis: a, code: dispatch, cites: []string{"17(1)(b)", "7(3)"}},
		{right: erasure, basis: b, code: dispatch, cites: []string{"17(1)(a)"}},
		{right: erasure, basis: c, code: notApplicable, cites: []string{"17(3)(b)", "6(1)(c)", "Act 999/2020 s. 1"}},
		{right: erasure, basis: d, code: dispatch, cites: []string{"17(1)(a)"}},
		{right: erasure, basis: e, code: notApplicable, cites: []string{"17(3)(b)", "6(1)(e)", "Act 999/2020 s. 1"}},
		{right: erasure, basis: f, code: dispatch, cites: []string{"17(1)(c)", "21(1)"}},
		// 18 restriction: grounds (a)-(c), and (d) where one can object.
		{right: restriction, basis: a, code: dispatch, cites: []string{"18(1)", "18(3)"}, absent: []string{"18(1)(d)"}},
		{right: restriction, basis: b, code: dispatch, cites: []string{"18(1)"}, absent: []string{"18(1)(d)"}},
		{right: restriction, basis: c, code: dispatch, cites: []string{"18(1)"}, absent: []string{"18(1)(d)"}},
		{right: restriction, basis: d, code: dispatch, cites: []string{"18(1)"}, absent: []string{"18(1)(d)"}},
		{right: restriction, basis: e, code: dispatch, cites: []string{"18(1)", "18(1)(d)"}},
		{right: restriction, basis: f, code: dispatch, cites: []string{"18(1)", "18(1)(d)"}},
		// 20 portability: automated processing of data the subject provided, on consent or contract.
		{right: portability, basis: a, code: dispatch, cites: []string{"20(1)"}},
		{right: portability, basis: b, code: dispatch, cites: []string{"20(1)"}},
		{right: portability, basis: c, code: notApplicable, cites: []string{"20(1)"}},
		{right: portability, basis: d, code: notApplicable, cites: []string{"20(1)"}},
		{right: portability, basis: e, code: notApplicable, cites: []string{"20(3)"}},
		{right: portability, basis: f, code: notApplicable, cites: []string{"20(1)"}},
		// 21 objection.
		{right: objection, basis: a, code: notApplicable, cites: []string{"7(3)"}},
		{right: objection, basis: b, code: notApplicable, cites: []string{"21(1)"}},
		{right: objection, basis: c, code: notApplicable, cites: []string{"21(1)"}},
		{right: objection, basis: d, code: notApplicable, cites: []string{"21(1)"}},
		{right: objection, basis: e, code: dispatch, cites: []string{"21(1)"}},
		{right: objection, basis: f, code: dispatch, cites: []string{"21(1)"}},
	}
	for _, basis := range contracts.LegalBases {
		marketing := func(p *contracts.Purpose) { p.DirectMarketing = true }
		byMarketing := func(r *Request) { r.DirectMarketing = true }
		cells = append(cells,
			// 21(2)-(3) direct marketing: yes, absolute, in every column.
			cell{right: objection, basis: basis, purpose: marketing, request: byMarketing, code: dispatch, cites: []string{"21(2)", "21(3)"}},
			cell{right: erasure, basis: basis, purpose: marketing, request: byMarketing, code: dispatch, cites: []string{"17(1)(c)", "21(3)"}},
			// Unlawful processing, 17(1)(d), opens erasure in every column.
			cell{right: erasure, basis: basis, request: func(r *Request) { r.Unlawful = true }, code: dispatch, cites: []string{"17(1)(d)"}},
		)
	}
	for _, cl := range cells {
		t.Run(cl.name(), cl.run)
	}
	// The table states each right's plain cell for every basis: a right added to contracts.Rights
	// is not tested until its row is written here.
	for _, right := range contracts.Rights {
		for _, basis := range contracts.LegalBases {
			if !slices.ContainsFunc(cells, func(cl cell) bool {
				return cl.right == right && cl.basis == basis && cl.purpose == nil && cl.request == nil
			}) {
				t.Errorf("no cell for %s on %s", right, basis)
			}
		}
	}
}

// TestModifiers covers docs/rights-rules.md#modifiers.
func TestModifiers(t *testing.T) {
	health := func(cond contracts.SpecialCategoryCondition) func(*contracts.Purpose) {
		return func(p *contracts.Purpose) { p.SpecialCategory = cond }
	}
	research := func(p *contracts.Purpose) { p.ResearchOrStatistics = true }
	archiving := func(p *contracts.Purpose) { p.Archiving = true }
	claims := func(p *contracts.Purpose) { p.LegalClaims = true }
	for name, cl := range map[string]cell{
		"health data 9(2)(h): erasure refused while needed": {right: erasure, basis: b, purpose: health(contracts.SpecialCategoryHealthCare),
			code: CodeRefusedException, cites: []string{"17(3)(c)"}},
		"health data 9(2)(i) on a public task: both grounds cited": {right: erasure, basis: e, purpose: health(contracts.SpecialCategoryPublicHealth),
			code: CodeNotApplicable, cites: []string{"17(3)(b)", "17(3)(c)"}},
		"special data under 9(2)(a) is not health care": {right: erasure, basis: a, purpose: health("9(2)(a)"),
			code: CodeDispatch, cites: []string{"17(1)(b)"}, absent: []string{"17(3)(c)"}},
		"research: erasure refused": {right: erasure, basis: a, purpose: research, code: CodeRefusedException, cites: []string{"17(3)(d)"}},
		"research on a public task: objection refused": {right: objection, basis: e, purpose: research,
			code: CodeRefusedException, cites: []string{"21(6)"}},
		"research on legitimate interests: objection stands": {right: objection, basis: f, purpose: research,
			code: CodeDispatch, cites: []string{"21(1)", "21(6)"}, flags: []FlagCode{FlagDerogationPossible}},
		"research: access flagged for the s. 31 derogation": {right: access, basis: e, purpose: research,
			code: CodeDispatch, flags: []FlagCode{FlagDerogationPossible}},
		"research: no derogation from portability": {right: portability, basis: a, purpose: research, code: CodeDispatch},
		"archiving: erasure refused":               {right: erasure, basis: b, purpose: archiving, code: CodeRefusedException, cites: []string{"17(3)(d)"}},
		"archiving: portability flagged for the s. 32 derogation": {right: portability, basis: a, purpose: archiving,
			code: CodeDispatch, flags: []FlagCode{FlagDerogationPossible}},
		"legal claims: erasure refused, restriction offered": {right: erasure, basis: b, purpose: claims,
			code: CodeRefusedException, cites: []string{"17(3)(e)", "18(1)"}},
		"legal claims outlast unlawful processing": {right: erasure, basis: b, purpose: claims, request: func(r *Request) { r.Unlawful = true },
			code: CodeRefusedException, cites: []string{"17(1)(d)", "17(3)(e)"}},
		"an objection already upheld": {right: erasure, basis: f, request: func(r *Request) { r.Objection = true },
			code: CodeDispatch, cites: []string{"17(1)(c)"}, absent: []string{"17(1)(a)"}},
		"portability: not automated": {right: portability, basis: a, purpose: func(p *contracts.Purpose) { p.Automated = false },
			code: CodeNotApplicable, cites: []string{"20(1)(b)"}},
		"portability: nothing provided by the subject": {right: portability, basis: b, purpose: func(p *contracts.Purpose) { p.ProvidedBySubject = nil },
			code: CodeNotApplicable, cites: []string{"20(1)"}},
		"solely automated decisions: access covers their logic": {right: access, basis: b, purpose: func(p *contracts.Purpose) {
			p.AutomatedDecisions = contracts.AutomatedDecisions{Exception: contracts.AutomatedContract, Logic: &text}
		}, code: CodeDispatch, cites: []string{"15(1)(h)"}},
		"third-country recipient: access covers the safeguards": {right: access, basis: b, purpose: func(p *contracts.Purpose) {
			p.Recipients = []contracts.Recipient{{Name: text, ThirdCountry: "US", Safeguard: "Art 46(2)(c) standard contractual clauses"}}
		}, code: CodeDispatch, cites: []string{"15(1)(c)", "15(2)"}},
		"direct marketing asked of a purpose that is not marketing": {right: objection, basis: f, request: func(r *Request) { r.DirectMarketing = true },
			code: CodeDispatch, cites: []string{"21(1)"}, absent: []string{"21(2)"}},
		"direct marketing asked of a legal obligation": {right: objection, basis: c, request: func(r *Request) { r.DirectMarketing = true },
			code: CodeNotApplicable, cites: []string{"21(1)"}},
	} {
		t.Run(name, cl.run)
	}
}

// TestOtherPeoplesData: a result with other people's data is redacted, not refused (Art 15(4)).
func TestOtherPeoplesData(t *testing.T) {
	pre := mustEvaluate(t, request(access), register(purpose("main", e)))
	out := Conclude(pre, ResultSummary{Status: contracts.StatusFound, Redacted: true})
	checkOutcome(t, out)
	if out.Code != CodePartiallyGranted || !slices.Contains(refs(out), "GDPR Art 15(4)") {
		t.Errorf("redacted result: %s %v, want partially_granted citing 15(4)", out.Code, refs(out))
	}
}

// TestArticle11 checks that Art 11(2) covers Art 15 to 20, and no other right: at a register that
// cannot identify the subject, those rights do not apply, and any other waits for an identifier by
// which the register could find the data, like a request to any register.
func TestArticle11(t *testing.T) {
	unlinkable := func(additional ...contracts.IdentifierMatch) *contracts.Declaration {
		decl := register(purpose("main", e))
		decl.Identifiers = nil
		decl.Identification = contracts.Identification{Level: contracts.RegisterUnlinkable, Additional: additional, Reason: &text}
		if err := decl.Validate(); err != nil {
			t.Fatal(err)
		}
		return decl
	}
	phone := contracts.IdentifierMatch{Type: contracts.IdentifierPhone, Form: contracts.FormPlain}
	for _, right := range contracts.Rights {
		out := mustEvaluate(t, request(right), unlinkable(phone))
		if n := article(t, right); n >= 15 && n <= 20 {
			if out.Code != CodeCannotIdentify || !slices.Contains(refs(out), "GDPR Art 11(2)") {
				t.Errorf("%s at an unlinkable register: %s %v, want cannot_identify citing 11(2)", right, out.Code, refs(out))
			}
		} else if out.Code != CodeWaitingForIdentity || !slices.Equal(out.Identifiers, []contracts.IdentifierType{contracts.IdentifierPhone}) {
			t.Errorf("%s at an unlinkable register: %s %v, want waiting_for_identity asking for the phone", right, out.Code, out.Identifiers)
		}
	}
	out := mustEvaluate(t, request(objection), unlinkable())
	if out.Code != CodeCannotIdentify || !slices.Contains(refs(out), "GDPR Art 11(1)") || slices.Contains(refs(out), "GDPR Art 11(2)") {
		t.Errorf("objection with nothing to link by: %s %v, want cannot_identify on 11(1), not 11(2)", out.Code, refs(out))
	}
	withPhone := func(r *Request) { r.Supplied = append(r.Supplied, contracts.IdentifierPhone) }
	out = mustEvaluate(t, request(objection, withPhone), unlinkable(phone))
	if out.Code != CodeDispatch || out.Operation != contracts.OpObject {
		t.Errorf("objection with the phone supplied: %s %s, want dispatch object", out.Code, out.Operation)
	}
}
