// Package challenges keeps the one-time codes that confirm an identifier a subject supplies.
package challenges

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
)

// Store keeps the one-time codes.
type Store struct{ db *store.DB }

// New is the challenge store of a database.
func New(db *store.DB) *Store { return &Store{db: db} }

// An identifier the subject supplies is used only once the subject proves it is theirs by a one-time
// code sent to it: without that, anyone signed in could type another person's phone number and be
// given that person's data.
const (
	// ChallengeTTL is how long a code is valid.
	ChallengeTTL = 15 * time.Minute
	// ChallengeAttempts is how many codes may be tried; the last wrong one spends the challenge.
	ChallengeAttempts = 5
	// ChallengesPerDay is how many codes one request may have sent in 24 hours, and
	// ChallengesPerSubjectDay how many one subject may, over all their requests: each goes to a number
	// or address the subject typed, which may be a stranger's, so the platform must not become a way
	// to flood someone with texts.
	ChallengesPerDay        = 5
	ChallengesPerSubjectDay = 10
	// MethodOneTimeCode names how a supplied identifier was confirmed, on the case and in the record.
	MethodOneTimeCode = "one_time_code"
)

// Challenge is an open one-time code for an identifier of a request. Value is empty once the
// challenge has ended.
type Challenge struct {
	ID         string
	RequestID  string
	Type       string
	Value      string
	Channel    string
	ExpiresAt  time.Time
	Attempts   int
	VerifiedAt *time.Time
}

// Why a code was not accepted.
var (
	// ErrNoChallenge: no code is pending for the request (never asked, already used, or spent).
	ErrNoChallenge = errors.New("no code is pending")
	// ErrCodeExpired: the code was not given in time; the challenge is spent.
	ErrCodeExpired = errors.New("the code has expired")
	// ErrCodeSpent: the last allowed attempt was wrong; the challenge is spent.
	ErrCodeSpent = errors.New("too many wrong codes")
	// ErrTooManyCodes: the request has had ChallengesPerDay codes sent in the last 24 hours, or its
	// subject ChallengesPerSubjectDay.
	ErrTooManyCodes = errors.New("too many codes sent for this request today")
)

// WrongCodeError is a wrong code with attempts left.
type WrongCodeError struct{ Left int }

func (e *WrongCodeError) Error() string { return fmt.Sprintf("wrong code, %d attempts left", e.Left) }

// New makes a one-time code for an identifier the subject supplied to a request, and
// queues it to that identifier through the outbox, in one transaction. An open challenge for the
// same request and type is replaced: its code no longer works and, if not sent yet, is not sent.
// value must be normalized already. channel is where it was supplied ("web" or "api"); language is
// the message's.
func (s *Store) New(ctx context.Context, requestID, subjectID, idType, value, channel, language string) (Challenge, error) {
	c := Challenge{ID: uuid.NewString(), RequestID: requestID, Type: idType, Value: value, Channel: channel}
	code, err := newCode()
	if err != nil {
		return c, fmt.Errorf("challenges: new challenge: %w", err)
	}
	sealed, err := store.SealJSON(s.db.Keys.Subjects, value, valueBinding(c.ID))
	if err != nil {
		return c, fmt.Errorf("challenges: new challenge: %w", err)
	}
	x := s.db.Keys.Index
	subjectKey := x.Of(indexSubject, subjectID)
	sendBy := "email"
	if idType == "phone" {
		sendBy = "sms"
	}
	err = pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		// Serialize the subject's challenges, so that parallel calls cannot pass the counts together.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(encode($1::bytea, 'hex'), 7412119))`, subjectKey); err != nil {
			return err
		}
		var forRequest, forSubject int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE request_id = $1), count(*) FILTER (WHERE subject_key = ANY($2))
			FROM identifier_challenges WHERE (request_id = $1 OR subject_key = ANY($2)) AND created_at > now() - interval '24 hours'`,
			requestID, x.All(indexSubject, subjectID)).Scan(&forRequest, &forSubject); err != nil {
			return err
		}
		if forRequest >= ChallengesPerDay || forSubject >= ChallengesPerSubjectDay {
			return ErrTooManyCodes
		}
		// Values of challenges that ran out are erased here rather than by a separate job.
		if _, err := tx.Exec(ctx, `UPDATE identifier_challenges SET value_sealed = NULL, value_key = NULL, spent_at = coalesce(spent_at, now())
			WHERE value_sealed IS NOT NULL AND expires_at < now()`); err != nil {
			return err
		}
		var old string
		err := tx.QueryRow(ctx, `UPDATE identifier_challenges SET spent_at = now(), value_sealed = NULL, value_key = NULL
			WHERE request_id = $1 AND identifier_type = $2 AND used_at IS NULL AND spent_at IS NULL RETURNING id::text`,
			requestID, idType).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if old != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE dedup_key = $1 AND sent_at IS NULL`, string(outbox.KindIdentifierCode)+"/"+old); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO identifier_challenges (id, request_id, identifier_type, value_sealed, value_key, channel, code_hash,
			expires_at, max_attempts, subject_key) VALUES ($1,$2,$3,$4,$5,$6,$7, now() + $8::interval, $9, $10) RETURNING expires_at`,
			c.ID, requestID, idType, sealed, x.Of(indexValue, idType+":"+value), channel, x.Of(indexCode, c.ID+":"+code),
			fmt.Sprintf("%d seconds", int(ChallengeTTL.Seconds())), ChallengeAttempts, subjectKey).Scan(&c.ExpiresAt); err != nil {
			return err
		}
		if err := outbox.Enqueue(ctx, tx, s.db, requestID, outbox.Notice{DedupKey: string(outbox.KindIdentifierCode) + "/" + c.ID, Kind: outbox.KindIdentifierCode,
			Recipient: value, Language: language, Payload: map[string]any{"code": code, "channel": sendBy,
				"minutes": int(ChallengeTTL.Minutes())}}); err != nil {
			return err
		}
		return record.Append(ctx, tx, s.db, record.Entry{Actor: "data subject", Role: "subject", Action: "identifier_code_sent", RequestID: requestID,
			Detail: map[string]any{"type": idType, "channel": channel, "sent_by": sendBy, "replaced": old != ""}})
	})
	if err != nil {
		return c, fmt.Errorf("challenges: new challenge: %w", err)
	}
	return c, nil
}

// The kinds of blind index of a challenge (store.Index): its subject, the identifier it confirms
// (type:value), and its code (challenge id:code), which is kept as nothing else: an HMAC under a key
// the database does not hold, so that a copy of the table does not give a code away to a million
// guesses.
const (
	indexSubject = "subject"
	indexValue   = "challenge value"
	indexCode    = "challenge code"
)

func valueBinding(id string) string { return "identifier_challenges.value/" + id }

// newCode is six random decimal digits, uniform.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// Verify checks a code against the request's open challenge of the given type, or its
// newest open challenge when idType is empty. The right code marks the challenge verified, records
// who confirmed what and how, and returns the challenge with its value; the caller then hands the
// identifier on and calls Used. A challenge verified but not yet used (the hand-over
// failed) takes its code again, so the subject can retry. A wrong code counts: it returns a
// *WrongCodeError, or ErrCodeSpent on the last allowed attempt; an expired challenge is spent and
// returns ErrCodeExpired; none open returns ErrNoChallenge.
func (s *Store) Verify(ctx context.Context, requestID, idType, code string) (Challenge, error) {
	var c Challenge
	var outcome error
	err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		var hash, sealed []byte
		var expired bool
		var max int
		err := tx.QueryRow(ctx, `SELECT id::text, request_id::text, identifier_type, value_sealed, channel, code_hash, expires_at,
			attempts, max_attempts, verified_at, expires_at <= now() FROM identifier_challenges
			WHERE request_id = $1 AND ($2 = '' OR identifier_type = $2) AND used_at IS NULL AND spent_at IS NULL
			ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, requestID, idType).
			Scan(&c.ID, &c.RequestID, &c.Type, &sealed, &c.Channel, &hash, &c.ExpiresAt, &c.Attempts, &max, &c.VerifiedAt, &expired)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = ErrNoChallenge
			return nil
		}
		if err != nil {
			return err
		}
		if expired {
			outcome = ErrCodeExpired
			_, err := tx.Exec(ctx, `UPDATE identifier_challenges SET spent_at = now(), value_sealed = NULL, value_key = NULL WHERE id = $1`, c.ID)
			return err
		}
		if !s.db.Keys.Index.Matches(hash, indexCode, c.ID+":"+code) {
			c.Attempts++
			if c.Attempts >= max {
				outcome = ErrCodeSpent
				if _, err := tx.Exec(ctx, `UPDATE identifier_challenges SET attempts = $2, spent_at = now(), value_sealed = NULL, value_key = NULL WHERE id = $1`,
					c.ID, c.Attempts); err != nil {
					return err
				}
				return record.Append(ctx, tx, s.db, record.Entry{Actor: "data subject", Role: "subject", Action: "identifier_code_spent",
					RequestID: requestID, Detail: map[string]any{"type": c.Type, "attempts": c.Attempts}})
			}
			outcome = &WrongCodeError{Left: max - c.Attempts}
			_, err := tx.Exec(ctx, `UPDATE identifier_challenges SET attempts = $2 WHERE id = $1`, c.ID, c.Attempts)
			return err
		}
		if err := store.OpenJSON(s.db.Keys.Subjects, sealed, valueBinding(c.ID), &c.Value); err != nil && !errors.Is(err, store.ErrNotSealed) {
			return err
		}
		if c.VerifiedAt != nil {
			return nil // verified before; the hand-over is being retried
		}
		if err := tx.QueryRow(ctx, `UPDATE identifier_challenges SET verified_at = now() WHERE id = $1 RETURNING verified_at`, c.ID).
			Scan(&c.VerifiedAt); err != nil {
			return err
		}
		return record.Append(ctx, tx, s.db, record.Entry{Actor: "data subject", Role: "subject", Action: "identifier_verified", RequestID: requestID,
			Detail: map[string]any{"type": c.Type, "channel": c.Channel, "method": MethodOneTimeCode}})
	})
	if err != nil {
		return Challenge{}, fmt.Errorf("challenges: verify challenge: %w", err)
	}
	if outcome != nil {
		return Challenge{}, outcome
	}
	return c, nil
}

// Used ends a verified challenge once its identifier has been handed on (or turned out to
// be needed no more), erasing its value: its code never works again.
func (s *Store) Used(ctx context.Context, id string) error {
	if _, err := s.db.Pool.Exec(ctx, `UPDATE identifier_challenges SET used_at = now(), value_sealed = NULL, value_key = NULL WHERE id = $1 AND used_at IS NULL`, id); err != nil {
		return fmt.Errorf("challenges: challenge used: %w", err)
	}
	return nil
}

// Pending lists the request's open challenges that have not expired, newest first,
// without their values: what the case page asks a code for.
func (s *Store) Pending(ctx context.Context, requestID string) ([]Challenge, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id::text, request_id::text, identifier_type, channel, expires_at, attempts, verified_at
		FROM identifier_challenges WHERE request_id = $1 AND used_at IS NULL AND spent_at IS NULL AND expires_at > now()
		ORDER BY created_at DESC`, requestID)
	if err != nil {
		return nil, fmt.Errorf("challenges: pending challenges: %w", err)
	}
	defer rows.Close()
	var out []Challenge
	for rows.Next() {
		var c Challenge
		if err := rows.Scan(&c.ID, &c.RequestID, &c.Type, &c.Channel, &c.ExpiresAt, &c.Attempts, &c.VerifiedAt); err != nil {
			return nil, fmt.Errorf("challenges: pending challenges: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ConfirmedAt returns when a supplied identifier was confirmed by a code for the request, if it
// was, within the transaction that stores it with the case.
func ConfirmedAt(ctx context.Context, tx pgx.Tx, db *store.DB, requestID, idType, value string) (*time.Time, error) {
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT verified_at FROM identifier_challenges WHERE request_id = $1 AND identifier_type = $2
		AND value_key = ANY($3) AND verified_at IS NOT NULL AND used_at IS NULL ORDER BY verified_at DESC LIMIT 1`, requestID, idType,
		db.Keys.Index.All(indexValue, idType+":"+value)).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &at, nil
}
