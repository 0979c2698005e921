// Package enumcheck lets a package's tests check that the list of each of its enumerations
// (contracts.Rights, rules.OutcomeCodes, ...) names every constant declared of the enumeration's
// type, and nothing else. The exhaustive linter makes every switch and map literal over a type name
// each of its constants; the lists are what the forms offer and what the table tests iterate, so a
// constant missing from its list would be offered by no one and tested by nothing.
package enumcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Strings is an enumeration's list as strings, for Check.
func Strings[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// Check compares the string constants declared with a named type in the Go files of the package in
// dir (its tests excluded) with lists, the values of each type's list by type name. It returns a
// problem for every type that has constants but no list, every list whose type has no constants,
// and every value that is in one and not the other; none means they agree.
func Check(dir string, lists map[string][]string) ([]string, error) {
	constants, err := typedConstants(dir)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, typ := range sortedKeys(constants) {
		list, ok := lists[typ]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has constants %v but no list is checked", typ, constants[typ]))
			continue
		}
		for _, v := range constants[typ] {
			if !slices.Contains(list, v) {
				problems = append(problems, fmt.Sprintf("%s: the constant %q is missing from its list", typ, v))
			}
		}
		for _, v := range list {
			if !slices.Contains(constants[typ], v) {
				problems = append(problems, fmt.Sprintf("%s: the list holds %q, which is no constant of the type", typ, v))
			}
		}
	}
	for _, typ := range sortedKeys(lists) {
		if _, ok := constants[typ]; !ok {
			problems = append(problems, fmt.Sprintf("%s: a list is checked but the package declares no constant of the type", typ))
		}
	}
	return problems, nil
}

// typedConstants are the values of the string constants declared with an explicit named type, by
// type name, in the order declared.
func typedConstants(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("enumcheck: %w", err)
	}
	fset := token.NewFileSet()
	out := map[string][]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("enumcheck: %w", err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				typ, ok := vs.Type.(*ast.Ident)
				if !ok {
					continue
				}
				for _, value := range vs.Values {
					lit, ok := value.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						return nil, fmt.Errorf("enumcheck: %s: %w", fset.Position(lit.Pos()), err)
					}
					out[typ.Name] = append(out[typ.Name], s)
				}
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
