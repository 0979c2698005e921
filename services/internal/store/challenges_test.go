package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/workflows/request"
)

const (
	phone   = "+358401110001"
	subject = "demo-aino"
)

// sentCode reads the code the outbox is to send for a challenge, as the notifier would.
func sentCode(t *testing.T, s stores, c challenges.Challenge) string {
	t.Helper()
	key := string(outbox.KindIdentifierCode) + "/" + c.ID
	var row string
	var sealed []byte
	err := s.db.Pool.QueryRow(context.Background(), `SELECT row_to_json(outbox)::text, sealed FROM outbox WHERE dedup_key = $1`, key).Scan(&row, &sealed)
	if err != nil {
		t.Fatalf("the code's message: %v", err)
	}
	var m struct {
		Recipient string
		Payload   struct{ Code, Channel string }
	}
	if err := store.OpenJSON(s.db.Keys.Messages, sealed, "outbox/"+key, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Payload.Code) != 6 || m.Recipient != c.Value {
		t.Fatalf("the code's message: code %q to %q", m.Payload.Code, m.Recipient)
	}
	if strings.Contains(row, m.Payload.Code) || strings.Contains(row, c.Value) {
		t.Fatalf("the outbox keeps the code or its recipient in clear: %s", row)
	}
	return m.Payload.Code
}

func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestARightCodeVerifiesOnceAndIsNotTakenAgain(t *testing.T) {
	s, ctx := open(t), context.Background()
	if err := s.cases.Record(ctx, aino()); err != nil {
		t.Fatal(err)
	}
	c, err := s.challenges.New(ctx, requestID, subject, "phone", phone, "api", "fi")
	if err != nil {
		t.Fatal(err)
	}
	code := sentCode(t, s, c)
	var row string
	var hash []byte
	if err := s.db.Pool.QueryRow(ctx, `SELECT code_hash, row_to_json(identifier_challenges)::text FROM identifier_challenges WHERE id = $1`,
		c.ID).Scan(&hash, &row); err != nil {
		t.Fatal(err)
	}
	if len(hash) != 32 || strings.Contains(row, code) || strings.Contains(row, phone) || strings.Contains(row, subject) {
		t.Errorf("the challenge keeps the code, the number or the subject in clear: %s", row)
	}
	// The code's hash is keyed: the million codes, hashed without the key, do not find it.
	for guess := range 1_000_000 {
		g := fmt.Sprintf("%06d", guess)
		if sum := sha256.Sum256([]byte(c.ID + ":" + g)); string(sum[:]) == string(hash) {
			t.Fatal("the code's hash is an unkeyed SHA-256")
		}
		if guess > 2000 {
			break // a few thousand show the hash is not the plain one; a million would only take longer
		}
	}
	// Before the code, a supplied phone number is not verified.
	if pending, err := s.challenges.Pending(ctx, requestID); err != nil || len(pending) != 1 || pending[0].Type != "phone" || pending[0].Value != "" {
		t.Fatalf("pending challenges: %+v %v", pending, err)
	}

	got, err := s.challenges.Verify(ctx, requestID, "", code)
	if err != nil || got.Value != phone || got.Type != "phone" || got.VerifiedAt == nil {
		t.Fatalf("the right code: %+v %v", got, err)
	}
	if err := s.cases.Supplied(ctx, requestID, contracts.Identifier{Type: contracts.IdentifierPhone, Value: phone}, request.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	if err := s.challenges.Used(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	k, _ := s.cases.Case(ctx, requestID)
	sup := k.SuppliedIdentifiers()
	if len(sup) != 1 || !sup[0].Verified || sup[0].VerifiedBy != challenges.MethodOneTimeCode || sup[0].VerifiedAt == nil {
		t.Errorf("the supplied number on the case: %+v", sup)
	}
	// Replaying the used code is refused, and the value is erased from the challenge.
	if _, err := s.challenges.Verify(ctx, requestID, "phone", code); !errors.Is(err, challenges.ErrNoChallenge) {
		t.Errorf("the used code again: %v, want challenges.ErrNoChallenge", err)
	}
	var value []byte
	_ = s.db.Pool.QueryRow(ctx, `SELECT value_sealed FROM identifier_challenges WHERE id = $1`, c.ID).Scan(&value)
	if value != nil {
		t.Error("a used challenge keeps its value")
	}
	trail, _ := s.record.Trail(ctx, requestID)
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
		if e.Action == "identifier_verified" && (e.Actor != "data subject" || e.Detail["method"] != challenges.MethodOneTimeCode) {
			t.Errorf("the verification's record: %+v", e)
		}
		if strings.Contains(strings.Join([]string{e.Actor, e.Purpose}, " "), phone) || strings.Contains(toJSON(e.Detail), phone) ||
			strings.Contains(toJSON(e.Detail), code) {
			t.Errorf("the record holds the number or the code: %+v", e)
		}
	}
	if strings.Join(actions, ",") != "received,identifier_code_sent,identifier_verified,identifier_supplied" {
		t.Errorf("the record: %v", actions)
	}

	// An identifier supplied without a verified challenge stays unverified.
	if err := s.cases.Supplied(ctx, requestID, contracts.Identifier{Type: contracts.IdentifierEmail, Value: "x@example.org"}, request.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	k, _ = s.cases.Case(ctx, requestID)
	if sup := k.SuppliedIdentifiers(); len(sup) != 2 || sup[1].Verified {
		t.Errorf("an identifier supplied without a code: %+v", sup)
	}
}

func TestWrongCodesAreCountedAndTheLastSpendsTheChallenge(t *testing.T) {
	s, ctx := open(t), context.Background()
	c, err := s.challenges.New(ctx, requestID, subject, "phone", phone, "web", "en")
	if err != nil {
		t.Fatal(err)
	}
	code := sentCode(t, s, c)
	for i := 1; i < challenges.ChallengeAttempts; i++ {
		_, err := s.challenges.Verify(ctx, requestID, "phone", wrong(code))
		var w *challenges.WrongCodeError
		if !errors.As(err, &w) || w.Left != challenges.ChallengeAttempts-i {
			t.Fatalf("wrong code %d: %v, want %d attempts left", i, err, challenges.ChallengeAttempts-i)
		}
	}
	if _, err := s.challenges.Verify(ctx, requestID, "phone", wrong(code)); !errors.Is(err, challenges.ErrCodeSpent) {
		t.Fatalf("the last wrong code: %v, want challenges.ErrCodeSpent", err)
	}
	if _, err := s.challenges.Verify(ctx, requestID, "phone", code); !errors.Is(err, challenges.ErrNoChallenge) {
		t.Errorf("the right code after the challenge was spent: %v, want challenges.ErrNoChallenge", err)
	}
	var attempts int
	var value []byte
	_ = s.db.Pool.QueryRow(ctx, `SELECT attempts, value_sealed FROM identifier_challenges WHERE id = $1`, c.ID).Scan(&attempts, &value)
	if attempts != challenges.ChallengeAttempts || value != nil {
		t.Errorf("spent challenge: %d attempts, value kept %v", attempts, value != nil)
	}
}

func TestAnExpiredCodeIsRefusedAndANewChallengeReplacesTheOld(t *testing.T) {
	s, ctx := open(t), context.Background()
	old, err := s.challenges.New(ctx, requestID, subject, "phone", phone, "web", "sv")
	if err != nil {
		t.Fatal(err)
	}
	oldCode := sentCode(t, s, old)
	// A new challenge for the same type replaces the old: the old code is not sent, and does not work.
	c, err := s.challenges.New(ctx, requestID, subject, "phone", "+358401110002", "web", "sv")
	if err != nil {
		t.Fatal(err)
	}
	code := sentCode(t, s, c)
	var n int
	_ = s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE kind = $1`, outbox.KindIdentifierCode).Scan(&n)
	if n != 1 {
		t.Errorf("%d code messages queued, want only the new one", n)
	}
	if oldCode != code {
		if _, err := s.challenges.Verify(ctx, requestID, "phone", oldCode); err == nil {
			t.Error("the replaced challenge's code works")
		}
	}
	// The challenge expires (moved into the past, not waited for).
	if _, err := s.db.Pool.Exec(ctx, `UPDATE identifier_challenges SET expires_at = now() - interval '1 second' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.challenges.Pending(ctx, requestID); len(p) != 0 {
		t.Errorf("an expired challenge is pending: %+v", p)
	}
	if _, err := s.challenges.Verify(ctx, requestID, "phone", code); !errors.Is(err, challenges.ErrCodeExpired) {
		t.Errorf("an expired code: %v, want challenges.ErrCodeExpired", err)
	}
	if _, err := s.challenges.Verify(ctx, requestID, "phone", code); !errors.Is(err, challenges.ErrNoChallenge) {
		t.Errorf("the expired code again: %v, want challenges.ErrNoChallenge", err)
	}
}

func TestADeliveredCodeLeavesTheOutbox(t *testing.T) {
	s, ctx := open(t), context.Background()
	c, err := s.challenges.New(ctx, requestID, subject, "email", "aino@example.org", "api", "fi")
	if err != nil {
		t.Fatal(err)
	}
	code := sentCode(t, s, c)
	var got outbox.Message
	if _, err := s.outbox.SendPending(ctx, 10, func(_ context.Context, _ pgx.Tx, m outbox.Message) error { got = m; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.Payload["code"] != code || got.Recipient != "aino@example.org" || got.Payload["channel"] != "email" {
		t.Fatalf("the notifier was given %+v", got)
	}
	var sealed []byte
	_ = s.db.Pool.QueryRow(ctx, `SELECT sealed FROM outbox WHERE id = $1`, got.ID).Scan(&sealed)
	if sealed != nil {
		t.Errorf("after delivery the outbox keeps the code, sealed")
	}
}

// TestARequestGetsAFewCodesADay: the number is whatever the subject typed, maybe a stranger's, so a
// request cannot have codes texted to it without end.
func TestARequestGetsAFewCodesADay(t *testing.T) {
	s, ctx := open(t), context.Background()
	for i := range challenges.ChallengesPerDay {
		if _, err := s.challenges.New(ctx, requestID, subject, "phone", phone, "api", "fi"); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
	}
	if _, err := s.challenges.New(ctx, requestID, subject, "email", "aino@example.fi", "api", "fi"); !errors.Is(err, challenges.ErrTooManyCodes) {
		t.Fatalf("code %d in a day: %v, want challenges.ErrTooManyCodes", challenges.ChallengesPerDay+1, err)
	}
	var queued int
	_ = s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE kind = $1 AND sent_at IS NULL`, outbox.KindIdentifierCode).Scan(&queued)
	if queued != 1 {
		t.Errorf("%d codes queued, want only the last one allowed (each replaced the one before)", queued)
	}
	// A day later the request may have codes sent again.
	if _, err := s.db.Pool.Exec(ctx, `UPDATE identifier_challenges SET created_at = created_at - interval '25 hours'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.challenges.New(ctx, requestID, subject, "phone", phone, "api", "fi"); err != nil {
		t.Fatalf("the next day: %v", err)
	}
}

// TestASubjectGetsAFewCodesADayOverAllRequests: opening request after request does not lift the limit.
func TestASubjectGetsAFewCodesADayOverAllRequests(t *testing.T) {
	s, ctx := open(t), context.Background()
	for i := range challenges.ChallengesPerSubjectDay {
		id := fmt.Sprintf("0195d5c8-8d3e-7c1a-9f00-%012d", 100+i/2) // two codes per request
		if _, err := s.challenges.New(ctx, id, subject, "phone", phone, "api", "fi"); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
	}
	if _, err := s.challenges.New(ctx, "0195d5c8-8d3e-7c1a-9f00-000000000999", subject, "phone", phone, "api", "fi"); !errors.Is(err, challenges.ErrTooManyCodes) {
		t.Fatalf("the subject's code %d in a day, on a new request: %v, want challenges.ErrTooManyCodes", challenges.ChallengesPerSubjectDay+1, err)
	}
	if _, err := s.challenges.New(ctx, "0195d5c8-8d3e-7c1a-9f00-000000000999", "demo-matti", "phone", "+358401110002", "api", "fi"); err != nil {
		t.Fatalf("another subject is not limited by this one: %v", err)
	}
}
