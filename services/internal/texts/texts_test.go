package texts

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"text/template/parse"

	"kirjaamo.dev/contracts"
)

// servicesDir is the services module, whose templates and code ask for texts.
const servicesDir = "../.."

func TestEveryKeyInEveryLanguage(t *testing.T) {
	fi := Keys(contracts.Finnish)
	for _, l := range contracts.Languages {
		if keys := Keys(l); !slices.Equal(keys, fi) {
			t.Errorf("%s has keys %v that Finnish has not, or lacks %v", l, missing(keys, fi), missing(fi, keys))
		}
		for _, k := range Keys(l) {
			if strings.TrimSpace(catalog[l][k]) == "" {
				t.Errorf("%s: %s is empty", l, k)
			}
		}
	}
	for family, members := range Families {
		for _, m := range members {
			for _, l := range contracts.Languages {
				if _, ok := catalog[l][family+"."+m]; !ok {
					t.Errorf("%s has no %s text for %s", family, l, m)
				}
			}
		}
	}
	for key, where := range asked(t) {
		for _, l := range contracts.Languages {
			if _, ok := catalog[l][key]; !ok {
				t.Errorf("%s asks for %q, which has no %s text", where, key, l)
			}
		}
	}
}

// A text with a format has the same verbs in every language, so that no language shows %!s.
func TestEveryLanguageFormatsTheSameArguments(t *testing.T) {
	// A verb with its argument index, its flags and width aside: a Swedish date may pad its day.
	verbs := regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*[0-9]*(\[\d+\])?([sdvq])`)
	argsOf := func(s string) []string {
		var out []string
		for _, m := range verbs.FindAllStringSubmatch(s, -1) {
			idx := m[1]
			if idx == "" {
				idx = regexp.MustCompile(`\[\d+\]`).FindString(m[0])
			}
			out = append(out, idx+m[2])
		}
		slices.Sort(out)
		return out
	}
	for _, k := range Keys(contracts.Finnish) {
		want := argsOf(catalog[contracts.Finnish][k])
		for _, l := range contracts.Languages {
			got := argsOf(catalog[l][k])
			if !slices.Equal(got, want) {
				t.Errorf("%s in %s formats %v, in Finnish %v", k, l, got, want)
			}
		}
	}
}

func missing(have, want []string) []string {
	var out []string
	for _, k := range want {
		if !slices.Contains(have, k) {
			out = append(out, k)
		}
	}
	return out
}

// keyLiteral is what a catalogue key looks like in Go code.
var keyLiteral = regexp.MustCompile(`^(portal|office|mail|status|right|identifier|date|duration|list|outcome|error|cover)\.[a-z0-9_.]+$`)

// asked finds every key the services ask for, with where: the literal keys of {{.T "key"}} and the
// families of {{.Of "family" x}} in every template, and every string in the Go code that looks like
// a key. A template that asks with anything but a literal fails the test: such a key could not be
// checked here.
func asked(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(servicesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".html") && strings.Contains(path, "/templates/"):
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tree := parse.New(path)
			tree.Mode = parse.SkipFuncCheck
			trees := map[string]*parse.Tree{}
			if _, err := tree.Parse(string(raw), "", "", trees); err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			for _, tr := range trees {
				walk(t, path, tr.Root, out)
			}
		case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go"):
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && keyLiteral.MatchString(s) && !isFamily(s) {
						out[s] = path
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found only %d keys asked for: the search would prove nothing", len(out))
	}
	return out
}

func isFamily(s string) bool { _, ok := Families[s]; return ok }

// walk collects the keys a template's node asks for.
func walk(t *testing.T, path string, n parse.Node, out map[string]string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(t, path, c, out)
			}
		}
	case *parse.ActionNode:
		walk(t, path, n.Pipe, out)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(t, path, c, out)
		}
	case *parse.CommandNode:
		if len(n.Args) > 0 {
			switch methodOf(n.Args[0]) {
			case "T":
				if len(n.Args) < 2 {
					t.Errorf("%s: T without a key", path)
				} else if s, ok := n.Args[1].(*parse.StringNode); ok {
					out[s.Text] = path
				} else {
					t.Errorf("%s: T asks for %s, not a literal key", path, n.Args[1])
				}
			case "Of":
				if s, ok := n.Args[1].(*parse.StringNode); !ok || !isFamily(s.Text) {
					t.Errorf("%s: Of asks for the family %s, which texts.Families does not list", path, n.Args[1])
				}
			}
		}
		for _, a := range n.Args {
			walk(t, path, a, out)
		}
	case *parse.IfNode:
		walk(t, path, n.Pipe, out)
		walk(t, path, n.List, out)
		walk(t, path, n.ElseList, out)
	case *parse.RangeNode:
		walk(t, path, n.Pipe, out)
		walk(t, path, n.List, out)
		walk(t, path, n.ElseList, out)
	case *parse.WithNode:
		walk(t, path, n.Pipe, out)
		walk(t, path, n.List, out)
		walk(t, path, n.ElseList, out)
	case *parse.TemplateNode:
		walk(t, path, n.Pipe, out)
	}
}

// methodOf names the method an argument calls, as in .T, $.T or $x.T.
func methodOf(n parse.Node) string {
	switch n := n.(type) {
	case *parse.FieldNode:
		return n.Ident[len(n.Ident)-1]
	case *parse.VariableNode:
		if len(n.Ident) > 1 {
			return n.Ident[len(n.Ident)-1]
		}
	}
	return ""
}

func TestAnAreaFileAddsToItsLanguageAndAKeyDefinedTwiceFails(t *testing.T) {
	area := fstest.MapFS{}
	for _, l := range contracts.Languages {
		area["catalog/"+string(l)+".json"] = &fstest.MapFile{Data: []byte(`{"a.one": "1"}`)}
		area["catalog/office/"+string(l)+".json"] = &fstest.MapFile{Data: []byte(`{"office.two": "2"}`)}
	}
	got, err := load(area)
	if err != nil {
		t.Fatal(err)
	}
	if got[contracts.Swedish]["office.two"] != "2" || got[contracts.Swedish]["a.one"] != "1" {
		t.Errorf("the Swedish catalogue is %v, want both files' keys", got[contracts.Swedish])
	}

	area["catalog/office/sv.json"] = &fstest.MapFile{Data: []byte(`{"a.one": "again"}`)}
	if _, err := load(area); err == nil || !strings.Contains(err.Error(), `"a.one"`) {
		t.Errorf("a key defined in two Swedish files loaded with error %v, want one naming the key", err)
	}
}
