package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func kirjaamo(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

const demoDeclarations = "../../../adapters/demo/declarations/"

func TestDeadline(t *testing.T) {
	code, out, _ := kirjaamo(t, "deadline", "--received", "2026-04-30")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"legal deadline:            Monday 1 June 2026", "internal target:           Friday 29 May 2026", "extended deadline:         Thursday 30 July 2026"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range [][]string{{"deadline"}, {"deadline", "--received", "30.4.2026"}, {"deadline", "--when", "x"}} {
		if code, _, stderr := kirjaamo(t, bad...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", bad, code, stderr)
		}
	}
}

func TestRegisterValidate(t *testing.T) {
	for _, f := range []string{"kanta-client-register", "kanta-processing-log", "koronavilkku", "kela-web-statistics", "clinic-event-invitations"} {
		if code, out, stderr := kirjaamo(t, "register", "validate", demoDeclarations+f+".json"); code != 0 {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, stderr)
		}
	}
	// The clinic stores unsalted hashes of e-mail addresses: it may not claim Art 11.
	var decl map[string]any
	raw, _ := os.ReadFile(demoDeclarations + "clinic-event-invitations.json")
	_ = json.Unmarshal(raw, &decl)
	decl["identification"] = map[string]any{"level": "unlinkable", "reason": map[string]string{"fi": "x", "sv": "x", "en": "x"}}
	edited := filepath.Join(t.TempDir(), "clinic.json")
	raw, _ = json.Marshal(decl)
	_ = os.WriteFile(edited, raw, 0o600)
	code, out, _ := kirjaamo(t, "register", "validate", edited)
	if code != 1 || !strings.Contains(out, "identification.level") || !strings.Contains(out, "IMY") {
		t.Errorf("Art 11 on hashed identifiers: exit %d, output:\n%s\nwant exit 1 naming identification.level and the IMY decision", code, out)
	}
	if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines != 1 {
		t.Errorf("want one problem on one line, got %d lines", lines)
	}
	misspelt := filepath.Join(t.TempDir(), "typo.json")
	_ = os.WriteFile(misspelt, []byte(`{"register_idd":"x"}`), 0o600)
	if code, out, _ := kirjaamo(t, "register", "validate", misspelt); code != 1 || !strings.Contains(out, "register_idd") {
		t.Errorf("a misspelt field: exit %d, %q", code, out)
	}
}

func TestRulesExplain(t *testing.T) {
	code, out, _ := kirjaamo(t, "rules", "explain", "--register", demoDeclarations+"kanta-client-register.json", "--right", "erasure",
		"--identifier", "personal_identity_code", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var o struct {
		Code      string `json:"code"`
		NoticeDue bool   `json:"notice_due"`
		Citations []struct {
			Ref string `json:"ref"`
		} `json:"citations"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatal(err)
	}
	refs := ""
	for _, c := range o.Citations {
		refs += c.Ref + ";"
	}
	if o.Code != "not_applicable" || !o.NoticeDue || !strings.Contains(refs, "17(3)(b)") || !strings.Contains(refs, "703/2023") {
		t.Errorf("erasure at the Kanta client register: %+v (%s)", o, refs)
	}
	code, out, _ = kirjaamo(t, "rules", "explain", "--register", demoDeclarations+"koronavilkku.json", "--right", "access", "--lang", "sv")
	if code != 0 || !strings.Contains(out, "cannot_identify") || !strings.Contains(out, "Art 11(2)") {
		t.Errorf("access at Koronavilkku without a phone number: exit %d\n%s", code, out)
	}
	if code, _, _ := kirjaamo(t, "rules", "explain", "--register", demoDeclarations+"koronavilkku.json", "--right", "access", "--identifier", "shoe_size"); code != 2 {
		t.Errorf("an unknown identifier type: exit %d, want 2", code)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, stderr := kirjaamo(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if code, out, _ := kirjaamo(t, "help"); code != 0 || !strings.Contains(out, "deadline") {
		t.Errorf("help: exit %d", code)
	}
}
