package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/workflows/codec"
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
	if _, _, _, err := s.cases.RecordAnswer(ctx, requestID, "clinic", contracts.StatusFound, clear); err != nil {
		t.Fatal(err)
	}
	keys, _ := codec.ParseKeys(codec.NewKey("k1"))
	sealing := cases.New(s.db, keys)
	answer := json.RawMessage(`{"status":"found","records":[{"category":"processing log","fields":{"organisation":"Esimerkkilän terveyskeskus"}}]}`)
	if _, _, _, err := sealing.RecordAnswer(ctx, requestID, "kanta-processing-log", contracts.StatusFound, answer); err != nil {
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
	got, err := sealing.Registers(ctx, requestID)
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
	if _, err := sealing.Registers(ctx, requestID); err == nil {
		t.Fatal("a sealed answer opened in another register's row")
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
