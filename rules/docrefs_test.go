package rules

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"kirjaamo.dev/contracts"
)

// repoRoot is the repository, from this module's directory.
const repoRoot = ".."

// TestDocReferencesResolve: every reference to a section of the specification, docs/<file>.md#<anchor>,
// in the repository's Go files and Markdown, names a file that exists and a heading in it, by the
// anchor GitHub gives that heading. A section renamed or removed fails here, not in a reader's hands.
func TestDocReferencesResolve(t *testing.T) {
	refs, err := findDocRefs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) == 0 {
		t.Fatal("no references to docs/ found: the scan is broken")
	}
	anchors := map[string][]string{} // by path from the root, e.g. "docs/procedure.md"
	for _, ref := range refs {
		if _, read := anchors[ref.doc]; !read {
			raw, err := os.ReadFile(filepath.Join(repoRoot, ref.doc))
			if err != nil {
				t.Errorf("%s: %s#%s: no such file", ref.at, ref.doc, ref.anchor)
				anchors[ref.doc] = nil
				continue
			}
			anchors[ref.doc] = githubAnchors(string(raw))
		}
		if list := anchors[ref.doc]; list != nil && !slices.Contains(list, ref.anchor) {
			t.Errorf("%s: %s#%s: no heading with that anchor", ref.at, ref.doc, ref.anchor)
		}
	}
}

// TestTheSpecificationNamesEveryRightAndCode: each right has its section under the matrix, and each
// outcome code, flag and follow-up the engine gives is named in the specification, so that a new one
// cannot be added without saying what it means.
func TestTheSpecificationNamesEveryRightAndCode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "rights-rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	spec, anchors := string(raw), githubAnchors(string(raw))
	for _, r := range contracts.Rights {
		// A right "automated_decision" has its section under the heading "Automated decision".
		if anchor := githubAnchor(strings.ReplaceAll(string(r), "_", " ")); !slices.Contains(anchors, anchor) {
			t.Errorf("docs/rights-rules.md has no section #%s for the right %s", anchor, r)
		}
	}
	var named []string
	for _, c := range OutcomeCodes {
		named = append(named, string(c))
	}
	for _, f := range FlagCodes {
		named = append(named, string(f))
	}
	for _, k := range FollowUpKinds {
		named = append(named, string(k))
	}
	for _, n := range named {
		if !strings.Contains(spec, "`"+n+"`") {
			t.Errorf("docs/rights-rules.md does not name `%s`", n)
		}
	}
}

// docRef is one reference to a section of a document under docs/.
type docRef struct {
	at     string // file:line where the reference is made
	doc    string // the document, from the root: "docs/rights-rules.md"
	anchor string
}

var (
	// docsRef is a reference by the document's path from the root, as Go comments and Markdown
	// anywhere in the repository make it.
	docsRef = regexp.MustCompile(`(?:^|[^\w./-])(docs/[\w./-]+\.md)#([\p{L}\p{M}\p{N}_-]+)`)
	// markdownLink is a Markdown link with a fragment, to another file or within the same one.
	markdownLink = regexp.MustCompile(`\]\(([^()\s#]*)#([^()\s]+)\)`)
)

// findDocRefs walks the repository's Go and Markdown files, skipping hidden directories and
// node_modules, and returns every reference to a section of a document under docs/: by its path
// from the root, or, in Markdown, by a link that resolves into docs/.
func findDocRefs(root string) ([]docRef, error) {
	var refs []docRef
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		markdown := strings.HasSuffix(path, ".md")
		if !markdown && !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		refs = append(refs, docRefsIn(filepath.ToSlash(rel), string(raw), markdown)...)
		return nil
	})
	return refs, err
}

// docRefsIn finds the references in one file, named by its path from the root.
func docRefsIn(file, content string, markdown bool) []docRef {
	var refs []docRef
	seen := map[docRef]bool{}
	add := func(r docRef) {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	for i, line := range strings.Split(content, "\n") {
		at := fmt.Sprintf("%s:%d", file, i+1)
		for _, m := range docsRef.FindAllStringSubmatch(line, -1) {
			add(docRef{at: at, doc: m[1], anchor: m[2]})
		}
		if !markdown {
			continue
		}
		for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
			target := file
			if m[1] != "" {
				if strings.Contains(m[1], "://") {
					continue
				}
				target = filepath.ToSlash(filepath.Join(filepath.Dir(file), m[1]))
			}
			if strings.HasPrefix(target, "docs/") && strings.HasSuffix(target, ".md") {
				add(docRef{at: at, doc: target, anchor: m[2]})
			}
		}
	}
	return refs
}

var (
	atxHeading = regexp.MustCompile(`^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	inlineLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag    = regexp.MustCompile(`<[^>]+>`)
)

// githubAnchors lists the anchors GitHub gives the headings of a Markdown document, in order: each
// heading's text as rendered (a link becomes its text, tags go), made an anchor by githubAnchor,
// and a repeated anchor numbered "-1", "-2" and so on. Headings in fenced code blocks are not
// headings.
func githubAnchors(markdown string) []string {
	var out []string
	used := map[string]int{}
	fence := ""
	sc := bufio.NewScanner(strings.NewReader(markdown))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
			continue
		case strings.HasPrefix(trimmed, "~~~"):
			fence = "~~~"
			continue
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		text := htmlTag.ReplaceAllString(inlineLink.ReplaceAllString(m[1], "$1"), "")
		anchor := githubAnchor(text)
		if n := used[anchor]; n > 0 {
			used[anchor]++
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		} else {
			used[anchor] = 1
		}
		out = append(out, anchor)
	}
	return out
}

// githubAnchor is GitHub's anchor for a heading's text: lower case; letters, marks, digits,
// hyphens and underscores kept; each space a hyphen; everything else dropped. "Gate 4:
// identifiability (Art 11)" becomes "gate-4-identifiability-art-11".
func githubAnchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubAnchors(t *testing.T) {
	doc := strings.Join([]string{
		"# Rights rules",
		"## Gate 4: identifiability (Art 11)",
		"### Other people's data",
		"## The `no_personal_data` code",
		"## See [the matrix](#the-matrix) ##",
		"```",
		"## not a heading",
		"```",
		"#not a heading either",
		"## Erasure",
		"## Erasure",
		"## Ympäristö ja yksityisyys",
	}, "\n")
	want := []string{"rights-rules", "gate-4-identifiability-art-11", "other-peoples-data", "the-no_personal_data-code",
		"see-the-matrix", "erasure", "erasure-1", "ympäristö-ja-yksityisyys"}
	if got := githubAnchors(doc); !slices.Equal(got, want) {
		t.Errorf("githubAnchors =\n%q\nwant\n%q", got, want)
	}
}

func TestDocRefsIn(t *testing.T) {
	// Built from parts, so that this file holds no reference of its own for the scan to find.
	docs := "docs" + "/"
	goSource := "// See " + docs + "rights-rules.md#erasure and " + docs + "procedure.md#deadline.\n" +
		"// Not a reference: mydocs/x.md#y, " + docs + "x.md without an anchor.\n"
	got := docRefsIn("rules/matrix.go", goSource, false)
	want := []docRef{{"rules/matrix.go:1", docs + "rights-rules.md", "erasure"}, {"rules/matrix.go:1", docs + "procedure.md", "deadline"}}
	if !slices.Equal(got, want) {
		t.Errorf("Go: %v, want %v", got, want)
	}
	markdown := "See [gate 1](#gate-1-scope), [the deadline](procedure.md#deadline),\n" +
		"[elsewhere](../README.md#layout) and [the web](https://example.org/a.md#b).\n"
	got = docRefsIn(docs+"rights-rules.md", markdown, true)
	want = []docRef{{docs + "rights-rules.md:1", docs + "rights-rules.md", "gate-1-scope"}, {docs + "rights-rules.md:1", docs + "procedure.md", "deadline"}}
	if !slices.Equal(got, want) {
		t.Errorf("Markdown: %v, want %v", got, want)
	}
	got = docRefsIn("README.md", "The rules: ["+docs+"rights-rules.md]("+docs+"rights-rules.md#the-matrix).", true)
	if len(got) != 1 || got[0].doc != docs+"rights-rules.md" || got[0].anchor != "the-matrix" {
		t.Errorf("a link by the path from the root is one reference: %v", got)
	}
}
