// Package openapilint is the ruleset contracts/openapi.yaml is held to, on libopenapi: the
// description must be one that a generated client and a reader can rely on. Lint returns every
// problem it finds, each with where it is; `make test` runs it through cmd/openapi-lint and fails on
// any. It is a module of its own, outside the workspace (go.work), so that libopenapi's requirements
// stay out of the platform's modules. The rules:
//
//   - structure: the document is OpenAPI 3.1 and valid against the specification's own schema, every
//     $ref resolves, and no schema holds a keyword JSON Schema and OpenAPI do not define (the mark of
//     an unquoted description with a comma or a colon in it, read by YAML as a key of its own);
//   - operation-id: every operation has an operationId, unique in the document;
//   - license: info names the license the description is published under;
//   - examples: every request body and every success response shows an example, and every example
//     given anywhere (media types, parameters, schemas) is valid against its schema;
//   - problem: every 4xx and 5xx response is an RFC 9457 problem document, application/problem+json
//     with the Problem schema (or a schema that extends it with allOf).
package openapilint

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

// Problem is one rule broken at one place.
type Problem struct {
	Rule string
	// At is where: a path through the document, e.g. "paths./api/v1/cases.post".
	At      string
	Message string
}

func (p Problem) String() string { return p.Rule + ": " + p.At + ": " + p.Message }

// ProblemSchema is the reference every error response's schema is, or extends.
const ProblemSchema = "#/components/schemas/Problem"

// ProblemMediaType is the media type of an RFC 9457 problem document.
const ProblemMediaType = "application/problem+json"

// Lint checks a description against every rule.
func Lint(spec []byte) []Problem {
	var out []Problem
	add := func(rule, at, format string, args ...any) {
		out = append(out, Problem{Rule: rule, At: at, Message: fmt.Sprintf(format, args...)})
	}
	var root yaml.Node
	if err := yaml.Unmarshal(spec, &root); err != nil {
		add("structure", "(document)", "not YAML: %v", err)
		return out
	}
	strayKeywords(&root, "", add)

	// libopenapi logs what it cannot resolve; the problems below say it, once and in place.
	doc, err := libopenapi.NewDocumentWithConfiguration(spec, &datamodel.DocumentConfiguration{
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		add("structure", "(document)", "%v", err)
		return out
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		add("structure", "openapi", "version %q, want 3.1", v)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			if len(e.SchemaValidationErrors) == 0 {
				add("structure", "(document)", "%s", e.Message)
			}
			for _, s := range e.SchemaValidationErrors {
				add("structure", fmt.Sprintf("%s (line %d)", s.FieldPath, s.Line), "%s", s.Reason)
			}
		}
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		add("structure", "(document)", "%v", err)
	}
	if model == nil {
		return out
	}
	if _, errs := validator.NewValidator(doc); len(errs) > 0 {
		for _, e := range errs {
			add("structure", "(document)", "%v", e)
		}
	}
	d := &model.Model
	l := &linter{add: add, schemas: schema_validation.NewSchemaValidator()}
	l.license(d)
	l.operations(d)
	if d.Components != nil {
		for name, sp := range pairs(d.Components.Schemas) {
			l.schemaExamples("components.schemas."+name, sp, map[*base.Schema]bool{})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}

type linter struct {
	add     func(rule, at, format string, args ...any)
	schemas schema_validation.SchemaValidator
}

func (l *linter) license(d *v3.Document) {
	if d.Info == nil || d.Info.License == nil || d.Info.License.Name == "" {
		l.add("license", "info.license", "the description names no license")
		return
	}
	if d.Info.License.Identifier == "" && d.Info.License.URL == "" {
		l.add("license", "info.license", "a license needs an SPDX identifier or a URL")
	}
}

// methods are a path item's operations by their method, in the order a reader expects.
func methods(p *v3.PathItem) [][2]any {
	return [][2]any{{"get", p.Get}, {"put", p.Put}, {"post", p.Post}, {"delete", p.Delete}, {"options", p.Options},
		{"head", p.Head}, {"patch", p.Patch}, {"trace", p.Trace}}
}

func (l *linter) operations(d *v3.Document) {
	if d.Paths == nil {
		l.add("structure", "paths", "the description has no paths")
		return
	}
	seen := map[string]string{}
	for path, item := range pairs(d.Paths.PathItems) {
		for _, m := range methods(item) {
			op, _ := m[1].(*v3.Operation)
			if op == nil {
				continue
			}
			at := "paths." + path + "." + m[0].(string)
			switch prev, dup := seen[op.OperationId]; {
			case op.OperationId == "":
				l.add("operation-id", at, "the operation has no operationId")
			case dup:
				l.add("operation-id", at, "operationId %q is also %s's", op.OperationId, prev)
			default:
				seen[op.OperationId] = at
			}
			l.operation(at, op)
		}
	}
}

func (l *linter) operation(at string, op *v3.Operation) {
	for _, p := range op.Parameters {
		if p.Schema == nil {
			continue
		}
		pat := at + ".parameters." + p.Name
		if p.Example != nil {
			l.example(pat+".example", p.Schema, p.Example)
		}
		for name, ex := range pairs(p.Examples) {
			l.example(pat+".examples."+name, p.Schema, ex.Value)
		}
	}
	if op.RequestBody != nil {
		shown := false
		for mt, media := range pairs(op.RequestBody.Content) {
			shown = l.media(at+".requestBody.content."+mt, media) || shown
		}
		if !shown {
			l.add("examples", at+".requestBody", "the request body shows no example")
		}
	}
	if op.Responses == nil {
		l.add("structure", at+".responses", "the operation has no responses")
		return
	}
	success := false
	for code, resp := range pairs(op.Responses.Codes) {
		rat := at + ".responses." + code
		shown := false
		for mt, media := range pairs(resp.Content) {
			shown = l.media(rat+".content."+mt, media) || shown
		}
		switch {
		case strings.HasPrefix(code, "2"):
			if resp.Content != nil && resp.Content.Len() > 0 && !shown {
				l.add("examples", rat, "the success response shows no example")
			}
			success = true
		case strings.HasPrefix(code, "4"), strings.HasPrefix(code, "5"):
			l.problem(rat, resp)
		}
	}
	if !success {
		l.add("structure", at+".responses", "the operation has no success response")
	}
}

// media checks the examples of one media type; it reports whether it has any.
func (l *linter) media(at string, media *v3.MediaType) bool {
	if media.Schema == nil {
		return false
	}
	shown := false
	if media.Example != nil {
		l.example(at+".example", media.Schema, media.Example)
		shown = true
	}
	for name, ex := range pairs(media.Examples) {
		if ex.Value == nil {
			l.add("examples", at+".examples."+name, "the example has no value")
			continue
		}
		l.example(at+".examples."+name, media.Schema, ex.Value)
		shown = true
	}
	return shown
}

func (l *linter) problem(at string, resp *v3.Response) {
	if resp.Content == nil || resp.Content.Len() == 0 {
		l.add("problem", at, "an error response without a body: it must be a problem document (%s)", ProblemMediaType)
		return
	}
	for mt, media := range pairs(resp.Content) {
		if mt != ProblemMediaType {
			l.add("problem", at+".content."+mt, "an error response of media type %s, want %s", mt, ProblemMediaType)
			continue
		}
		if !isProblem(media.Schema) {
			l.add("problem", at+".content."+mt, "the schema is not %s, nor extends it with allOf", ProblemSchema)
		}
	}
}

// isProblem reports whether a schema is the Problem schema or extends it.
func isProblem(sp *base.SchemaProxy) bool {
	if sp == nil {
		return false
	}
	if sp.IsReference() && sp.GetReference() == ProblemSchema {
		return true
	}
	s := sp.Schema()
	if s == nil {
		return false
	}
	return slices.ContainsFunc(s.AllOf, isProblem)
}

// schemaExamples checks the examples a schema and the schemas inside it give.
func (l *linter) schemaExamples(at string, sp *base.SchemaProxy, seen map[*base.Schema]bool) {
	if sp == nil || (sp.IsReference() && !strings.HasPrefix(at, "components.schemas.")) {
		return
	}
	s := sp.Schema()
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if s.Example != nil {
		l.example(at+".example", sp, s.Example)
	}
	for i, ex := range s.Examples {
		l.example(fmt.Sprintf("%s.examples[%d]", at, i), sp, ex)
	}
	for name, p := range pairs(s.Properties) {
		l.schemaExamples(at+".properties."+name, p, seen)
	}
	if s.Items != nil && s.Items.IsA() {
		l.schemaExamples(at+".items", s.Items.A, seen)
	}
	for i, sub := range s.AllOf {
		l.schemaExamples(fmt.Sprintf("%s.allOf[%d]", at, i), sub, seen)
	}
}

// example validates one example against its schema.
func (l *linter) example(at string, sp *base.SchemaProxy, value *yaml.Node) {
	s := sp.Schema()
	if s == nil {
		l.add("examples", at, "its schema cannot be built: %v", sp.GetBuildError())
		return
	}
	var v any
	if err := value.Decode(&v); err != nil {
		l.add("examples", at, "the example cannot be read: %v", err)
		return
	}
	raw, err := json.Marshal(normalize(v))
	if err != nil {
		l.add("examples", at, "the example is not JSON: %v", err)
		return
	}
	if ok, errs := l.schemas.ValidateSchemaBytesWithVersion(s, raw, 3.1); !ok {
		for _, e := range errs {
			if len(e.SchemaValidationErrors) == 0 {
				l.add("examples", at, "invalid against its schema: %s", e.Message)
			}
			for _, se := range e.SchemaValidationErrors {
				l.add("examples", at, "invalid against its schema at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
}

// normalize makes YAML's decoded maps JSON's.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
	}
	return v
}

// pairs iterates an ordered map, nil or not.
func pairs[V any](m *orderedmap.Map[string, V]) func(yield func(string, V) bool) {
	return func(yield func(string, V) bool) {
		if m == nil {
			return
		}
		for k, v := range m.FromOldest() {
			if !yield(k, v) {
				return
			}
		}
	}
}

// schemaKeywords are the keywords a Schema Object of OpenAPI 3.1 may hold: JSON Schema 2020-12's
// core, applicator, validation, unevaluated, format, content and meta-data vocabularies, and
// OpenAPI's own. A key beyond them (and the x- extensions) is a mistake, most often the tail of an
// unquoted description that YAML split at a comma or a colon.
var schemaKeywords = strings.Fields(`$schema $id $ref $anchor $dynamicRef $dynamicAnchor $defs $comment $vocabulary
	allOf anyOf oneOf not if then else dependentSchemas prefixItems items contains properties patternProperties
	additionalProperties propertyNames unevaluatedItems unevaluatedProperties
	type const enum multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern
	maxItems minItems uniqueItems maxContains minContains maxProperties minProperties required dependentRequired
	format contentEncoding contentMediaType contentSchema
	title description default deprecated readOnly writeOnly examples
	discriminator xml externalDocs example`)

// strayKeywords walks the raw document and reports a schema's key that no vocabulary defines.
func strayKeywords(n *yaml.Node, at string, add func(rule, at, format string, args ...any)) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			strayKeywords(c, at, add)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				strayKeywords(c, fmt.Sprintf("%s[%d]", at, i), add)
			}
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i].Value, n.Content[i+1]
		here := strings.TrimPrefix(at+"."+key, ".")
		if (key == "schema" || at == "components.schemas") && value.Kind == yaml.MappingNode {
			checkSchema(value, here, add)
			continue
		}
		strayKeywords(value, here, add)
	}
}

// checkSchema reports stray keys in a schema and the schemas inside it.
func checkSchema(n *yaml.Node, at string, add func(rule, at, format string, args ...any)) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i].Value, n.Content[i+1]
		here := at + "." + key
		switch {
		case strings.HasPrefix(key, "x-"):
		case !slices.Contains(schemaKeywords, key):
			add("structure", here, "%q is no keyword of a schema (an unquoted description with a comma or a colon in it?)", key)
		case key == "properties" || key == "patternProperties" || key == "$defs" || key == "dependentSchemas":
			for j := 0; j+1 < len(value.Content); j += 2 {
				checkSchema(value.Content[j+1], here+"."+value.Content[j].Value, add)
			}
		case key == "allOf" || key == "anyOf" || key == "oneOf" || key == "prefixItems":
			for j, c := range value.Content {
				checkSchema(c, fmt.Sprintf("%s[%d]", here, j), add)
			}
		case key == "items" || key == "not" || key == "additionalProperties" || key == "contains" || key == "if" ||
			key == "then" || key == "else" || key == "propertyNames" || key == "unevaluatedItems" || key == "unevaluatedProperties":
			checkSchema(value, here, add)
		}
	}
}
