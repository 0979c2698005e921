package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/workflows/request"
)

// TestAnswersAreSealedAtRest: what a register returns on a subject is kept sealed, opens only in its
// own row, and answers kept in clear before sealing was turned on are still read.
func TestAnswersAreSealedAtRest(t *testing.T) {
	s, ctx := open(t), context.Background()
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.SavePlan(ctx, requestID, []request.PlannedRegister{plan("kanta-processing-log", "sha256:a", true),
		plan("clinic", "sha256:a", true)}); err != nil {
		t.Fatal(err)
	}
	// The clinic answered before sealing was turned on.
	clear := json.RawMessage(`{"status":"found","records":[{"category":"invitations","fields":{"event":"Webinar"}}]}`)
	if _, err := s.db.Pool.Exec(ctx, `UPDATE case_registers SET result_status = 'found', result = $2 WHERE request_id = $1 AND register_id = 'clinic'`,
		requestID, clear); err != nil {
		t.Fatal(err)
	}
	answer := json.RawMessage(`{"status":"found","records":[{"category":"processing log","fields":{"organisation":"Esimerkkilän terveyskeskus"}}]}`)
	if _, _, _, err := s.cases.RecordAnswer(ctx, requestID, "kanta-processing-log", contracts.StatusFound, answer); err != nil {
		t.Fatal(err)
	}

	var raw string
	if err := s.db.Pool.QueryRow(ctx, `SELECT result::text FROM case_registers WHERE request_id = $1 AND register_id = 'kanta-processing-log'`,
		requestID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "Esimerkkilän") || !strings.Contains(raw, "sealed_v1") {
		t.Fatalf("the answer is kept in clear: %s", raw)
	}
	got, err := s.cases.Registers(ctx, requestID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]json.RawMessage{}
	for _, r := range got {
		byID[r.RegisterID] = r.Result
	}
	if !jsonEqual(byID["kanta-processing-log"], answer) || !jsonEqual(byID["clinic"], clear) {
		t.Fatalf("answers read back: %s and %s", byID["kanta-processing-log"], byID["clinic"])
	}

	// Moved into the clinic's row, the sealed answer does not open.
	if _, err := s.db.Pool.Exec(ctx, `UPDATE case_registers SET result = (SELECT result FROM case_registers WHERE request_id = $1
		AND register_id = 'kanta-processing-log') WHERE request_id = $1 AND register_id = 'clinic'`, requestID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cases.Registers(ctx, requestID); err == nil {
		t.Fatal("a sealed answer opened in another register's row")
	}
}

// TestASubjectIsSealedAndFoundByBlindIndexes: nothing a case holds on its subject is in its row in
// clear, yet the case is found by its subject, by the identity code and by the name; the subject
// sealed for one case does not open in another's row; and a case stored in clear before sealing is
// sealed when the services start.
func TestASubjectIsSealedAndFoundByBlindIndexes(t *testing.T) {
	s, ctx := open(t), context.Background()
	in := aino()
	in.Subject.Identifiers = append(in.Subject.Identifiers, contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: "150385-9013"})
	in.Request.Right, in.Request.Details = contracts.RightRectification, "Osoitteeni on Kuusitie 5"
	in.Request.Rectification = []contracts.Correction{{Field: "address", NewValue: "Kuusitie 5"}}
	if err := s.cases.Record(ctx, in); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := s.db.Pool.QueryRow(ctx, `SELECT row_to_json(cases)::text FROM cases WHERE request_id = $1`, requestID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Aino", "Virtanen", "150385", "aino@example.fi", "Kuusitie", "demo-aino"} {
		if strings.Contains(row, secret) {
			t.Errorf("the case's row holds %q in clear", secret)
		}
	}
	c, err := s.cases.Case(ctx, requestID)
	if err != nil || c.SubjectID != "demo-aino" || c.SubjectName != "Aino Virtanen" || c.ContactEmail != "aino@example.fi" ||
		c.Details != in.Request.Details || !strings.Contains(string(c.Rectification), "Kuusitie 5") {
		t.Fatalf("the case opened: %+v, %v", c, err)
	}
	for _, f := range []cases.Filter{{SubjectID: "demo-aino"}, {ByIdentityCode: "150385-9013"}, {ByName: "  aino   VIRTANEN "}} {
		if list, err := s.cases.List(ctx, f); err != nil || len(list) != 1 || list[0].RequestID != requestID {
			t.Errorf("found by %+v: %d cases, %v", f, len(list), err)
		}
	}
	for _, f := range []cases.Filter{{SubjectID: "demo-matti"}, {ByIdentityCode: "010101-123N"}, {ByName: "Aino"}} {
		if list, _ := s.cases.List(ctx, f); len(list) != 0 {
			t.Errorf("found by %+v: %d cases", f, len(list))
		}
	}
	if owned, err := s.cases.Owned(ctx, requestID, "demo-aino", ""); err != nil || !owned {
		t.Errorf("Aino's own case is not hers: %v", err)
	}
	if owned, _ := s.cases.Owned(ctx, requestID, "demo-matti", "010101-123N"); owned {
		t.Error("Aino's case is Matti's")
	}

	// A second case; the first one's sealed subject moved into its row does not open.
	other := aino()
	other.RequestID = "0195d5c8-8d3e-7c1a-9f00-000000000002"
	if err := s.cases.Record(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Pool.Exec(ctx, `UPDATE cases SET subject = (SELECT subject FROM cases WHERE request_id = $1) WHERE request_id = $2`,
		requestID, other.RequestID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cases.Case(ctx, other.RequestID); err == nil {
		t.Error("a sealed subject opened in another case's row")
	}

	// A case kept in clear, as before migration 008, is sealed at start.
	legacy := "0195d5c8-8d3e-7c1a-9f00-000000000003"
	if _, err := s.db.Pool.Exec(ctx, `INSERT INTO cases (request_id, received_at, channel, right_invoked, language, subject_id, subject_name,
		identity_method, identity_level, identifiers, contact_email, details, status, deadline, internal_target, supplied_identifiers)
		VALUES ($1, now(), 'web', 'access', 'fi', 'demo-liisa', 'Liisa Laine', 'oidc', 'high',
		'[{"type":"personal_identity_code","value":"010190-900P"}]', 'liisa@example.fi', 'Kaikki tiedot', 'received', '2026-06-01', '2026-05-29',
		'[{"type":"phone","value":"+358401110001","channel":"web","supplied_at":"2026-05-01T10:00:00Z","verified":true}]')`, legacy); err != nil {
		t.Fatal(err)
	}
	if n, err := s.cases.SealInClear(ctx); err != nil || n != 1 {
		t.Fatalf("sealed %d cases kept in clear, %v", n, err)
	}
	if n, _ := s.cases.SealInClear(ctx); n != 0 {
		t.Errorf("sealed %d again", n)
	}
	if err := s.db.Pool.QueryRow(ctx, `SELECT row_to_json(cases)::text FROM cases WHERE request_id = $1`, legacy).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Liisa", "010190", "liisa@example.fi", "Kaikki", "+358401110001", "demo-liisa"} {
		if strings.Contains(row, secret) {
			t.Errorf("the case kept in clear still holds %q", secret)
		}
	}
	c, err = s.cases.Case(ctx, legacy)
	if err != nil || c.SubjectName != "Liisa Laine" || len(c.SuppliedIdentifiers()) != 1 || c.SuppliedIdentifiers()[0].Value != "+358401110001" {
		t.Fatalf("the sealed legacy case: %+v, %v", c, err)
	}
	if list, _ := s.cases.List(ctx, cases.Filter{SubjectID: "demo-liisa"}); len(list) != 1 {
		t.Errorf("the sealed legacy case is not found by its subject: %d", len(list))
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
