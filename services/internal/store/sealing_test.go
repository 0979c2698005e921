package store

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"kirjaamo.dev/workflows/codec"
)

// TestAnswersAreSealedAtRest: what a register returns on a subject is kept sealed, opens only in its
// own row, and answers kept in clear before sealing was turned on are still read.
func TestAnswersAreSealedAtRest(t *testing.T) {
	db, ctx := open(t), context.Background()
	if err := db.RecordReceipt(ctx, newCase()); err != nil {
		t.Fatal(err)
	}
	regs := []CaseRegister{
		{RegisterID: "kanta-processing-log", DeclarationDigest: "sha256:a", Plan: json.RawMessage(`{}`), Awaited: true},
		{RegisterID: "clinic", DeclarationDigest: "sha256:a", Plan: json.RawMessage(`{}`), Awaited: true},
	}
	if err := db.SavePlan(ctx, requestID, regs); err != nil {
		t.Fatal(err)
	}
	// The clinic answered before sealing was turned on.
	clear := json.RawMessage(`{"status":"found","records":[{"category":"invitations","fields":{"event":"Webinar"}}]}`)
	if _, err := db.RecordResult(ctx, requestID, "clinic", "found", clear); err != nil {
		t.Fatal(err)
	}
	keys, _ := codec.ParseKeys(codec.NewKey("k1"))
	db.SealAnswersWith(keys)
	answer := json.RawMessage(`{"status":"found","records":[{"category":"processing log","fields":{"organisation":"Esimerkkilän terveyskeskus"}}]}`)
	if _, err := db.RecordResult(ctx, requestID, "kanta-processing-log", "found", answer); err != nil {
		t.Fatal(err)
	}

	var raw string
	if err := db.Pool.QueryRow(ctx, `SELECT result::text FROM case_registers WHERE request_id = $1 AND register_id = 'kanta-processing-log'`,
		requestID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "Esimerkkilän") || !strings.Contains(raw, "sealed_v1") {
		t.Fatalf("the answer is kept in clear: %s", raw)
	}
	got, err := db.CaseRegisters(ctx, requestID)
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
	if _, err := db.Pool.Exec(ctx, `UPDATE case_registers SET result = (SELECT result FROM case_registers WHERE request_id = $1
		AND register_id = 'kanta-processing-log') WHERE request_id = $1 AND register_id = 'clinic'`, requestID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CaseRegisters(ctx, requestID); err == nil {
		t.Fatal("a sealed answer opened in another register's row")
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
