package sqladapter

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
)

// kantaConfig is the example configuration with the declaration inline and one change made by edit.
func parseEdited(t *testing.T, edit func(string) string) error {
	t.Helper()
	decl, err := Examples.ReadFile("examples/kanta-processing-log.declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{
  "declaration": ` + string(decl) + `,
  "tables": [{
    "table": "kanta_log.entries",
    "identifiers": [{"type": "personal_identity_code", "column": "personal_identity_code", "form": "plain"}],
    "lookup": {"category": "processing log", "columns": ["processed_at", "organisation", "purpose", "service"], "order_by": ["processed_at"]}
  }]
}`
	_, err = ParseConfig([]byte(edit(cfg)), "kanta.json", nil)
	return err
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("error %v (%T), want a *ConfigError", err, err)
	}
	return ce.Problems
}

func wantProblem(t *testing.T, err error, path, contains string) {
	t.Helper()
	ps := problems(t, err)
	if !slices.ContainsFunc(ps, func(p Problem) bool { return p.Path == path && strings.Contains(p.Message, contains) }) {
		t.Errorf("problems %+v, want one at %s containing %q", ps, path, contains)
	}
}

func TestTheKantaConfigurationIsValid(t *testing.T) {
	if err := parseEdited(t, func(s string) string { return s }); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfigFS(Examples, "examples/kanta-processing-log.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig("testdata/clinic-event-invitations.json"); err != nil {
		t.Fatal(err)
	}
}

// TestTheDeclarationsAreTheDemoRegisters: the example and the test data carry copies of two demo
// registers' declarations, so that the module needs nothing of the demo's (and the example can be
// embedded), and the dev stack serves the demo's Kanta processing log from the example. In the
// repository, the copies must not drift from adapters/demo/declarations; outside it there is
// nothing to compare.
func TestTheDeclarationsAreTheDemoRegisters(t *testing.T) {
	const demoDeclarations = "../demo/declarations/"
	if _, err := os.Stat(demoDeclarations); errors.Is(err, fs.ErrNotExist) {
		t.Skip("not in the repository: adapters/demo is not beside this module")
	}
	for copied, registerID := range map[string]string{
		"examples/kanta-processing-log.json":     "kanta-processing-log",
		"testdata/clinic-event-invitations.json": "clinic-event-invitations",
	} {
		cfg, err := ReadConfig(copied)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(demoDeclarations + registerID + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var want contracts.Declaration
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if got := cfg.RegisterDeclaration(); got.Digest() != want.Digest() {
			t.Errorf("the declaration of %s differs from %s%s.json", copied, demoDeclarations, registerID)
		}
	}
}

func TestConfigurationErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, path, contains string
	}{
		{"unknown identifier type", `"type": "personal_identity_code"`, `"type": "ssn"`,
			"tables[0].identifiers[0].type", `unknown identifier type "ssn"`},
		{"identifier the declaration does not name", `"type": "personal_identity_code"`, `"type": "email"`,
			"tables[0].identifiers[0].type", "the declaration does not name email"},
		{"form unlike the declaration's", `"form": "plain"`, `"form": "sha256"`, "tables[0].identifiers[0].form", "stored as plain"},
		{"injection in a column", `"organisation"`, `"organisation; DROP TABLE kanta_log.entries; --"`,
			"tables[0].lookup.columns[1]", "not a plain SQL identifier"},
		{"quote in an identifier column", `"column": "personal_identity_code"`, `"column": "x\" OR 1=1 --"`,
			"tables[0].identifiers[0].column", "not a plain SQL identifier"},
		{"table without schema", `"table": "kanta_log.entries"`, `"table": "entries"`, "tables[0].table", "schema-qualified"},
		{"unknown field", `"order_by"`, `"order"`, "tables[0].lookup.order", "unknown field"},
		{"wrong type", `"category": "processing log"`, `"category": 7`, "tables[0].lookup.category", "must be a string"},
		{"effect the declaration does not declare", `"lookup": {`, `"erase": {"action": "delete"}, "lookup": {`,
			"tables", "does not declare erase"},
		{"effect without applied_tasks", `"lookup": {`, `"erase": {"action": "delete"}, "lookup": {`,
			"applied_tasks", "required"},
		{"declared operation not configured", `"lookup": {"category"`, `"nolookup": {"category"`,
			"tables[0].nolookup", "unknown field"},
		{"bad erase action", `"lookup": {`, `"erase": {"action": "truncate"}, "lookup": {`,
			"tables[0].erase.action", `"truncate" is not an erase action`},
		{"mark without value", `"lookup": {`, `"object": {"column": "opted_out"}, "lookup": {`,
			"tables[0].object.value", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parseEdited(t, func(s string) string {
				if !strings.Contains(s, tc.old) {
					t.Fatalf("%q not in the configuration", tc.old)
				}
				i := strings.LastIndex(s, tc.old) // after the declaration
				return s[:i] + tc.new + s[i+len(tc.old):]
			})
			if err == nil {
				t.Fatal("accepted")
			}
			wantProblem(t, err, tc.path, tc.contains)
		})
	}
	err := parseEdited(t, func(s string) string {
		return strings.Replace(s, `"lookup": {"category"`, `"rectify": {"columns": ["purpose"]}, "x": {"category"`, 1)
	})
	if err == nil {
		t.Fatal("accepted")
	}
	wantProblem(t, err, "tables[0].x", "unknown field")
	err = parseEdited(t, func(s string) string {
		return strings.Replace(s, `"lookup": {"category": "processing log", "columns": ["processed_at", "organisation", "purpose", "service"], "order_by": ["processed_at"]}`,
			`"rectify": {"columns": ["purpose"]}`, 1)
	})
	wantProblem(t, err, "declaration.operations[0]", "declares lookup, but no table configures lookup")
	// A column the portal would not offer, since the declaration does not say the subject may correct it.
	wantProblem(t, err, "tables[0].rectify.columns[0]", "purpose is not declared correctable")
}

// TestOperationsAreExactlyTheConfiguredOnes: for every set of operations a table can configure, the
// register has the handlers of those operations and no others, and they serve a declaration of
// those operations.
func TestOperationsAreExactlyTheConfiguredOnes(t *testing.T) {
	configurable := []struct {
		ops       []contracts.Operation
		configure func(*Table)
	}{
		{[]contracts.Operation{contracts.OpLookup}, func(t *Table) { t.Lookup = &Lookup{} }},
		{[]contracts.Operation{contracts.OpRectify}, func(t *Table) { t.Rectify = &Rectify{} }},
		{[]contracts.Operation{contracts.OpErase}, func(t *Table) { t.Erase = &Erase{} }},
		{[]contracts.Operation{contracts.OpRestrict, contracts.OpLiftRestriction}, func(t *Table) { t.Restrict = &Restrict{} }},
		{[]contracts.Operation{contracts.OpListRecipients}, func(t *Table) { t.Recipients = &Recipients{} }},
		{[]contracts.Operation{contracts.OpObject}, func(t *Table) { t.Object = &Mark{} }},
	}
	for set := range 1 << len(configurable) {
		var table Table
		var want []contracts.Operation
		for i, c := range configurable {
			if set&(1<<i) != 0 {
				c.configure(&table)
				want = append(want, c.ops...)
			}
		}
		ops := New(&Config{Tables: []Table{table}}, nil).Operations()
		if got := ops.Capabilities(); !slices.Equal(got, want) {
			t.Errorf("configured %v: the register's operations are %v", want, got)
		}
		if err := ops.Check(contracts.Declaration{Operations: want}); err != nil {
			t.Errorf("configured %v: %v", want, err)
		}
	}
}
