package request

import (
	"errors"
	"slices"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"go.yaml.in/yaml/v3"

	"kirjaamo.dev/contracts"
)

func TestTheTransitionTableIsWhole(t *testing.T) {
	if len(transitions) != len(Statuses) {
		t.Fatalf("%d statuses in the table, %d listed", len(transitions), len(Statuses))
	}
	for _, s := range Statuses {
		tr, ok := transitions[s]
		if !ok {
			t.Fatalf("%s has no row", s)
		}
		for _, n := range tr.next {
			if !n.Valid() {
				t.Errorf("%s may become %s, which is no status", s, n)
			}
		}
		switch {
		case s.Closed() && len(tr.next) > 0:
			t.Errorf("%s is closed but may still become %v", s, tr.next)
		case !s.Closed() && len(tr.next) == 0:
			t.Errorf("%s is not closed but leads nowhere", s)
		case s.Open() && s.Answered():
			t.Errorf("%s is both owed a reply and answered", s)
		case s.SubjectMayAct() && !s.Open():
			t.Errorf("the subject may act on %s, which is not open", s)
		}
	}
	// Every status is reached from the first ones, and a request's end is reached from every status.
	// A set of the statuses a request starts in, not a table of every status.
	//exhaustive:ignore
	reached := map[Status]bool{StatusReceived: true, StatusAwaitingIdentity: true}
	for changed := true; changed; {
		changed = false
		for s := range reached {
			for _, n := range transitions[s].next {
				if !reached[n] {
					reached[n], changed = true, true
				}
			}
		}
	}
	for _, s := range Statuses {
		if !reached[s] {
			t.Errorf("%s cannot be reached", s)
		}
	}
}

func TestTheStatusesTheOfficeQueuesAndTheSubjectActsOn(t *testing.T) {
	if got, want := OpenStatuses(), []Status{StatusAwaitingIdentity, StatusReceived, StatusAwaitingInformation, StatusDispatched, StatusInReview}; !slices.Equal(got, want) {
		t.Errorf("open statuses %v, want %v", got, want)
	}
	if got := SubjectMayActStatuses(); slices.Contains(got, StatusAwaitingIdentity) || !slices.Contains(got, StatusInReview) {
		t.Errorf("the subject may act on %v", got)
	}
	if !StatusRestricted.Answered() || StatusRestricted.Open() || StatusRestricted.Closed() {
		t.Error("a restriction replied to is answered, no longer owed a reply, and not over until lifted")
	}
}

func TestTheClientTellsItsCallersWhatWentWrong(t *testing.T) {
	fields := []contracts.FieldError{{Field: "note", Rule: "control", Message: "must not contain control characters"}}
	for _, c := range []struct {
		name string
		err  error
		want func(error) bool
	}{
		{"gone", serviceerror.NewNotFound("workflow execution already completed"), func(e error) bool { return errors.Is(e, ErrNotFound) }},
		{"down", serviceerror.NewUnavailable("no frontend"), func(e error) bool { return errors.Is(e, ErrUnavailable) }},
		{"out of turn", refuseTurn("approval: the request is dispatched, not in review"), func(e error) bool {
			r, ok := AsRefused(e)
			return ok && r.Reason == "approval: the request is dispatched, not in review" && len(r.Fields) == 0
		}},
		{"invalid", temporal.NewApplicationError("invalid input", refusedType, fields), func(e error) bool {
			r, ok := AsRefused(e)
			return ok && len(r.Fields) == 1 && r.Fields[0].Field == "note"
		}},
		{"failed step", temporal.NewApplicationError("reply: store down", "wrapError"), func(e error) bool { return errors.Is(e, ErrNotDone) }},
	} {
		if got := classifyCall(c.err); !c.want(got) {
			t.Errorf("%s: classified as %v", c.name, got)
		}
	}
}

func TestEveryInputIsCheckedFieldByField(t *testing.T) {
	fieldsOf := func(ve *contracts.ValidationError) []string {
		var out []string
		if ve != nil {
			for _, f := range ve.Fields {
				out = append(out, f.Field+":"+f.Rule)
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		ve   *contracts.ValidationError
		want []string
	}{
		{"approval", CheckApproval(Approval{Clerk: "K", Note: "a\x00"}), []string{"note:control"}},
		{"approval without a clerk", CheckApproval(Approval{}), []string{"clerk:required"}},
		{"extension", CheckExtension(Extension{Clerk: "K", Months: 3}), []string{"reasons:required", "months:range"}},
		{"extension in bad UTF-8", CheckExtension(Extension{Clerk: "K", Reasons: "\xff", Months: 1}), []string{"reasons:utf8"}},
		{"verification", CheckVerification(IdentityVerification{Clerk: "K"}), []string{"method:required"}},
		{"refusal", CheckRefusal(IdentityRefusal{Clerk: "K", Reasons: "A\u0308"}), []string{"reasons:nfc"}},
		{"supply", CheckSupply(Supply{Identifier: contracts.Identifier{Type: contracts.IdentifierPhone, Value: "abc"}}),
			[]string{"value:e164", "channel:oneof"}},
		{"a personal identity code supplied", CheckSupplied(contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: "x"}),
			[]string{"type:oneof"}},
		{"good approval", CheckApproval(Approval{Clerk: "K", Note: "rivi\nrivi"}), nil},
	} {
		if got := fieldsOf(c.ve); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestThePublicAPINamesEveryStatus: the OpenAPI description's Status enum is Statuses.
func TestThePublicAPINamesEveryStatus(t *testing.T) {
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Enum []Status `yaml:"enum"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(contracts.OpenAPI, &spec); err != nil {
		t.Fatal(err)
	}
	if got := spec.Components.Schemas["Status"].Enum; !slices.Equal(got, Statuses) {
		t.Errorf("the OpenAPI Status enum is %v, want %v", got, Statuses)
	}
}
