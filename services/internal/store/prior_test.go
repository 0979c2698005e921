package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/workflows/request"
)

// TestPriorRequestsAreThePersonsWhateverTheChannel: for the Art 12(5) check, a person's earlier
// requests are those made signed in and the letters the office registered for them once a clerk
// verified their identity; a letter nobody verified may name anyone, and does not count.
func TestPriorRequestsAreThePersonsWhateverTheChannel(t *testing.T) {
	s, ctx := open(t), context.Background()
	code := func(c string) []contracts.Identifier {
		return []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: c}}
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		id, subject, level string
		identifiers        []contracts.Identifier
	}{
		{"0195d5c8-8d3e-7c1a-9f00-00000000a001", "demo-aino", "substantial", code("150385-9013")},  // in the portal
		{"0195d5c8-8d3e-7c1a-9f00-00000000a002", "office:a002", "verified", code("150385-9013")},   // a letter, verified
		{"0195d5c8-8d3e-7c1a-9f00-00000000a003", "office:a003", "unverified", code("150385-9013")}, // a letter nobody verified
		{"0195d5c8-8d3e-7c1a-9f00-00000000a004", "demo-matti", "substantial", code("020794-9029")},
	} {
		in := aino()
		in.RequestID, in.Subject.ID, in.Subject.IdentityLevel, in.Subject.Identifiers = c.id, c.subject, c.level, c.identifiers
		in.ReceivedAt = at.AddDate(0, 0, i)
		in.Receipt = request.ReceiptOf(in.ReceivedAt)
		if err := s.cases.Record(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	prior, err := s.cases.Prior(ctx, request.Subject{ID: "office:a005", Identifiers: code("150385-9013")}, at.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	var days []int
	for _, p := range prior {
		days = append(days, p.ReceivedAt.Day())
	}
	slices.Sort(days)
	if want := []int{2, 3}; !slices.Equal(days, want) {
		t.Fatalf("Aino's earlier requests were received on the %v, want her portal request (2nd) and her verified letter (3rd)", days)
	}
}
