package contracts

import "testing"

func TestValidPersonalIdentityCode(t *testing.T) {
	for code, want := range map[string]bool{
		"131052-308T": true,  // the example in the Digital and Population Data Services Agency's guide
		"010190-9088": false, // wrong check character
		"310290-900P": false, // 31 February
		"010100A900V": false, // check character of another code
		"131052X308T": true,  // the 2023 century signs are accepted
		"131052G308T": false, // G is no century sign
		"13105-308T":  false,
		"":            false,
	} {
		if got := ValidPersonalIdentityCode(code); got != want {
			t.Errorf("ValidPersonalIdentityCode(%q) = %v, want %v", code, got, want)
		}
	}
	first := "010190-900"
	code := first + string(PersonalIdentityCodeCheck(first))
	if !ValidPersonalIdentityCode(code) {
		t.Errorf("a code made with PersonalIdentityCodeCheck (%s) does not validate", code)
	}
}

func TestNormalizeMakesHashesAgree(t *testing.T) {
	if HashSHA256(IdentifierEmail, " Aino.Virtanen@Example.FI ") != HashSHA256(IdentifierEmail, "aino.virtanen@example.fi") {
		t.Error("two spellings of one e-mail address hash differently")
	}
	for in, want := range map[string]string{
		"040 123 4567":    "+358401234567",
		"+358 40 1234567": "+358401234567",
		"00358401234567":  "+358401234567",
	} {
		if got := Normalize(IdentifierPhone, in); got != want {
			t.Errorf("Normalize(phone, %q) = %q, want %q", in, got, want)
		}
	}
}

func TestSubmitRequestValidationNamesFields(t *testing.T) {
	req := SubmitRequest{Right: "teleport", Phone: "12", Language: "de"}
	err := req.Validate()
	ve, ok := AsValidationError(err)
	if !ok {
		t.Fatalf("Validate() = %v, want a ValidationError", err)
	}
	got := map[string]string{}
	for _, f := range ve.Fields {
		got[f.Field] = f.Rule
	}
	for field, rule := range map[string]string{
		"right":    "right",
		"phone":    "e164",
		"language": "language",
	} {
		if got[field] != rule {
			t.Errorf("field %s: rule %q, want %q (all: %v)", field, got[field], rule, ve.Fields)
		}
	}
	rect := SubmitRequest{Right: RightRectification, Language: "fi"}
	if ve, ok := AsValidationError(rect.Validate()); !ok || ve.Fields[0].Field != "rectification" {
		t.Errorf("rectification without corrections is not refused on the rectification field: %v", rect.Validate())
	}
	ok2 := SubmitRequest{Right: RightAccess, Phone: "+358401234567", Language: "fi"}
	if err := ok2.Validate(); err != nil {
		t.Errorf("a good request is refused: %v", err)
	}
}

func TestTaskIDMustMatch(t *testing.T) {
	task := Task{Protocol: TaskProtocol, TaskID: "x/y", RequestID: "0195d5c8-8d3e-7c1a-9f00-000000000001",
		RegisterID: "kanta-client", Operation: OpLookup, Right: RightAccess,
		Identifiers: []Identifier{{Type: IdentifierEmail, Value: "not-an-address"}}}
	ve, ok := AsValidationError(task.Validate())
	if !ok {
		t.Fatal("an inconsistent task validates")
	}
	want := map[string]bool{"task_id": true, "identifiers[0].value": true, "received_at": true, "deadline": true}
	for _, f := range ve.Fields {
		delete(want, f.Field)
	}
	if len(want) > 0 {
		t.Errorf("missing field errors %v in %v", want, ve.Fields)
	}
}
