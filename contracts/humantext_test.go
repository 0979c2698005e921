package contracts

import (
	"strings"
	"testing"
)

func TestEveryTypedTextPassesOneCheck(t *testing.T) {
	for _, c := range []struct {
		name, text string
		max        int
		want       string
	}{
		{"plain", "Pyydän tietoni.", 100, ""},
		{"lines and tabs", "rivi 1\nrivi 2\tsarake", 100, ""},
		{"NUL", "a\x00b", 100, "control"},
		{"escape", "a\x1bb", 100, "control"},
		{"carriage return", "a\rb", 100, "control"},
		{"C1 control", "a\u0085b", 100, "control"},
		{"invalid UTF-8", "a\xffb", 100, "utf8"},
		{"decomposed", "A\u0308", 100, "nfc"},
		{"long", strings.Repeat("ä", 101), 100, "max"},
		{"exactly the limit in characters", strings.Repeat("ä", 100), 100, ""},
	} {
		if got := TextRule(c.text, c.max); got != c.want {
			t.Errorf("%s: TextRule = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestNormalizeTextMakesWhatAFormSendsAcceptable(t *testing.T) {
	got := NormalizeText("  A\u0308iti\r\nsanoi  ")
	if got != "Äiti\nsanoi" {
		t.Fatalf("NormalizeText = %q", got)
	}
	if TextRule(got, 100) != "" {
		t.Fatalf("a normalized text is refused: %s", TextRule(got, 100))
	}
	if bad := NormalizeText("a\xff"); TextRule(bad, 10) != "utf8" {
		t.Fatalf("invalid UTF-8 must stay invalid for the check to refuse, got %q", bad)
	}
}

func TestCheckTextNamesTheField(t *testing.T) {
	ve := &ValidationError{}
	if CheckText(ve, "note", "", 10, false) != true || len(ve.Fields) != 0 {
		t.Fatalf("an empty optional text is refused: %v", ve)
	}
	CheckText(ve, "reasons", "  ", 10, true)
	CheckText(ve, "note", "x\x00", 10, false)
	if len(ve.Fields) != 2 || ve.Fields[0].Field != "reasons" || ve.Fields[0].Rule != "required" ||
		ve.Fields[1].Field != "note" || ve.Fields[1].Rule != "control" {
		t.Fatalf("fields = %+v", ve.Fields)
	}
}

func TestASubmittedRequestWithAControlCharacterIsRefusedFieldByField(t *testing.T) {
	req := SubmitRequest{Right: RightRectification, Language: "fi", Details: "ok\x00",
		Rectification: []Correction{{Field: "name", NewValue: "Matti\x07"}}}
	req.Normalize()
	ve, ok := AsValidationError(req.Validate())
	if !ok {
		t.Fatal("a request with control characters was accepted")
	}
	fields := map[string]string{}
	for _, f := range ve.Fields {
		fields[f.Field] = f.Rule
	}
	// The rule named is the text rule broken, as CheckText names it.
	if fields["details"] != "control" || fields["rectification[0].new_value"] != "control" {
		t.Fatalf("fields = %v", fields)
	}
}
