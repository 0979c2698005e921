package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store/outbox"
)

// Checkpoint signs and publishes the head of each log that grew since its last checkpoint, and
// keeps the checkpoint here too, so that a page can say which published checkpoint covers an event.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.out == nil {
		return errors.New("events: this process publishes no checkpoints")
	}
	if err := s.loadLogs(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	ids := make(map[int16]string, len(s.ids))
	for id, reg := range s.ids {
		ids[id] = reg
	}
	s.mu.Unlock()
	var errs []error
	for log, registerID := range ids {
		s.mu.Lock()
		c, ok := s.checkpointers[log]
		if !ok {
			c = &ledger.Checkpointer{Log: Log(registerID), Head: s.head(log), Signer: s.signer, Out: *s.out}
			s.checkpointers[log] = c
		}
		s.mu.Unlock()
		cp, err := c.Once(ctx)
		if err == nil && cp != nil {
			// As published: its time to the nanosecond, as signed.
			_, err = s.db.Pool.Exec(ctx, `INSERT INTO processing_checkpoints (log, seq, checkpoint) VALUES ($1,$2,$3)
				ON CONFLICT (log, seq) DO NOTHING`, log, cp.Seq, cp)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("events: checkpoint %s: %w", Log(registerID), err))
		}
	}
	return errors.Join(errs...)
}

// head is a log's last block: its sequence number and link, 0 for an empty log. A log whose head
// a checkpoint kept here names already is not checkpointed again, by this process or another.
func (s *Store) head(log int16) ledger.Head {
	return func(ctx context.Context) (int64, []byte, error) {
		var seq int64
		var link []byte
		var checkpointed bool
		err := s.db.Pool.QueryRow(ctx, `SELECT b.seq, b.link, EXISTS (SELECT 1 FROM processing_checkpoints c WHERE c.log = b.log AND c.seq = b.seq)
			FROM processing_blocks b WHERE b.log = $1 ORDER BY b.seq DESC LIMIT 1`, log).Scan(&seq, &link, &checkpointed)
		if errors.Is(err, pgx.ErrNoRows) || checkpointed {
			return 0, nil, nil
		}
		return seq, link, err
	}
}

// Checkpoints are the checkpoints of a register's log kept here, oldest first.
func (s *Store) Checkpoints(ctx context.Context, registerID string) ([]ledger.Checkpoint, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT c.checkpoint FROM processing_checkpoints c
		JOIN processing_logs l ON l.id = c.log WHERE l.register_id = $1 ORDER BY c.seq`, registerID)
	if err != nil {
		return nil, fmt.Errorf("events: checkpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[ledger.Checkpoint])
	if err != nil {
		return nil, fmt.Errorf("events: checkpoints: %w", err)
	}
	return out, nil
}

// Expire deletes each register's events that are older than its retention before now, through the
// owner's function: the services' role may not delete an event itself. A register without a
// retention here keeps its events.
func (s *Store) Expire(ctx context.Context, retention map[string]contracts.Period, now time.Time) (int64, error) {
	if err := s.loadLogs(ctx); err != nil {
		return 0, err
	}
	var total int64
	for registerID, keep := range retention {
		s.mu.Lock()
		log, ok := s.logs[registerID]
		s.mu.Unlock()
		if !ok {
			continue
		}
		var n int64
		if err := s.db.Pool.QueryRow(ctx, `SELECT processing_expire($1, $2)`, log, keep.Before(now)).Scan(&n); err != nil {
			return total, fmt.Errorf("events: expire %s: %w", registerID, err)
		}
		total += n
	}
	return total, nil
}

// Held is how many events a register holds back from the people they are about, and when they come
// due: all the registry office sees of them.
type Held struct {
	RegisterID string
	Count      int
	Next, Last time.Time
}

// HeldBack counts the events under embargo at now, per register.
func (s *Store) HeldBack(ctx context.Context, now time.Time) ([]Held, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT l.register_id, count(*), min(e.embargo_until), max(e.embargo_until)
		FROM processing_events e JOIN processing_logs l ON l.id = e.log
		WHERE e.embargo_until IS NOT NULL AND e.embargo_until > $1 GROUP BY l.register_id ORDER BY l.register_id`, now)
	if err != nil {
		return nil, fmt.Errorf("events: held back: %w", err)
	}
	defer rows.Close()
	var out []Held
	for rows.Next() {
		var h Held
		if err := rows.Scan(&h.RegisterID, &h.Count, &h.Next, &h.Last); err != nil {
			return nil, fmt.Errorf("events: held back: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Subscription is a person's request to be told by e-mail of a new disclosure of their data.
type Subscription struct {
	Address  string
	Language contracts.Language
	Since    time.Time
}

// personKey is what a subscription is found by: the blind index of the person's first identifier
// (the identity code they signed in with).
func (s *Store) personKey(person []contracts.Identifier) ([]byte, error) {
	if len(person) == 0 {
		return nil, errors.New("events: a person without identifiers")
	}
	id := person[0]
	return s.db.Keys.Index.Of("processing subscriber "+string(id.Type), contracts.Normalize(id.Type, id.Value)), nil
}

// Subscribe asks for a notice by e-mail, to address and in a language, of each disclosure of the
// person's data that becomes visible to them from now on; asking again changes the address and the
// language.
func (s *Store) Subscribe(ctx context.Context, person []contracts.Identifier, address string, lang contracts.Language, now time.Time) error {
	key, err := s.personKey(person)
	if err != nil {
		return err
	}
	keyID, sealed, err := s.db.Keys.Processing.Seal([]byte(address), append([]byte("processing subscriber\x00"), key...))
	if err != nil {
		return fmt.Errorf("events: subscribe: %w", err)
	}
	return pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO processing_subscribers (person, address, key_id, language, since) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (person) DO UPDATE SET address = excluded.address, key_id = excluded.key_id, language = excluded.language
			RETURNING id`, key, sealed, keyID, string(lang), now).Scan(&id)
		if err != nil {
			return fmt.Errorf("events: subscribe: %w", err)
		}
		for _, k := range s.SubjectKeys(person) {
			if _, err := tx.Exec(ctx, `INSERT INTO processing_subscriber_keys (subject, subscriber) VALUES ($1, $2)
				ON CONFLICT (subject) DO UPDATE SET subscriber = excluded.subscriber`, k, id); err != nil {
				return fmt.Errorf("events: subscribe: %w", err)
			}
		}
		return nil
	})
}

// Unsubscribe ends a person's notices, and forgets their address.
func (s *Store) Unsubscribe(ctx context.Context, person []contracts.Identifier) error {
	key, err := s.personKey(person)
	if err != nil {
		return err
	}
	if _, err := s.db.Pool.Exec(ctx, `DELETE FROM processing_subscribers WHERE person = $1`, key); err != nil {
		return fmt.Errorf("events: unsubscribe: %w", err)
	}
	return nil
}

// Subscribed is a person's subscription, if they have one.
func (s *Store) Subscribed(ctx context.Context, person []contracts.Identifier) (*Subscription, error) {
	key, err := s.personKey(person)
	if err != nil {
		return nil, err
	}
	var sealed []byte
	var keyID, lang string
	var since time.Time
	err = s.db.Pool.QueryRow(ctx, `SELECT address, key_id, language, since FROM processing_subscribers WHERE person = $1`, key).
		Scan(&sealed, &keyID, &lang, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("events: subscription: %w", err)
	}
	address, err := s.db.Keys.Processing.Open(keyID, sealed, append([]byte("processing subscriber\x00"), key...))
	if err != nil {
		return nil, fmt.Errorf("events: subscription: %w", err)
	}
	l, _ := contracts.ParseLanguage(lang)
	return &Subscription{Address: string(address), Language: l, Since: since}, nil
}

// dueNotices notes, for each new disclosure to a person who asked to be told of them, when the
// notice is due: at once, or when the disclosure's embargo ends.
func (s *Store) dueNotices(ctx context.Context, tx pgx.Tx, fresh []prepared) error {
	var subjects, keys [][]byte
	var logs []int16
	var due []time.Time
	for _, p := range fresh {
		if p.event.Operation != contracts.ProcessingDisclosure {
			continue
		}
		when := s.now()
		if p.row.embargoUntil != nil && p.row.embargoUntil.After(when) {
			when = *p.row.embargoUntil
		}
		subjects, keys, logs, due = append(subjects, p.row.subject), append(keys, p.row.eventKey), append(logs, p.row.log), append(due, when)
	}
	if len(subjects) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO processing_notices_due (subscriber, log, event_key, due)
		SELECT k.subscriber, d.log, d.event_key, d.due FROM unnest($1::bytea[], $2::smallint[], $3::bytea[], $4::timestamptz[]) AS d(subject, log, event_key, due)
		JOIN processing_subscriber_keys k ON k.subject = d.subject ON CONFLICT DO NOTHING`, subjects, logs, keys, due)
	return err
}

// Notify queues, for each person with notices due by now, one e-mail that says how many new
// disclosures they can see, and only that: the message leads to the portal, where they sign in.
func (s *Store) Notify(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT d.subscriber, count(*), max(d.due) FROM processing_notices_due d WHERE d.due <= $1
		GROUP BY d.subscriber`, now)
	if err != nil {
		return 0, fmt.Errorf("events: notices: %w", err)
	}
	type due struct {
		subscriber int64
		count      int
		last       time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		return d, r.Scan(&d.subscriber, &d.count, &d.last)
	})
	if err != nil {
		return 0, fmt.Errorf("events: notices: %w", err)
	}
	sent := 0
	for _, d := range list {
		err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
			var person, sealed []byte
			var keyID, lang string
			if err := tx.QueryRow(ctx, `SELECT person, address, key_id, language FROM processing_subscribers WHERE id = $1`, d.subscriber).
				Scan(&person, &sealed, &keyID, &lang); err != nil {
				return err
			}
			address, err := s.db.Keys.Processing.Open(keyID, sealed, append([]byte("processing subscriber\x00"), person...))
			if err != nil {
				return err
			}
			n := outbox.Notice{DedupKey: "disclosures/" + strconv.FormatInt(d.subscriber, 10) + "/" + strconv.FormatInt(d.last.UnixMicro(), 10),
				Kind: outbox.KindDisclosureNotice, Recipient: string(address), Language: lang, Payload: map[string]any{"count": d.count}}
			if err := outbox.Enqueue(ctx, tx, s.db, "", n); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM processing_notices_due WHERE subscriber = $1 AND due <= $2`, d.subscriber, d.last)
			return err
		})
		if err != nil {
			return sent, fmt.Errorf("events: notice: %w", err)
		}
		sent++
	}
	return sent, nil
}
