// Package outbox is the messages waiting to be sent: each is written in the same transaction as
// the decision that causes it, and the notifier delivers it after.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
)

// Kind is what a message says; the notifier has its words in every language.
type Kind string

// The kinds of message, to the subject unless said otherwise.
const (
	KindRequestReceived     Kind = "request_received"      // the receipt: the request was received, with its reference and deadline
	KindReplyReady          Kind = "reply_ready"           // the reply can be read in the portal
	KindDeadlineExtended    Kind = "deadline_extended"     // the deadline was extended, with reasons (Art 12(3))
	KindInformationNeeded   Kind = "information_needed"    // an identifier would let more registers be searched (Art 11(2))
	KindRequestWithdrawn    Kind = "request_withdrawn"     // the subject withdrew the request
	KindLiftNotice          Kind = "lift_notice"           // the restriction will be lifted (Art 18(3))
	KindRestrictionLifted   Kind = "restriction_lifted"    // the restriction was lifted
	KindIdentityNotVerified Kind = "identity_not_verified" // a letter writer's identity could not be established, with reasons
	KindIdentifierCode      Kind = "identifier_code"       // a one-time code, to the identifier it confirms
	KindDeadlineReminder    Kind = "deadline_reminder"     // to the office: the deadline is near
	KindDeadlineMissed      Kind = "deadline_missed"       // to the office: the deadline passed without a reply
	KindDisclosureNotice    Kind = "disclosure_notice"     // new disclosures of the subject's data can be seen (store/events)
)

// Kinds lists every kind of message.
var Kinds = []Kind{KindRequestReceived, KindReplyReady, KindDeadlineExtended, KindInformationNeeded, KindRequestWithdrawn, KindLiftNotice,
	KindRestrictionLifted, KindIdentityNotVerified, KindIdentifierCode, KindDeadlineReminder, KindDeadlineMissed, KindDisclosureNotice}

// Notice is a message to send. Its dedup key makes a step that is retried send nothing twice.
type Notice struct {
	DedupKey  string
	Kind      Kind
	Recipient string
	Language  string
	Payload   map[string]any
}

// contents are a message's recipient and payload, sealed together with the message (store.Keyring's
// Messages): an address, a one-time code or the reasons told to a subject are not kept in clear.
type contents struct {
	Recipient string         `json:"recipient"`
	Payload   map[string]any `json:"payload"`
}

func binding(dedupKey string) string { return "outbox/" + dedupKey }

// Enqueue queues a message within the transaction of the step that causes it; requestID is "" for a
// message about no request.
func Enqueue(ctx context.Context, tx pgx.Tx, db *store.DB, requestID string, n Notice) error {
	if n.Payload == nil {
		n.Payload = map[string]any{}
	}
	sealed, err := store.SealJSON(db.Keys.Messages, contents{Recipient: n.Recipient, Payload: n.Payload}, binding(n.DedupKey))
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.Kind, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (dedup_key, kind, request_id, recipient, language, sealed)
		VALUES ($1,$2,nullif($3, '')::uuid,'',$4,$5) ON CONFLICT (dedup_key) DO NOTHING`, n.DedupKey, n.Kind, requestID, n.Language, sealed)
	if err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", n.Kind, err)
	}
	return nil
}

// Queued reports whether a message with the dedup key was queued before: the step that queues it
// was done before, and is being retried.
func Queued(ctx context.Context, tx pgx.Tx, dedupKey string) (bool, error) {
	tag, err := tx.Exec(ctx, `SELECT 1 FROM outbox WHERE dedup_key = $1`, dedupKey)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Message is a message waiting to be sent.
type Message struct {
	ID        int64
	Kind      Kind
	RequestID string
	Recipient string
	Language  string
	Payload   map[string]any
	CreatedAt time.Time
}

// Outbox sends what is queued.
type Outbox struct{ db *store.DB }

// New is the outbox of a database.
func New(db *store.DB) *Outbox { return &Outbox{db: db} }

// SendPending hands each unsent message to send, one at a time, each in its own transaction that
// locks the row: several notifiers can run, and a message is marked sent only after send succeeds.
// A message that fails is retried on a later call.
func (o *Outbox) SendPending(ctx context.Context, limit int, send func(context.Context, pgx.Tx, Message) error) (int, error) {
	sent := 0
	for range limit {
		done := false
		err := pgx.BeginFunc(ctx, o.db.Pool, func(tx pgx.Tx) error {
			var m Message
			var dedupKey string
			var sealed []byte
			err := tx.QueryRow(ctx, `SELECT id, dedup_key, kind, coalesce(request_id::text, ''), recipient, language, payload, sealed, created_at
				FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).
				Scan(&m.ID, &dedupKey, &m.Kind, &m.RequestID, &m.Recipient, &m.Language, &m.Payload, &sealed, &m.CreatedAt)
			if err == pgx.ErrNoRows {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			var c contents
			switch err := store.OpenJSON(o.db.Keys.Messages, sealed, binding(dedupKey), &c); {
			case err == nil:
				m.Recipient, m.Payload = c.Recipient, c.Payload
			case !errors.Is(err, store.ErrNotSealed): // queued in clear before messages were sealed
				return err
			}
			if err := send(ctx, tx, m); err != nil {
				return fmt.Errorf("send outbox message %d: %w", m.ID, err)
			}
			// A one-time code, and the identifier it went to (perhaps not the subject's), are kept no
			// longer than it takes to deliver them; a message queued in clear is emptied once sent.
			_, err = tx.Exec(ctx, `UPDATE outbox SET sent_at = now(), attempts = attempts + 1, payload = '{}', recipient = '',
				sealed = CASE WHEN kind = $2 THEN NULL ELSE sealed END WHERE id = $1`, m.ID, KindIdentifierCode)
			return err
		})
		if err != nil {
			return sent, fmt.Errorf("outbox: %w", err)
		}
		if done {
			break
		}
		sent++
	}
	return sent, nil
}

// MailboxMessage is a message the dev notifier captured.
type MailboxMessage struct {
	ID        int64     `json:"id"`
	Channel   string    `json:"channel"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	SentAt    time.Time `json:"sent_at"`
}

func mailboxBinding(outboxID int64) string { return "dev_mailbox/" + strconv.FormatInt(outboxID, 10) }

// CaptureInMailbox stores a message in the dev mailbox, within the outbox's transaction: sealed,
// as the outbox keeps it, since it holds what the outbox did.
func (o *Outbox) CaptureInMailbox(ctx context.Context, tx pgx.Tx, outboxID int64, m MailboxMessage) error {
	sealed, err := store.SealJSON(o.db.Keys.Messages, m, mailboxBinding(outboxID))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO dev_mailbox (outbox_id, channel, recipient, subject, body, sealed) VALUES ($1,$2,'','','',$3)
		ON CONFLICT (outbox_id) DO NOTHING`, outboxID, m.Channel, sealed)
	return err
}

// Mailbox lists the dev mailbox, newest first.
func (o *Outbox) Mailbox(ctx context.Context, limit int) ([]MailboxMessage, error) {
	rows, err := o.db.Pool.Query(ctx, `SELECT id, outbox_id, sealed, sent_at FROM dev_mailbox ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: mailbox: %w", err)
	}
	defer rows.Close()
	var out []MailboxMessage
	for rows.Next() {
		var id, outboxID int64
		var sealed []byte
		var at time.Time
		if err := rows.Scan(&id, &outboxID, &sealed, &at); err != nil {
			return nil, err
		}
		var m MailboxMessage
		if err := store.OpenJSON(o.db.Keys.Messages, sealed, mailboxBinding(outboxID), &m); err != nil {
			return nil, fmt.Errorf("outbox: mailbox: %w", err)
		}
		m.ID, m.SentAt = id, at
		out = append(out, m)
	}
	return out, rows.Err()
}
