// Package texts is every word a person reads from the platform, in Finnish, Swedish and English:
// the sites' pages, the notifier's messages, and the names of the platform's enumerations. It is
// the one mechanism for all of them: a catalogue per language, read by key. The catalogue of a
// language is catalog/<lang>.json and every catalog/<area>/<lang>.json, one file per area of the
// platform (the office, processing events) so that areas grow without editing one shared file; a
// key defined twice fails at start and in the tests.
//
// A page asks for a text by a literal key, {{.T "portal.sign_in"}}, or for the name of a member of
// a family, {{.Of "status" .Case.Status}}; a key is never built by concatenation, so a test can
// find every key a template or the code asks for (TestEveryKeyInEveryLanguage) and every member of
// every family (Families), and fail on one missing in any language. A key missing at run time reads
// as ⟦key⟧, never as nothing.
package texts

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/workflows/request"
)

//go:embed catalog
var files embed.FS

// catalog holds each language's texts by key.
var catalog = mustLoad()

func mustLoad() map[contracts.Language]map[string]string {
	out, err := load(files)
	if err != nil {
		panic(err) // embedded: TestEveryKeyInEveryLanguage reads it too
	}
	return out
}

// load reads every language's catalogue from its files in fsys.
func load(fsys fs.FS) (map[contracts.Language]map[string]string, error) {
	out := make(map[contracts.Language]map[string]string, len(contracts.Languages))
	for _, l := range contracts.Languages {
		paths, err := fs.Glob(fsys, "catalog/*/"+string(l)+".json")
		if err != nil {
			return nil, fmt.Errorf("texts: the %s catalogue: %w", l, err)
		}
		m := map[string]string{}
		for _, p := range append([]string{"catalog/" + string(l) + ".json"}, paths...) {
			raw, err := fs.ReadFile(fsys, p)
			if err != nil {
				return nil, fmt.Errorf("texts: the %s catalogue: %w", l, err)
			}
			var part map[string]string
			if err := json.Unmarshal(raw, &part); err != nil {
				return nil, fmt.Errorf("texts: %s: %w", p, err)
			}
			for k, v := range part {
				if _, twice := m[k]; twice {
					return nil, fmt.Errorf("texts: %s defines %q, which another %s file defines too", p, k, l)
				}
				m[k] = v
			}
		}
		out[l] = m
	}
	return out, nil
}

// Families are the enumerations whose members have names, each with its members: {{.Of family
// member}} reads "family.member".
var Families = map[string][]string{
	"status":               names(request.Statuses),
	"right":                names(contracts.Rights),
	"identifier":           names(contracts.IdentifierTypes),
	"portal.verify_help":   names(request.SuppliableTypes),
	"mail.subject":         names(outbox.Kinds),
	"mail.body":            names(outbox.Kinds),
	"month":                months,
	"basis":                names(contracts.LegalBases),
	"outcome":              names(rules.OutcomeCodes),
	"outcome_means":        names(rules.OutcomeCodes),
	"portal.right_help":    names(contracts.Rights),
	"portal.details_label": names(contracts.Rights),
	"portal.details_hint":  names(contracts.Rights),
	// What a register did with a person's data (services/portal/processing.go).
	"portal.processing.operation": names(contracts.ProcessingOperations),
	// The rules a field can fail, as the portal tells a person at the field (portal.ruleMessage):
	// portal.invalid.max takes the limit; a rule not named here reads as "other".
	"portal.invalid": {"required", "required_with", "max", "control", "utf8", "nfc", "email", "e164", "uuid", "right", "language", "oneof",
		"waited_for", "other"},
}

func names[T ~string](members []T) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = string(m)
	}
	return out
}

// Catalog is the texts of one language.
type Catalog struct {
	lang contracts.Language
}

// In is the texts of a language; an unsupported one reads Finnish.
func In(l contracts.Language) Catalog {
	if _, ok := catalog[l]; !ok {
		l = contracts.Finnish
	}
	return Catalog{lang: l}
}

// Language is the language of the texts.
func (t Catalog) Language() contracts.Language { return t.lang }

// T is the text of a key; with args, the text is their format (fmt.Sprintf).
func (t Catalog) T(key string, args ...any) string {
	s, ok := catalog[t.lang][key]
	if !ok {
		return "⟦" + key + "⟧"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Of is the name of a member of a family, such as a status or a right.
func (t Catalog) Of(family string, member any) string {
	return t.T(family + "." + fmt.Sprint(member))
}

// Keys lists every key of a language's catalogue, for tests.
func Keys(l contracts.Language) []string {
	var out []string
	for k := range catalog[l] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
