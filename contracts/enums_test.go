package contracts

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/contracts/enumcheck"
	"kirjaamo.dev/contracts/schemas"
)

// The lists of the package's enumerations, by type name, which the tests below hold against the
// constants, the schemas, the OpenAPI description and the validation tags.
var enumLists = map[string][]string{
	"Right":                      enumcheck.Strings(Rights),
	"Operation":                  enumcheck.Strings(Operations),
	"Language":                   enumcheck.Strings(Languages),
	"ErrorCode":                  enumcheck.Strings(ErrorCodes),
	"ResultStatus":               enumcheck.Strings(ResultStatuses),
	"IdentifierType":             enumcheck.Strings(IdentifierTypes),
	"IdentifierForm":             enumcheck.Strings(IdentifierForms),
	"IdentificationLevel":        enumcheck.Strings(IdentificationLevels),
	"LegalBasis":                 enumcheck.Strings(LegalBases),
	"SpecialCategoryCondition":   enumcheck.Strings(SpecialCategoryConditions),
	"AutomatedDecisionException": enumcheck.Strings(AutomatedDecisionExceptions),
	"ExclusionScope":             enumcheck.Strings(ExclusionScopes),
	"DatasetState":               enumcheck.Strings(DatasetStates),
	"EventKind":                  enumcheck.Strings(EventKinds),
	"ProcessingOperation":        enumcheck.Strings(ProcessingOperations),
	"FieldFormat":                enumcheck.Strings(FieldFormats),
}

func TestEveryListNamesEveryConstantOfItsType(t *testing.T) {
	problems, err := enumcheck.Check(".", enumLists)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestEveryRightHasAnArticleAnOperationAndValidation: each right names the article that grants it
// and the operation that carries it out, and validation accepts it and names it when it refuses.
func TestEveryRightHasAnArticleAnOperationAndValidation(t *testing.T) {
	refused := (&SubmitRequest{Right: "teleport", Language: string(Finnish)}).Validate()
	ve, _ := AsValidationError(refused)
	var refusal string
	if ve != nil {
		if i := slices.IndexFunc(ve.Fields, func(f FieldError) bool { return f.Field == "right" }); i >= 0 {
			refusal = ve.Fields[i].Message
		}
	}
	if refusal == "" {
		t.Fatalf("a request for an unknown right is not refused on its right: %v", refused)
	}
	articles := map[string]Right{}
	for _, r := range Rights {
		article := r.Article()
		if article == "" || !r.Valid() {
			t.Errorf("%s: article %q, valid %v", r, article, r.Valid())
		}
		if other, ok := articles[article]; ok {
			t.Errorf("%s and %s both cite Art %s", other, r, article)
		}
		articles[article] = r
		op, err := OperationFor(r)
		if err != nil || !op.Valid() {
			t.Errorf("%s: operation %q, %v", r, op, err)
		}
		if err := Validator().Var(string(r), "right"); err != nil {
			t.Errorf("%s: the validator refuses it: %v", r, err)
		}
		if !strings.Contains(refusal, string(r)) {
			t.Errorf("%s: the refusal of an unknown right does not name it: %s", r, refusal)
		}
	}
	const unknown Right = "teleport"
	if unknown.Valid() || unknown.Article() != "" {
		t.Errorf("an unknown right is valid or has an article")
	}
	if op, err := OperationFor(unknown); err == nil || op != "" {
		t.Errorf("OperationFor(%q) = %q, %v; want no operation and an error", unknown, op, err)
	}
}

// TestEveryOperationCarriesOutARightOrFollowsOne: an operation no right uses and no follow-up sends
// would be a protocol nobody speaks.
func TestEveryOperationCarriesOutARightOrFollowsOne(t *testing.T) {
	followUps := []Operation{OpLiftRestriction, OpListRecipients}
	for _, op := range Operations {
		used := slices.Contains(followUps, op)
		for _, r := range Rights {
			if got, _ := OperationFor(r); got == op {
				used = true
			}
		}
		if !used {
			t.Errorf("%s carries out no right and follows none", op)
		}
	}
}

// TestARegisterMayDeclareEveryOperation: the limits on a declaration's operations and an
// announcement's capabilities, in the Go tags and in the schema, leave room for every operation.
func TestARegisterMayDeclareEveryOperation(t *testing.T) {
	d := decodeStrict(t, readDemo(t, "clinic-event-invitations"))
	d.Operations = slices.Clone(Operations)
	if err := d.Validate(); err != nil {
		t.Errorf("a declaration of every operation: %v", err)
	}
	raw, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	if err := schemaValidate(t, declarationSchema(t), raw); err != nil {
		t.Errorf("the schema refuses a declaration of every operation: %v", err)
	}
	a := Announcement{Protocol: AnnounceProtocol, Declaration: d, Capabilities: slices.Clone(Operations), Instance: "host-1"}
	if err := a.Validate(); err != nil {
		t.Errorf("an announcement of every operation: %v", err)
	}
}

func TestTextInEveryLanguage(t *testing.T) {
	// Each field holds its own language's code, so In must pick the field of the language asked.
	text := Text{FI: string(Finnish), SV: string(Swedish), EN: string(English)}
	for _, l := range Languages {
		if got := text.In(l); got != string(l) {
			t.Errorf("In(%s) = %q", l, got)
		}
		if parsed, ok := ParseLanguage(string(l)); !ok || parsed != l {
			t.Errorf("ParseLanguage(%s) = %s, %v", l, parsed, ok)
		}
	}
	if got := text.In("se"); got != string(Finnish) {
		t.Errorf("an unsupported language gets %q, want the default, Finnish", got)
	}
}

func TestEveryErrorCodeIsClassifiedForRetry(t *testing.T) {
	retryable := map[ErrorCode]bool{
		ErrInvalidMessage: false, ErrUnsupportedOperation: false, ErrDeclarationRefused: false, ErrCancelled: false,
		ErrUnavailable: true, ErrInternal: true,
	}
	for _, c := range ErrorCodes {
		if c.Retryable() != retryable[c] || NewError(c, "x").Retryable != retryable[c] {
			t.Errorf("%s: Retryable = %v, want %v", c, c.Retryable(), retryable[c])
		}
	}
	if ErrorCode("overheated").Retryable() {
		t.Error("an unknown code is retried")
	}
}

// TestTheValidationTagsListEveryMember: the oneof tags written out in struct tags name the same
// members as the lists.
func TestTheValidationTagsListEveryMember(t *testing.T) {
	for _, c := range []struct {
		typ   reflect.Type
		field string
		want  []string
	}{
		{reflect.TypeFor[Error](), "Code", enumLists["ErrorCode"]},
		{reflect.TypeFor[Result](), "Status", enumLists["ResultStatus"]},
	} {
		f, _ := c.typ.FieldByName(c.field)
		var oneof []string
		for _, rule := range strings.Split(f.Tag.Get("validate"), ",") {
			if values, ok := strings.CutPrefix(rule, "oneof="); ok {
				oneof = strings.Fields(values)
			}
		}
		if !slices.Equal(oneof, c.want) {
			t.Errorf("%s.%s: oneof %v, want %v", c.typ.Name(), c.field, oneof, c.want)
		}
	}
}

// TestTheSchemasEnumerateEveryMember: every enum of the published JSON Schemas is the list of a Go
// enumeration, in the same order, and every enum is accounted for here, so that a register owner
// writing in another language is offered exactly what the platform accepts.
func TestTheSchemasEnumerateEveryMember(t *testing.T) {
	var needsLaw []string
	for _, b := range LegalBases {
		if b.NeedsLaw() {
			needsLaw = append(needsLaw, string(b))
		}
	}
	want := map[string][]string{
		"declaration.v1.schema.json properties/identification/properties/level":                        enumLists["IdentificationLevel"],
		"declaration.v1.schema.json properties/operations/items":                                       enumLists["Operation"],
		"declaration.v1.schema.json $defs/identifier_match/properties/type":                            enumLists["IdentifierType"],
		"declaration.v1.schema.json $defs/identifier_match/properties/form":                            enumLists["IdentifierForm"],
		"declaration.v1.schema.json $defs/purpose/properties/legal_basis":                              enumLists["LegalBasis"],
		"declaration.v1.schema.json $defs/purpose/properties/special_category":                         enumLists["SpecialCategoryCondition"],
		"declaration.v1.schema.json $defs/purpose/properties/automated_decisions/properties/exception": enumLists["AutomatedDecisionException"],
		"declaration.v1.schema.json $defs/purpose/properties/exclusions/items/properties/right":        enumLists["Right"],
		"declaration.v1.schema.json $defs/purpose/properties/exclusions/items/properties/ground":       enumcheck.Strings(RestrictionGrounds),
		"declaration.v1.schema.json $defs/purpose/properties/exclusions/items/properties/scope":        enumLists["ExclusionScope"],
		"declaration.v1.schema.json $defs/purpose/allOf/0/if/properties/legal_basis":                   needsLaw,
		"declaration.v1.schema.json $defs/closed_dataset/properties/state":                             enumLists["DatasetState"],
		"declaration.v1.schema.json $defs/record_type/properties/fields/items/properties/format":       enumLists["FieldFormat"],
		"result.v1.schema.json properties/operation":                                                   enumLists["Operation"],
		"result.v1.schema.json properties/status":                                                      enumLists["ResultStatus"],
		"result.v1.schema.json properties/error/properties/code":                                       enumLists["ErrorCode"],
		"event.v1.schema.json properties/kind":                                                         enumLists["EventKind"],
		"task.v1.schema.json properties/right":                                                         enumLists["Right"],
		"task.v1.schema.json properties/identifiers/items/properties/type":                             enumLists["IdentifierType"],
		"task.v1.schema.json $defs/operation":                                                          enumLists["Operation"],
		"declaration.v1.schema.json $defs/processing_purpose/properties/legal_basis":                   enumLists["LegalBasis"],
		"declaration.v1.schema.json $defs/processing_purpose/allOf/0/if/properties/legal_basis":        needsLaw,
		"processing.v1.schema.json properties/operation":                                               enumLists["ProcessingOperation"],
		"processing.v1.schema.json properties/legal_basis":                                             enumLists["LegalBasis"],
		"processing.v1.schema.json properties/subject/items/properties/type":                           enumLists["IdentifierType"],
		"processing.v1.schema.json properties/subject/items/properties/form":                           enumLists["IdentifierForm"],
	}
	found := map[string][]string{}
	files, err := schemas.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".json") {
			continue
		}
		raw, err := schemas.FS.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		collectEnums(f.Name(), "", doc, found)
	}
	for at, values := range found {
		w, ok := want[at]
		switch {
		case !ok:
			t.Errorf("%s: enum %v is not held against a Go list here", at, values)
		case !slices.Equal(values, w):
			t.Errorf("%s: enum %v, want %v", at, values, w)
		}
	}
	for at := range want {
		if _, ok := found[at]; !ok {
			t.Errorf("%s: no such enum in the schemas", at)
		}
	}
}

// collectEnums records every "enum" in a JSON Schema document by its file and path.
func collectEnums(file, path string, node any, found map[string][]string) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if list, ok := v.([]any); ok && k == "enum" {
				values := make([]string, len(list))
				for i, item := range list {
					values[i] = fmt.Sprint(item)
				}
				found[file+" "+path] = values
				continue
			}
			collectEnums(file, strings.TrimPrefix(path+"/"+k, "/"), v, found)
		}
	case []any:
		for i, v := range n {
			collectEnums(file, strings.TrimPrefix(fmt.Sprintf("%s/%d", path, i), "/"), v, found)
		}
	}
}

// TestTheOpenAPIEnumeratesEveryRightAndLanguage: the API's Right schema and every language field
// list the platform's rights and languages.
func TestTheOpenAPIEnumeratesEveryRightAndLanguage(t *testing.T) {
	spec := string(OpenAPI)
	right := regexp.MustCompile(`(?m)^    Right:\n      type: string\n      enum: \[([^\]]*)\]`).FindStringSubmatch(spec)
	if right == nil {
		t.Fatal("openapi.yaml: no Right schema with an enum")
	}
	if got := splitYAMLList(right[1]); !slices.Equal(got, enumLists["Right"]) {
		t.Errorf("openapi.yaml Right: %v, want %v", got, enumLists["Right"])
	}
	languages := regexp.MustCompile(`language: \{ type: string, enum: \[([^\]]*)\] \}`).FindAllStringSubmatch(spec, -1)
	if len(languages) == 0 {
		t.Fatal("openapi.yaml: no language field with an enum")
	}
	for _, m := range languages {
		if got := splitYAMLList(m[1]); !slices.Equal(got, enumLists["Language"]) {
			t.Errorf("openapi.yaml language: %v, want %v", got, enumLists["Language"])
		}
	}
}

func splitYAMLList(flow string) []string {
	var out []string
	for _, item := range strings.Split(flow, ",") {
		out = append(out, strings.TrimSpace(item))
	}
	return out
}
