package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
)

func TestScope(t *testing.T) {
	decl := register(purpose("main", e))
	for name, tc := range map[string]struct {
		requester Requester
		code      OutcomeCode
		cites     string
	}{
		"a deceased subject":                        {Requester{SubjectDeceased: true}, CodeOutOfScope, "GDPR Recital 27"},
		"a representative with no verified mandate": {Requester{Role: RequesterRepresentative, Mandate: []contracts.Right{access}}, CodeNotDataSubject, "GDPR Art 4(1)"},
		"a representative whose mandate is for another right": {Requester{Role: RequesterRepresentative, MandateVerified: true,
			Mandate: []contracts.Right{rectification}}, CodeNotDataSubject, "GDPR Art 15(1)"},
		"a representative within the mandate": {Requester{Role: RequesterRepresentative, MandateVerified: true,
			Mandate: []contracts.Right{access}}, CodeDispatch, "GDPR Art 15(1)"},
		"the subject": {Requester{Role: RequesterSubject}, CodeDispatch, "GDPR Art 15(1)"},
	} {
		t.Run(name, func(t *testing.T) {
			out := mustEvaluate(t, request(access, func(r *Request) { r.Requester = tc.requester }), decl)
			if out.Code != tc.code || !slices.Contains(refs(out), tc.cites) {
				t.Errorf("%s %v, want %s citing %s", out.Code, refs(out), tc.code, tc.cites)
			}
			if out.Code == CodeNotDataSubject && strings.Contains(out.Explanation.EN, "holds data on you") {
				t.Error("the reply to someone who is not the subject confirms that data exist")
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	clinic := loadDemo(t, "clinic-event-invitations")
	korona := loadDemo(t, "koronavilkku")
	kanta := loadDemo(t, "kanta-client-register")
	email := []contracts.IdentifierType{contracts.IdentifierEmail}
	phone := []contracts.IdentifierType{contracts.IdentifierPhone}
	for name, tc := range map[string]struct {
		decl     *contracts.Declaration
		level    IdentityLevel
		supplied []contracts.IdentifierType
		failed   bool
		code     OutcomeCode
	}{
		"no identity at all": {&kanta, "", nil, false, CodeWaitingForIdentity},
		"a one-time code is not enough for the identity code": {&kanta, IdentityBasic, email, false, CodeWaitingForIdentity},
		"a one-time code is enough for hashed e-mail":         {&clinic, IdentityBasic, email, false, CodeDispatch},
		"health data call for strong identification":          {&korona, IdentityBasic, phone, false, CodeWaitingForIdentity},
		"strong identification and the phone":                 {&korona, IdentitySubstantial, phone, false, CodeDispatch},
		"high assurance is more than enough":                  {&korona, IdentityHigh, phone, false, CodeDispatch},
		"identity could not be established":                   {&clinic, IdentityBasic, email, true, CodeIdentityNotEstablished},
		"verified, but not by what the register knows":        {&clinic, IdentitySubstantial, []contracts.IdentifierType{contracts.IdentifierPersonalIdentityCode}, false, CodeWaitingForIdentity},
	} {
		t.Run(name, func(t *testing.T) {
			out := mustEvaluate(t, request(access, func(r *Request) {
				r.IdentityLevel, r.Supplied, r.IdentityFailed = tc.level, tc.supplied, tc.failed
			}), tc.decl)
			if out.Code != tc.code {
				t.Fatalf("code = %s, want %s\n%s", out.Code, tc.code, Explain(out, contracts.English))
			}
			if out.Code == CodeWaitingForIdentity && !slices.Contains(refs(out), "GDPR Art 12(6)") {
				t.Errorf("waiting for identity without citing Art 12(6): %v", refs(out))
			}
		})
	}
	out := mustEvaluate(t, request(access, func(r *Request) { r.Supplied = nil }), &clinic)
	if want := []contracts.IdentifierType{contracts.IdentifierEmail, contracts.IdentifierPhone}; !slices.Equal(out.Identifiers, want) {
		t.Errorf("the clinic asks for %v, want %v", out.Identifiers, want)
	}
}

func TestExcessiveRequestsAreFlaggedNeverRefused(t *testing.T) {
	decl := register(purpose("main", e))
	day := 24 * time.Hour
	prior := func(right contracts.Right, ago ...time.Duration) []PriorRequest {
		var out []PriorRequest
		for _, d := range ago {
			out = append(out, PriorRequest{Right: right, ReceivedAt: received.Add(-d)})
		}
		return out
	}
	for name, tc := range map[string]struct {
		history []PriorRequest
		flagged bool
	}{
		"first request":                     {nil, false},
		"twice before in the year":          {prior(access, 100*day, 200*day), false},
		"three times before in the year":    {prior(access, 40*day, 100*day, 200*day), true},
		"again within a month":              {prior(access, 10*day), true},
		"often, but more than a year ago":   {prior(access, 400*day, 500*day, 600*day, 700*day), false},
		"often, but for other rights":       {prior(erasure, 5*day, 40*day, 100*day, 200*day), false},
		"a request recorded after this one": {prior(access, -5*day), false},
	} {
		t.Run(name, func(t *testing.T) {
			out := mustEvaluate(t, request(access, func(r *Request) { r.History = tc.history }), decl)
			if out.Code != CodeDispatch {
				t.Errorf("code = %s: a possibly excessive request is still dispatched", out.Code)
			}
			flagged := slices.ContainsFunc(out.Flags, func(f Flag) bool { return f.Code == FlagPossiblyExcessive })
			if flagged != tc.flagged {
				t.Errorf("flagged = %v, want %v", flagged, tc.flagged)
			}
			if !flagged {
				return
			}
			if date := deadline.Date(tc.history[0].ReceivedAt).Format(time.DateOnly); !strings.Contains(out.Flags[0].Evidence.EN, date) {
				t.Errorf("the evidence does not date the earlier request (%s): %s", date, out.Flags[0].Evidence.EN)
			}
		})
	}
}

func TestStatutoryRestriction(t *testing.T) {
	exclude := func(right contracts.Right, scope contracts.ExclusionScope) func(*contracts.Purpose) {
		return func(p *contracts.Purpose) {
			p.Exclusions = append(p.Exclusions, contracts.Exclusion{Right: right, Provision: dpaS34, Ground: "23(1)(i)", Scope: scope,
				Reason: contracts.Text{FI: "Terveys vaarantuisi.", SV: "Hälsan skulle äventyras.", EN: "It would endanger health."}})
		}
	}
	for name, tc := range map[string]struct {
		decl     *contracts.Declaration
		right    contracts.Right
		code     OutcomeCode
		dispatch bool
	}{
		"whole":   {register(purpose("main", e, exclude(access, contracts.ExclusionWhole))), access, CodeRestrictedByLaw, false},
		"partial": {register(purpose("main", e, exclude(access, contracts.ExclusionPartial))), access, CodePartiallyRestricted, true},
		"the restriction gate comes before the matrix":         {register(purpose("main", c, exclude(erasure, contracts.ExclusionWhole))), erasure, CodeRestrictedByLaw, false},
		"a partial restriction of a right that does not apply": {register(purpose("main", c, exclude(erasure, contracts.ExclusionPartial))), erasure, CodeNotApplicable, false},
		"an exclusion of another right":                        {register(purpose("main", e, exclude(rectification, contracts.ExclusionWhole))), access, CodeDispatch, true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.decl.Validate(); err != nil {
				t.Fatal(err)
			}
			out := mustEvaluate(t, request(tc.right), tc.decl)
			if out.Code != tc.code || out.Dispatch != tc.dispatch {
				t.Fatalf("%s dispatch %v, want %s dispatch %v", out.Code, out.Dispatch, tc.code, tc.dispatch)
			}
			if out.Code == CodeRestrictedByLaw || out.Code == CodePartiallyRestricted {
				for _, want := range []string{"Act 1050/2018 s. 34", "GDPR Art 23(1)(i)"} {
					if !slices.Contains(refs(out), want) {
						t.Errorf("does not cite %s: %v", want, refs(out))
					}
				}
				if !strings.Contains(out.Explanation.FI, "Terveys vaarantuisi.") {
					t.Errorf("the explanation does not give the declared reason: %s", out.Explanation.FI)
				}
			}
		})
	}
}

func TestSeveralPurposes(t *testing.T) {
	t.Run("the right reaches some purposes", func(t *testing.T) {
		decl := register(purpose("duty", c), purpose("interest", f))
		out := mustEvaluate(t, request(objection), decl)
		if out.Code != CodePartiallyApplicable || !out.Dispatch || !slices.Equal(out.Purposes, []string{"interest"}) {
			t.Fatalf("%s %v %v, want partially_applicable dispatched for interest", out.Code, out.Dispatch, out.Purposes)
		}
		if !out.NoticeDue || !strings.Contains(out.Explanation.EN, "Purpose duty:") || !strings.Contains(out.Explanation.EN, "Purpose interest:") {
			t.Errorf("the explanation does not give each purpose's reason, or no notice: %s", out.Explanation.EN)
		}
		concluded := Conclude(out, ResultSummary{Status: contracts.StatusApplied})
		checkOutcome(t, concluded)
		if concluded.Code != CodePartiallyGranted {
			t.Errorf("concluded %s, want partially_granted", concluded.Code)
		}
	})
	t.Run("no purpose: the most specific ground", func(t *testing.T) {
		excluded := purpose("secret", e, func(p *contracts.Purpose) {
			p.Exclusions = []contracts.Exclusion{{Right: erasure, Provision: dpaS34, Ground: "23(1)(e)", Scope: contracts.ExclusionWhole, Reason: text}}
		})
		out := mustEvaluate(t, request(erasure), register(purpose("duty", c), excluded))
		if out.Code != CodeRestrictedByLaw {
			t.Errorf("code = %s, want restricted_by_law", out.Code)
		}
		for _, want := range []string{"GDPR Art 17(3)(b)", "Act 1050/2018 s. 34"} {
			if !slices.Contains(refs(out), want) {
				t.Errorf("every purpose's ground is not cited: %v lacks %s", refs(out), want)
			}
		}
	})
	t.Run("the same reason is said once", func(t *testing.T) {
		out := mustEvaluate(t, request(access), register(purpose("one", e), purpose("two", f)))
		if out.Code != CodeDispatch || strings.Contains(out.Explanation.EN, "Purpose one") {
			t.Errorf("%s: %s", out.Code, out.Explanation.EN)
		}
	})
}

func TestReferredWhenTheRegisterCannotCarryItOut(t *testing.T) {
	decl := register(purpose("main", f))
	decl.Operations = []contracts.Operation{contracts.OpLookup}
	out := mustEvaluate(t, request(objection), decl)
	if out.Code != CodeReferToController || out.Dispatch || out.Operation != contracts.OpObject || out.NoticeDue {
		t.Fatalf("%+v, want refer_to_controller for object, not dispatched, no notice yet", out)
	}
	concluded := Conclude(out, ResultSummary{Status: contracts.StatusApplied})
	checkOutcome(t, concluded)
	if concluded.Code != CodeApplied {
		t.Errorf("concluded %s, want applied", concluded.Code)
	}
}

func TestFollowUps(t *testing.T) {
	clinic := loadDemo(t, "clinic-event-invitations")
	withEmail := func(r *Request) { r.Supplied = []contracts.IdentifierType{contracts.IdentifierEmail} }
	out := mustEvaluate(t, request(restriction, withEmail), &clinic)
	kinds := []FollowUpKind{}
	for _, fu := range out.FollowUps {
		kinds = append(kinds, fu.Kind)
	}
	if !slices.Equal(kinds, []FollowUpKind{FollowUpNotifyRecipients, FollowUpLiftNotice}) {
		t.Fatalf("follow-ups of a restriction: %v", kinds)
	}
	if out.FollowUps[0].Citation.Ref != "GDPR Art 19" || len(out.FollowUps[0].Recipients) != 1 || out.FollowUps[1].Citation.Ref != "GDPR Art 18(3)" {
		t.Errorf("follow-ups: %+v", out.FollowUps)
	}
	if out := mustEvaluate(t, request(access, withEmail), &clinic); len(out.FollowUps) != 0 {
		t.Errorf("access has follow-ups: %+v", out.FollowUps)
	}
}

func TestInvalidInputIsAValidationError(t *testing.T) {
	decl := register(purpose("main", e))
	for name, tc := range map[string]struct {
		req   Request
		decl  *contracts.Declaration
		field string
	}{
		"an unknown right":           {request("teleport"), decl, "right"},
		"an unknown identity level":  {request(access, func(r *Request) { r.IdentityLevel = "medium" }), decl, "identity_level"},
		"an unknown identifier type": {request(access, func(r *Request) { r.Supplied = []contracts.IdentifierType{"iban"} }), decl, "supplied[0]"},
		"no time of receipt":         {request(access, func(r *Request) { r.ReceivedAt = time.Time{} }), decl, "received_at"},
		"an unknown role":            {request(access, func(r *Request) { r.Requester.Role = "neighbour" }), decl, "requester.role"},
		"no declaration":             {request(access), nil, "declaration"},
		"an unknown legal basis": {request(access), register(purpose("main", e, func(p *contracts.Purpose) { p.LegalBasis = "6(1)(z)" })),
			"declaration.purposes[0].legal_basis"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Evaluate(tc.req, tc.decl)
			ve, ok := contracts.AsValidationError(err)
			if !ok {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			if !slices.ContainsFunc(ve.Fields, func(f contracts.FieldError) bool { return f.Field == tc.field }) {
				t.Errorf("no error on %s: %v", tc.field, ve.Fields)
			}
		})
	}
}

func TestEvaluateAll(t *testing.T) {
	decls := make([]contracts.Declaration, len(demoIDs))
	for i, id := range demoIDs {
		decls[i] = loadDemo(t, id)
	}
	outs, err := EvaluateAll(request(access), decls)
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		checkOutcome(t, out)
		if out.RegisterID != demoIDs[i] {
			t.Errorf("outcome %d is for %s, want %s", i, out.RegisterID, demoIDs[i])
		}
	}
	decls[2].Identification.Level = "hidden"
	_, err = EvaluateAll(request(access), decls)
	if ve, ok := contracts.AsValidationError(err); !ok || ve.Fields[0].Field != "declarations[2].identification.level" {
		t.Errorf("an invalid declaration among many: %v", err)
	}
}
