// Package events keeps the registers' processing events (contracts/PROTOCOL.md, "Processing
// events"): who has used a person's data, when and why.
//
// Layout. An append-only table partitioned by the month of the processing (migration 010). A person's
// events are found by the keyed blind index of their identifier (store.Index), never by the
// identifier itself; the page filters on the register, the time, the operation and the purpose, which
// alone are kept in clear, and everything else the event says is sealed (store.Keyring's Processing),
// bound to the row's clear columns, so that an edited column or payload no longer opens.
//
// Proof. Each register's events are a log of their own (Log), chained and checkpointed with the
// ledger package: the events of one register stored in one transaction are a block, whose leaves are
// the events (LeafHash of a per-event nonce and the event in canonical form) and whose header holds
// the leaves' Merkle root (merkle.go). Each block is linked to the one before it, under a link key
// that is public so that anyone can check the chain, and signed by the platform at once (its own
// ledger.Checkpoint, kept with it); the log's head is also published to JetStream every so often
// (Checkpoint), where it can no longer be changed. A person can therefore check an event shown to
// them without trusting the platform's word: the event, its leaf, the path to the block's root, and
// the block's signed checkpoint (Proof; docs/processing-proof.md). Verify walks a whole log.
//
// Retention and embargo. Events older than their register's declared retention are deleted
// (Expire); events a register holds back (embargo_until) are stored at once and shown from then on,
// and the registry office sees only how many each register holds back and when they come due.
package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store"
)

// Log is the name of a register's processing log among the platform's logs (its checkpoints'
// subject, ledger.CheckpointSubject).
func Log(registerID string) string { return "processing." + registerID }

// LinkKeyID names the key that links the blocks of every processing log. The key is public
// (LinkKey): what keeps a block from being rewritten is the platform's signature on it and the
// checkpoints published outside the database, and a public key lets a person follow the chain too.
const LinkKeyID = "processing-public-v1"

// LinkKey is the public key of the blocks' links: SHA-256 of "kirjaamo processing log links v1".
func LinkKey() []byte {
	sum := sha256.Sum256([]byte("kirjaamo processing log links v1"))
	return sum[:]
}

var links = func() *ledger.Keys {
	k, err := ledger.NewKeys(LinkKeyID, map[string][]byte{LinkKeyID: LinkKey()})
	if err != nil {
		panic(err) // a 32-byte key: NewKeys cannot refuse it
	}
	return k
}()

// MaxBlock is the most events one block holds; a larger batch of one register is stored as several.
const MaxBlock = 1024

// Store keeps the processing events.
type Store struct {
	db     *store.DB
	signer *ledger.Signer
	// out publishes the logs' checkpoints; nil in a process that publishes none.
	out *ledger.Checkpoints
	now func() time.Time

	mu     sync.Mutex
	logs   map[string]int16
	ids    map[int16]string
	months map[time.Time]bool
	// checkpointers publish each log's head, by log id.
	checkpointers map[int16]*ledger.Checkpointer
}

// New is the processing events of a database. signer signs the blocks and the published
// checkpoints; out publishes those (nil where this process publishes none).
func New(db *store.DB, signer *ledger.Signer, out *ledger.Checkpoints) *Store {
	return &Store{db: db, signer: signer, out: out, now: time.Now, logs: map[string]int16{}, ids: map[int16]string{},
		months: map[time.Time]bool{}, checkpointers: map[int16]*ledger.Checkpointer{}}
}

// sealedPart is what an event says beyond its clear columns, with the nonce of its leaf.
type sealedPart struct {
	EventID        string                        `json:"i"`
	Subject        []contracts.SubjectIdentifier `json:"s"`
	Actor          contracts.Actor               `json:"a"`
	DataCategories []string                      `json:"c"`
	LegalBasis     contracts.LegalBasis          `json:"b"`
	Recipient      string                        `json:"r,omitempty"`
	Nonce          []byte                        `json:"n"`
}

// row is an event as stored.
type row struct {
	log          int16
	at           time.Time
	eventKey     []byte
	subject      []byte
	operation    string
	purpose      string
	embargoUntil *time.Time
	block        int64
	position     int
	keyID        string
	sealed       []byte
}

// binding is what an event's sealed part is bound to: every clear column of its row.
func (r *row) binding() []byte {
	embargo := ""
	if r.embargoUntil != nil {
		embargo = strconv.FormatInt(r.embargoUntil.UnixMicro(), 10)
	}
	return fmt.Appendf(nil, "processing event\x00%d\x00%d\x00%x\x00%x\x00%s\x00%s\x00%s\x00%d\x00%d",
		r.log, r.at.UnixMicro(), r.eventKey, r.subject, r.operation, r.purpose, embargo, r.block, r.position)
}

// EventKey is what stores an event id once per register: the first 16 bytes of its SHA-256.
func EventKey(eventID string) []byte {
	sum := sha256.Sum256([]byte(eventID))
	return sum[:16]
}

// indexKind is the blind index's kind of an identifier in a form.
func indexKind(t contracts.IdentifierType, f contracts.IdentifierForm) string {
	return "processing subject " + string(t) + "/" + string(f)
}

// subjectSize is how much of a blind index a row keeps: 128 bits tell a hundred million people
// apart with room to spare, at half the index's size.
const subjectSize = 16

// SubjectOf is the blind index an event is found by: that of its first identifier in the order of
// contracts.IdentifierTypes, in the form the register gave it.
func (s *Store) SubjectOf(ev *contracts.ProcessingEvent) []byte {
	for _, t := range contracts.IdentifierTypes {
		for _, id := range ev.Subject {
			if id.Type == t {
				return s.db.Keys.Index.Of(indexKind(id.Type, id.Form), id.Value)[:subjectSize]
			}
		}
	}
	return nil // Validate requires a subject
}

// SubjectKeys are the blind indexes a person's events can be found by: each of their identifiers,
// plain and as its SHA-256, under every index key.
func (s *Store) SubjectKeys(person []contracts.Identifier) [][]byte {
	var out [][]byte
	for _, id := range person {
		plain := contracts.Normalize(id.Type, id.Value)
		for f, v := range map[contracts.IdentifierForm]string{contracts.FormPlain: plain, contracts.FormSHA256: contracts.HashSHA256(id.Type, plain)} {
			for _, k := range s.db.Keys.Index.All(indexKind(id.Type, f), v) {
				out = append(out, k[:subjectSize])
			}
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return slices.CompactFunc(out, bytes.Equal)
}

// normalized is an event as the store keeps it: its times in UTC to the microsecond, as PostgreSQL
// keeps them, so that the event read back is the event stored, and its leaf the same.
func normalized(ev contracts.ProcessingEvent) contracts.ProcessingEvent {
	ev.Protocol = contracts.ProcessingProtocol
	ev.At = ev.At.UTC().Truncate(time.Microsecond)
	if ev.EmbargoUntil != nil {
		u := ev.EmbargoUntil.UTC().Truncate(time.Microsecond)
		ev.EmbargoUntil = &u
	}
	return ev
}

// prepared is an event ready to store, but for its place in a block.
type prepared struct {
	event contracts.ProcessingEvent
	row   row
	part  sealedPart
	leaf  []byte
}

// Append stores a batch of events of any registers in one transaction, each register's new events as
// one or more blocks of its log; an event id a register's log holds already is not stored again. It
// returns how many events were new. The events must have passed ProcessingEvent.Validate.
func (s *Store) Append(ctx context.Context, batch []contracts.ProcessingEvent) (int, error) {
	byLog := map[int16][]prepared{}
	seen := map[string]bool{}
	for _, ev := range batch {
		if seen[ev.RegisterID+"\x00"+ev.EventID] {
			continue
		}
		seen[ev.RegisterID+"\x00"+ev.EventID] = true
		log, err := s.logID(ctx, ev.RegisterID)
		if err != nil {
			return 0, err
		}
		p, err := s.prepare(normalized(ev), log)
		if err != nil {
			return 0, err
		}
		byLog[log] = append(byLog[log], p)
	}
	if err := s.partitions(ctx, byLog); err != nil {
		return 0, err
	}
	logs := make([]int16, 0, len(byLog))
	for log := range byLog {
		logs = append(logs, log)
	}
	slices.Sort(logs) // one order of locks for every process: no deadlock
	stored := 0
	err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		stored = 0
		for _, log := range logs {
			n, err := s.appendLog(ctx, tx, log, byLog[log])
			if err != nil {
				return err
			}
			stored += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("events: append: %w", err)
	}
	return stored, nil
}

// prepare makes an event's row but for its block and position, and its leaf.
func (s *Store) prepare(ev contracts.ProcessingEvent, log int16) (prepared, error) {
	p := prepared{event: ev, part: sealedPart{EventID: ev.EventID, Subject: ev.Subject, Actor: ev.Actor, DataCategories: ev.DataCategories,
		LegalBasis: ev.LegalBasis, Recipient: ev.Recipient, Nonce: make([]byte, 16)}}
	if _, err := rand.Read(p.part.Nonce); err != nil {
		return p, err
	}
	p.row = row{log: log, at: ev.At, eventKey: EventKey(ev.EventID), subject: s.SubjectOf(&ev), operation: string(ev.Operation),
		purpose: ev.Purpose, embargoUntil: ev.EmbargoUntil}
	canonical, err := Canonical(&ev)
	if err != nil {
		return p, err
	}
	p.leaf = LeafHash(append(slices.Clone(p.part.Nonce), canonical...))
	return p, nil
}

// appendLog stores one register's new events as blocks of its log, under the log's lock.
func (s *Store) appendLog(ctx context.Context, tx pgx.Tx, log int16, events []prepared) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412122, $1)`, int32(log)); err != nil {
		return 0, err
	}
	keys, ats := make([][]byte, len(events)), make([]time.Time, len(events))
	for i, p := range events {
		keys[i], ats[i] = p.row.eventKey, p.row.at
	}
	rows, err := tx.Query(ctx, `SELECT e.event_key, e.at FROM unnest($2::bytea[], $3::timestamptz[]) AS b(k, at)
		JOIN processing_events e ON e.log = $1 AND e.event_key = b.k AND e.at = b.at`, log, keys, ats)
	if err != nil {
		return 0, err
	}
	held := map[string]bool{}
	for rows.Next() {
		var k []byte
		var at time.Time
		if err := rows.Scan(&k, &at); err != nil {
			rows.Close()
			return 0, err
		}
		held[heldKey(k, at)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fresh := events[:0:0]
	for _, p := range events {
		if !held[heldKey(p.row.eventKey, p.row.at)] {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	var seq int64
	prev := ledger.Genesis
	err = tx.QueryRow(ctx, `SELECT seq, link FROM processing_blocks WHERE log = $1 ORDER BY seq DESC LIMIT 1`, log).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	for start := 0; start < len(fresh); start += MaxBlock {
		block := fresh[start:min(start+MaxBlock, len(fresh))]
		seq++
		if prev, err = s.appendBlock(ctx, tx, log, seq, prev, block); err != nil {
			return 0, err
		}
	}
	if err := s.dueNotices(ctx, tx, fresh); err != nil {
		return 0, err
	}
	return len(fresh), nil
}

func heldKey(eventKey []byte, at time.Time) string {
	return string(eventKey) + strconv.FormatInt(at.UnixMicro(), 10)
}

// Header is a block's header: what its link covers, in the ledger's canonical form.
type Header struct {
	Log     string    `json:"log"`
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Count   int       `json:"count"`
	Root    []byte    `json:"root"`
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
}

// Body is the header in canonical form.
func (h Header) Body() ([]byte, error) { return ledger.Canonical(h) }

// appendBlock stores events as block seq of a log, linked to prev, and returns the block's link.
func (s *Store) appendBlock(ctx context.Context, tx pgx.Tx, log int16, seq int64, prev []byte, events []prepared) ([]byte, error) {
	leaves := make([][]byte, len(events))
	h := Header{Log: Log(s.registerOf(log)), Seq: seq, At: s.now().UTC().Truncate(time.Microsecond), Count: len(events)}
	for i, p := range events {
		leaves[i] = p.leaf
		if i == 0 || p.row.at.Before(h.FirstAt) {
			h.FirstAt = p.row.at
		}
		if p.row.at.After(h.LastAt) {
			h.LastAt = p.row.at
		}
	}
	h.Root = Root(leaves)
	body, err := h.Body()
	if err != nil {
		return nil, err
	}
	link, err := links.Link(LinkKeyID, prev, body)
	if err != nil {
		return nil, err
	}
	cp := ledger.Checkpoint{Log: h.Log, Seq: seq, Head: link, At: h.At}
	s.signer.Sign(&cp)
	rows := make([][]any, len(events))
	for i := range events {
		r := &events[i].row
		r.block, r.position = seq, i
		plain, err := json.Marshal(events[i].part)
		if err != nil {
			return nil, err
		}
		if r.keyID, r.sealed, err = s.db.Keys.Processing.Seal(plain, r.binding()); err != nil {
			return nil, err
		}
		rows[i] = []any{r.log, r.at, r.eventKey, r.subject, r.operation, r.purpose, r.embargoUntil, r.block, r.position, r.keyID, r.sealed}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"processing_events"}, []string{"log", "at", "event_key", "subject", "operation",
		"purpose", "embargo_until", "block", "position", "key_id", "sealed"}, pgx.CopyFromRows(rows)); err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO processing_blocks (log, seq, at, count, root, first_at, last_at, prev, link, key_id, signed_by, signature)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`, log, seq, h.At, h.Count, h.Root, h.FirstAt, h.LastAt, prev, link, LinkKeyID,
		cp.KeyID, cp.Signature)
	if err != nil {
		return nil, err
	}
	return link, nil
}

// logID is a register's log, made the first time the register has an event.
func (s *Store) logID(ctx context.Context, registerID string) (int16, error) {
	s.mu.Lock()
	id, ok := s.logs[registerID]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	err := s.db.Pool.QueryRow(ctx, `WITH made AS (INSERT INTO processing_logs (register_id) VALUES ($1) ON CONFLICT (register_id) DO NOTHING RETURNING id)
		SELECT id FROM made UNION ALL SELECT id FROM processing_logs WHERE register_id = $1`, registerID).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("events: log of %s: %w", registerID, err)
	}
	s.mu.Lock()
	s.logs[registerID], s.ids[id] = id, registerID
	s.mu.Unlock()
	return id, nil
}

// registerOf is the register of a log this store has seen; loadLogs reads those of the others.
func (s *Store) registerOf(log int16) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[log]
}

// loadLogs reads every log's register.
func (s *Store) loadLogs(ctx context.Context) error {
	rows, err := s.db.Pool.Query(ctx, `SELECT id, register_id FROM processing_logs`)
	if err != nil {
		return fmt.Errorf("events: logs: %w", err)
	}
	defer rows.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var id int16
		var reg string
		if err := rows.Scan(&id, &reg); err != nil {
			return fmt.Errorf("events: logs: %w", err)
		}
		s.logs[reg], s.ids[id] = id, reg
	}
	return rows.Err()
}

// partitions makes the month partitions the events need, through the owner's function.
func (s *Store) partitions(ctx context.Context, byLog map[int16][]prepared) error {
	var need []time.Time
	s.mu.Lock()
	for _, events := range byLog {
		for _, p := range events {
			m := time.Date(p.row.at.Year(), p.row.at.Month(), 1, 0, 0, 0, 0, time.UTC)
			if !s.months[m] && !slices.Contains(need, m) {
				need = append(need, m)
			}
		}
	}
	s.mu.Unlock()
	for _, m := range need {
		if _, err := s.db.Pool.Exec(ctx, `SELECT processing_partition($1::date)`, m); err != nil {
			return fmt.Errorf("events: partition %s: %w", m.Format("2006-01"), err)
		}
		s.mu.Lock()
		s.months[m] = true
		s.mu.Unlock()
	}
	return nil
}
