package store

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestPriorRequestsAreThePersonsWhateverTheChannel: for the Art 12(5) check, a person's earlier
// requests are those made signed in and the letters the office registered for them once a clerk
// verified their identity; a letter nobody verified may name anyone, and does not count.
func TestPriorRequestsAreThePersonsWhateverTheChannel(t *testing.T) {
	db, ctx := open(t), context.Background()
	const aino = `[{"type":"personal_identity_code","value":"150385-9013"}]`
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i, c := range []struct{ id, subject, level, identifiers string }{
		{"0195d5c8-8d3e-7c1a-9f00-00000000a001", "demo-aino", "substantial", aino},  // in the portal
		{"0195d5c8-8d3e-7c1a-9f00-00000000a002", "office:a002", "verified", aino},   // a letter, verified
		{"0195d5c8-8d3e-7c1a-9f00-00000000a003", "office:a003", "unverified", aino}, // a letter nobody verified
		{"0195d5c8-8d3e-7c1a-9f00-00000000a004", "demo-matti", "substantial", `[{"type":"personal_identity_code","value":"020794-9029"}]`},
	} {
		k := newCase()
		k.RequestID, k.SubjectID, k.IdentityLevel, k.Identifiers = c.id, c.subject, c.level, json.RawMessage(c.identifiers)
		k.ReceivedAt = at.AddDate(0, 0, i)
		if err := db.RecordReceipt(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	prior, err := db.PriorRequests(ctx, "office:a005", "150385-9013", at.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range prior {
		ids = append(ids, c.RequestID)
	}
	slices.Sort(ids)
	if want := []string{"0195d5c8-8d3e-7c1a-9f00-00000000a001", "0195d5c8-8d3e-7c1a-9f00-00000000a002"}; !slices.Equal(ids, want) {
		t.Fatalf("Aino's earlier requests: %v, want her portal request and her verified letter", ids)
	}
}
