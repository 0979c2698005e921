package contracts

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// The contracts' decoding, fuzzed: whatever bytes arrive, a message decodes and validates or is
// refused with an error, never a panic; and what passes validation is what the platform can take:
// every typed text valid UTF-8, without a NUL or another control character, in NFC. `make fuzz`
// runs each target a few seconds; testdata/fuzz holds the seed corpus, and any input that ever
// failed.

// hostileText is text a person, or an attacker, might type.
var hostileText = []string{"", "a\x00b", "\xff\xfe", "e\u0301", "line\r\nbreak", "\t tab \t", strings.Repeat("x", 10000), "<script>", "%00",
	"\u202e\u200b", "\x1b[31m", "😀", "Å"}

// checkTexts fails if a text a message carries would not be stored as it is.
func checkTexts(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("%s passed validation with a text PostgreSQL refuses: %q", what, s)
		}
	}
}

func FuzzSubmitRequest(f *testing.F) {
	f.Add([]byte(`{"right":"access","language":"fi"}`))
	f.Add([]byte(`{"right":"rectification","language":"sv","rectification":[{"field":"name","new_value":"x"}],"phone":"+358 40 111 0001"}`))
	for _, s := range hostileText {
		raw, _ := json.Marshal(map[string]any{"right": "objection", "language": "en", "details": s, "contact_email": s + "@example.fi",
			"rectification": []map[string]string{{"field": s, "new_value": s}}})
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r SubmitRequest
		if json.Unmarshal(data, &r) != nil {
			return
		}
		r.Normalize()
		if r.Validate() != nil {
			return
		}
		texts := []string{r.Details, r.ContactEmail, r.Phone}
		for _, c := range r.Rectification {
			texts = append(texts, c.Field, c.NewValue)
		}
		checkTexts(t, "a request", texts...)
		if TextRule(r.Details, 4000) != "" {
			t.Fatalf("details passed validation yet break the text rule: %q", r.Details)
		}
	})
}

func FuzzTypedText(f *testing.F) {
	for _, s := range hostileText {
		f.Add(s, 100)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		n := NormalizeText(s)
		if NormalizeText(n) != n {
			t.Fatalf("normalizing %q twice changes it: %q, then %q", s, n, NormalizeText(n))
		}
		ve := &ValidationError{}
		if CheckText(ve, "f", n, max, false) {
			checkTexts(t, "a text", n)
			if max > 0 && utf8.RuneCountInString(n) > max {
				t.Fatalf("%q is longer than %d characters and passed", n, max)
			}
		} else if len(ve.Fields) != 1 || ve.Fields[0].Field != "f" || ve.Fields[0].Message == "" {
			t.Fatalf("a refused text is not named at its field: %+v", ve.Fields)
		}
	})
}

// seedFiles adds the JSON files of a directory to a fuzz target's corpus.
func seedFiles(f *testing.F, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if raw, err := os.ReadFile(dir + "/" + e.Name()); err == nil && strings.HasSuffix(e.Name(), ".json") {
			f.Add(raw)
		}
	}
}

// roundTrip decodes a message, validates it, and if it passes, checks that encoding it again and
// decoding that gives a message that passes too.
func roundTrip[T any, P interface {
	*T
	Validate() error
}](t *testing.T, data []byte) (P, bool) {
	var v T
	p := P(&v)
	if json.Unmarshal(data, p) != nil || p.Validate() != nil {
		return p, false
	}
	again, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("a valid message does not encode: %v", err)
	}
	var w T
	q := P(&w)
	if err := json.Unmarshal(again, q); err != nil || q.Validate() != nil {
		t.Fatalf("a valid message, encoded and decoded again, is not valid: %v, %v", err, q.Validate())
	}
	return p, true
}

func FuzzTask(f *testing.F) {
	f.Add([]byte(`{"task_id":"0195d5c8-8d3e-7c1a-9f00-000000000001:clinic","request_id":"0195d5c8-8d3e-7c1a-9f00-000000000001","register_id":"clinic","operation":"lookup","identifiers":[{"type":"email","value":"a@example.fi"}]}`))
	f.Add([]byte(`{"task_id":"\u0000","identifiers":[{"type":"personal_identity_code","value":"150385-9013"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { roundTrip[Task](t, data) })
}

func FuzzResult(f *testing.F) {
	f.Add([]byte(`{"task_id":"x:clinic","request_id":"x","register_id":"clinic","status":"found","records":[{"category":"c","fields":{"a":"b"}}]}`))
	f.Add([]byte(`{"status":"refused","refusal":{"code":"x","reason":{"fi":"a","sv":"b","en":"c"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { roundTrip[Result](t, data) })
}

func FuzzDeclaration(f *testing.F) {
	seedFiles(f, "../adapters/demo/declarations")
	f.Add([]byte(`{"register_id":"x","purposes":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Count(data, []byte("{")) > 2000 {
			return // nesting deep enough only to time out the decoder's recursion, not to find a bug
		}
		roundTrip[Declaration](t, data)
	})
}
