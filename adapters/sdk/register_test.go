package sdk_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

func lookupNothing(context.Context, sdk.Query) ([]contracts.Record, error) { return nil, nil }

func exportNothing(context.Context, sdk.Query, sdk.RecordWriter) error { return nil }

func affectNothing(context.Context, sdk.Query) (int, error) { return 0, nil }

// TestCapabilitiesAreTheHandlersSet: the capabilities are the operations that have a handler, in the
// protocol's order; with every handler set, every operation of the protocol, so that an operation
// added to contracts.Operations fails here until Operations has a handler for it.
func TestCapabilitiesAreTheHandlersSet(t *testing.T) {
	for _, tc := range []struct {
		ops  sdk.Operations
		want []contracts.Operation
	}{
		{sdk.Operations{}, nil},
		{sdk.Operations{Export: exportNothing}, []contracts.Operation{contracts.OpLookup}},
		{sdk.Operations{Object: affectNothing, Lookup: lookupNothing, Restrict: affectNothing, LiftRestriction: affectNothing,
			Recipients: func(context.Context, sdk.Query) ([]string, error) { return nil, nil },
			Rectify:    func(context.Context, sdk.Query, []contracts.Correction) (int, error) { return 0, nil }, Erase: affectNothing},
			contracts.Operations},
	} {
		if got := tc.ops.Capabilities(); !slices.Equal(got, tc.want) {
			t.Errorf("capabilities %v, want %v", got, tc.want)
		}
	}
}

// TestOperationsMustServeTheDeclaration: Run refuses, before it connects, handlers that do not agree
// with the declaration, and says what to change.
func TestOperationsMustServeTheDeclaration(t *testing.T) {
	withRestriction := declaration(t)
	withRestriction.Operations = append(withRestriction.Operations, contracts.OpRestrict, contracts.OpLiftRestriction)
	for _, tc := range []struct {
		name  string
		decl  contracts.Declaration
		ops   sdk.Operations
		hints []string
	}{
		{"a declared operation without its handler", declaration(t), sdk.Operations{Lookup: lookupNothing},
			[]string{"declares erase, but Operations has no Erase", "nothing answers"}},
		{"a handler of an operation not declared", declaration(t), sdk.Operations{Lookup: lookupNothing, Erase: affectNothing, Object: affectNothing},
			[]string{"Operations has Object, but the declaration does not declare object", "never sends it"}},
		{"both Lookup and Export", declaration(t), sdk.Operations{Lookup: lookupNothing, Export: exportNothing, Erase: affectNothing},
			[]string{"both Lookup and Export are set"}},
		{"Restrict without LiftRestriction", withRestriction, sdk.Operations{Export: exportNothing, Erase: affectNothing, Restrict: affectNothing},
			[]string{"Restrict and LiftRestriction come together", "declares lift_restriction, but Operations has no LiftRestriction"}},
		{"no lookup at all", declaration(t), sdk.Operations{Erase: affectNothing},
			[]string{"declares lookup, but Operations has no Lookup or Export"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ops.Check(tc.decl)
			if err == nil {
				t.Fatal("Check accepted them")
			}
			for _, hint := range tc.hints {
				if !strings.Contains(err.Error(), hint) {
					t.Errorf("%q does not say %q", err, hint)
				}
			}
			// Nothing listens on port 1: Run fails on the handlers, not on the connection.
			if runErr := sdk.Run(t.Context(), fixed{tc.decl, tc.ops}, sdk.Config{NATSURL: "nats://127.0.0.1:1"}); runErr == nil || runErr.Error() != err.Error() {
				t.Errorf("Run = %v, want Check's error", runErr)
			}
		})
	}
	if err := (sdk.Operations{Export: exportNothing, Erase: affectNothing, Restrict: affectNothing, LiftRestriction: affectNothing}).Check(withRestriction); err != nil {
		t.Errorf("Check refused handlers that serve the declaration: %v", err)
	}
}

// fixed is a register made of a declaration and handlers as they are.
type fixed struct {
	decl contracts.Declaration
	ops  sdk.Operations
}

func (f fixed) Declaration() contracts.Declaration { return f.decl }
func (f fixed) Operations() sdk.Operations         { return f.ops }
