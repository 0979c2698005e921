package openapilint

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestADescriptionThatKeepsEveryRulePasses(t *testing.T) {
	spec, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if problems := Lint(spec); len(problems) > 0 {
		t.Errorf("problems in a good description: %v", problems)
	}
}

// TestEachRuleFindsWhatItIsFor breaks the good description one rule at a time and expects that
// rule's problem, at the place broken.
func TestEachRuleFindsWhatItIsFor(t *testing.T) {
	good, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ old, new, rule, at string }{
		"an unquoted description with a colon": {`description: 'What it is called: its name.'`, `description: What it is called, e.g. its name.`,
			"structure", "components.schemas.Thing.properties.name"},
		"no operationId":             {"      operationId: makeThing\n", "", "operation-id", "paths./things.post"},
		"no license":                 {"  license: { name: EUPL-1.2, identifier: EUPL-1.2 }\n", "", "license", "info.license"},
		"a license without id":       {"{ name: EUPL-1.2, identifier: EUPL-1.2 }", "{ name: EUPL-1.2 }", "license", "info.license"},
		"an invalid example":         {"example: { name: spoon }", "example: { name: a spoon too long }", "examples", "paths./things.post.requestBody"},
		"an example of a wrong type": {"value: { name: spoon }", "value: { name: 7 }", "examples", "paths./things.post.responses.201"},
		"a body with no example":     {"            example: { name: spoon }\n", "", "examples", "paths./things.post.requestBody"},
		"an error that is no problem": {"{ $ref: '#/components/schemas/Problem' }, { type", "{ $ref: '#/components/schemas/Thing' }, { type",
			"problem", "paths./things.post.responses.422"},
		"an error of another media type": {"application/problem+json", "application/json", "problem", "paths./things.post.responses.422"},
		"a dangling reference":           {"schema: { $ref: '#/components/schemas/Thing' }\n            example", "schema: { $ref: '#/components/schemas/Nothing' }\n            example", "structure", ""},
		"OpenAPI 3.0":                    {"openapi: 3.1.0", "openapi: 3.0.3", "structure", "openapi"},
	} {
		t.Run(name, func(t *testing.T) {
			broken := strings.Replace(string(good), tc.old, tc.new, 1)
			if broken == string(good) {
				t.Fatalf("the test's text %q is not in the good description", tc.old)
			}
			problems := Lint([]byte(broken))
			if !slices.ContainsFunc(problems, func(p Problem) bool { return p.Rule == tc.rule && strings.HasPrefix(p.At, tc.at) }) {
				t.Errorf("no %s problem at %s; found %v", tc.rule, tc.at, problems)
			}
		})
	}
}

// TestTwoOperationsCannotShareAnID: operationIds name the generated client's methods.
func TestTwoOperationsCannotShareAnID(t *testing.T) {
	good, _ := os.ReadFile("testdata/good.yaml")
	spec := strings.Replace(string(good), "components:", `  /other:
    get:
      operationId: makeThing
      responses:
        '204': { description: Nothing. }
components:`, 1)
	problems := Lint([]byte(spec))
	if !slices.ContainsFunc(problems, func(p Problem) bool { return p.Rule == "operation-id" && strings.Contains(p.Message, "makeThing") }) {
		t.Errorf("a shared operationId passed: %v", problems)
	}
}
