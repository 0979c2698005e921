package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func enqueue(ctx context.Context, tx pgx.Tx, requestID string, n Notification) error {
	if n.Payload == nil {
		n.Payload = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox (dedup_key, kind, request_id, recipient, language, payload)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (dedup_key) DO NOTHING`, n.DedupKey, n.Kind, requestID, n.Recipient, n.Language, n.Payload)
	if err != nil {
		return fmt.Errorf("store: enqueue %s: %w", n.Kind, err)
	}
	return nil
}

// OutboxMessage is a notification waiting to be sent.
type OutboxMessage struct {
	ID        int64
	Kind      string
	RequestID string
	Recipient string
	Language  string
	Payload   map[string]any
	CreatedAt time.Time
}

// SendPending hands each unsent message to send, one at a time, each in its own transaction that
// locks the row: several notifiers can run, and a message is marked sent only after send succeeds.
// A message that fails is retried on a later call.
func (db *DB) SendPending(ctx context.Context, limit int, send func(context.Context, pgx.Tx, OutboxMessage) error) (int, error) {
	sent := 0
	for range limit {
		done := false
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			var m OutboxMessage
			err := tx.QueryRow(ctx, `SELECT id, kind, coalesce(request_id::text, ''), recipient, language, payload, created_at FROM outbox
				WHERE sent_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`).
				Scan(&m.ID, &m.Kind, &m.RequestID, &m.Recipient, &m.Language, &m.Payload, &m.CreatedAt)
			if err == pgx.ErrNoRows {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			if err := send(ctx, tx, m); err != nil {
				return fmt.Errorf("send outbox message %d: %w", m.ID, err)
			}
			// A one-time code, and the identifier it went to (perhaps not the subject's), are kept no
			// longer than it takes to deliver them.
			_, err = tx.Exec(ctx, `UPDATE outbox SET sent_at = now(), attempts = attempts + 1, payload = payload - 'code',
				recipient = CASE WHEN kind = $2 THEN '' ELSE recipient END WHERE id = $1`, m.ID, KindIdentifierCode)
			return err
		})
		if err != nil {
			return sent, fmt.Errorf("store: outbox: %w", err)
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

// CaptureInMailbox stores a message in the dev mailbox, within the outbox's transaction.
func CaptureInMailbox(ctx context.Context, tx pgx.Tx, outboxID int64, m MailboxMessage) error {
	_, err := tx.Exec(ctx, `INSERT INTO dev_mailbox (outbox_id, channel, recipient, subject, body) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (outbox_id) DO NOTHING`, outboxID, m.Channel, m.Recipient, m.Subject, m.Body)
	return err
}

// Mailbox lists the dev mailbox, newest first.
func (db *DB) Mailbox(ctx context.Context, limit int) ([]MailboxMessage, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, channel, recipient, subject, body, sent_at FROM dev_mailbox ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: mailbox: %w", err)
	}
	defer rows.Close()
	var out []MailboxMessage
	for rows.Next() {
		var m MailboxMessage
		if err := rows.Scan(&m.ID, &m.Channel, &m.Recipient, &m.Subject, &m.Body, &m.SentAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
