package enumcheck

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	src := `package p

type Colour string

const (
	Red   Colour = "red"
	Green Colour = "green" // a comment
)

const Blue Colour = "blue"

type Size string

const Small Size = "small"

const untyped = "plain"

type Count int

const One Count = 1
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	// A test file's constants are not the package's.
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nconst Purple Colour = \"purple\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	problems, err := Check(dir, map[string][]string{"Colour": {"red", "green", "blue"}, "Size": {"small"}})
	if err != nil || len(problems) != 0 {
		t.Fatalf("lists that agree: %v %v", problems, err)
	}
	problems, err = Check(dir, map[string][]string{"Colour": {"red", "mauve"}, "Shape": {"round"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`Colour: the constant "green" is missing from its list`,
		`Colour: the constant "blue" is missing from its list`,
		`Colour: the list holds "mauve", which is no constant of the type`,
		`Size has constants [small] but no list is checked`,
		`Shape: a list is checked but the package declares no constant of the type`,
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems =\n%q\nwant\n%q", problems, want)
	}
}

func TestStrings(t *testing.T) {
	type Colour string
	if got := Strings([]Colour{"red", "green"}); !slices.Equal(got, []string{"red", "green"}) {
		t.Errorf("Strings = %v", got)
	}
}
