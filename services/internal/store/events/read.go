package events

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/services/internal/store"
)

// Filter narrows a person's events. Zero values do not narrow.
type Filter struct {
	Register  string
	Purpose   string
	Operation contracts.ProcessingOperation
	// Organisation is a part of the acting organisation's name, in any case.
	Organisation string
	// From and To bound the time of the processing: from inclusive, to exclusive.
	From, To time.Time
}

// Cursor is where a page of events ends: the next page starts after it.
type Cursor struct {
	At  time.Time
	Log int16
	Key []byte
}

// String is the cursor as a URL's query parameter carries it.
func (c Cursor) String() string {
	b := binary.BigEndian.AppendUint64(nil, uint64(c.At.UnixMicro()))
	b = binary.BigEndian.AppendUint16(b, uint16(c.Log))
	return base64.RawURLEncoding.EncodeToString(append(b, c.Key...))
}

// ParseCursor reads a cursor that String wrote.
func ParseCursor(s string) (Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 8+2+16 {
		return Cursor{}, false
	}
	return Cursor{At: time.UnixMicro(int64(binary.BigEndian.Uint64(b))).UTC(), Log: int16(binary.BigEndian.Uint16(b[8:])), Key: b[10:]}, true
}

// Shown is an event as shown to the person it is about.
type Shown struct {
	Event    contracts.ProcessingEvent
	Block    int64
	Position int
	// Problem says why the event does not verify, "" if it does. Then only its register, time,
	// operation and purpose are known, and nothing else it says can be trusted.
	Problem string
	// Anchored says whether a checkpoint published outside the database covers the event's block.
	Anchored bool
	cursor   Cursor
}

// Page is a page of a person's events, newest first.
type Page struct {
	Events []Shown
	// Next is where the next page starts; nil on the last.
	Next *Cursor
	// Broken counts the events on the page that do not verify.
	Broken int
}

// Verification problems, as a person is told them.
const (
	ProblemChanged      = "changed after it was stored: what it says cannot be opened, or was edited"
	ProblemBlockChanged = "its block was changed after it was stored: the block's link or signature does not check"
)

// maxScanned bounds the events one page reads while a filter on what is sealed (the organisation)
// drops them: past it, the page ends early and Next goes on from there.
const maxScanned = 5000

// Page reads a page of a person's events that are visible at now (no embargo, or one that has
// ended), newest first, from after (nil: the newest), at most limit, each checked: its row opens,
// and its block's link and signature check. A person's page needs no staff record: it is their own.
func (s *Store) Page(ctx context.Context, person []contracts.Identifier, f Filter, after *Cursor, limit int, now time.Time) (Page, error) {
	var page Page
	scanned := 0
	for len(page.Events) < limit && scanned < maxScanned {
		want := limit + 1 - len(page.Events)
		rows, err := s.query(ctx, person, f, after, want, now)
		if err != nil {
			return page, err
		}
		shown, err := s.show(ctx, rows)
		if err != nil {
			return page, err
		}
		scanned += len(rows)
		for _, e := range shown {
			after = &e.cursor
			if !f.matches(&e) {
				continue
			}
			if len(page.Events) == limit {
				page.Next = &page.Events[len(page.Events)-1].cursor
				return page, nil
			}
			page.Events = append(page.Events, e)
			if e.Problem != "" {
				page.Broken++
			}
		}
		if len(rows) < want {
			return page, nil // no more
		}
	}
	if after != nil && len(page.Events) > 0 {
		page.Next = after
	}
	return page, nil
}

// matches applies the filters on what is sealed; an event that does not verify is shown whatever
// they say, since what it says cannot be trusted.
func (f Filter) matches(e *Shown) bool {
	if f.Organisation == "" || e.Problem != "" {
		return true
	}
	return strings.Contains(strings.ToLower(e.Event.Actor.Organisation), strings.ToLower(f.Organisation))
}

// Export hands each of a person's events visible at now that the filter lets through to each,
// newest first, checked as a page's are.
func (s *Store) Export(ctx context.Context, person []contracts.Identifier, f Filter, now time.Time, each func(Shown) error) error {
	var after *Cursor
	for {
		rows, err := s.query(ctx, person, f, after, 500, now)
		if err != nil {
			return err
		}
		shown, err := s.show(ctx, rows)
		if err != nil {
			return err
		}
		for _, e := range shown {
			after = &e.cursor
			if f.matches(&e) {
				if err := each(e); err != nil {
					return err
				}
			}
		}
		if len(rows) < 500 {
			return nil
		}
	}
}

const rowColumns = `log, at, event_key, subject, operation, purpose, embargo_until, block, position, key_id, sealed`

// query reads at most limit of a person's visible events after the cursor, newest first: one
// index scan per blind index the person's events may be under, merged.
func (s *Store) query(ctx context.Context, person []contracts.Identifier, f Filter, after *Cursor, limit int, now time.Time) ([]row, error) {
	keys := s.SubjectKeys(person)
	if len(keys) == 0 {
		return nil, nil
	}
	args := []any{now, limit}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := ` AND (embargo_until IS NULL OR embargo_until <= $1)`
	if f.Register != "" {
		log, ok, err := s.knownLog(ctx, f.Register)
		if err != nil || !ok {
			return nil, err
		}
		where += ` AND log = ` + arg(log)
	}
	if f.Operation != "" {
		where += ` AND operation = ` + arg(string(f.Operation))
	}
	if f.Purpose != "" {
		where += ` AND purpose = ` + arg(f.Purpose)
	}
	if !f.From.IsZero() {
		where += ` AND at >= ` + arg(f.From)
	}
	if !f.To.IsZero() {
		where += ` AND at < ` + arg(f.To)
	}
	if after != nil {
		where += ` AND (at, log, event_key) < (` + arg(after.At) + `, ` + arg(after.Log) + `, ` + arg(after.Key) + `)`
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = `(SELECT ` + rowColumns + ` FROM processing_events WHERE subject = ` + arg(k) + where +
			` ORDER BY at DESC, log DESC, event_key DESC LIMIT $2)`
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+rowColumns+` FROM (`+strings.Join(parts, " UNION ALL ")+
		`) x ORDER BY at DESC, log DESC, event_key DESC LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("events: read: %w", err)
	}
	return collect(rows)
}

func collect(rows pgx.Rows) ([]row, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var e row
		err := r.Scan(&e.log, &e.at, &e.eventKey, &e.subject, &e.operation, &e.purpose, &e.embargoUntil, &e.block, &e.position, &e.keyID, &e.sealed)
		e.at = e.at.UTC()
		if e.embargoUntil != nil {
			u := e.embargoUntil.UTC()
			e.embargoUntil = &u
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("events: read: %w", err)
	}
	return out, nil
}

// knownLog is a register's log, if it has one.
func (s *Store) knownLog(ctx context.Context, registerID string) (int16, bool, error) {
	s.mu.Lock()
	id, ok := s.logs[registerID]
	s.mu.Unlock()
	if ok {
		return id, true, nil
	}
	if err := s.loadLogs(ctx); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok = s.logs[registerID]
	return id, ok, nil
}

// open reads a row's event: its clear columns, and what its sealed part says if it opens.
func (s *Store) open(r *row) (contracts.ProcessingEvent, sealedPart, error) {
	ev := contracts.ProcessingEvent{Protocol: contracts.ProcessingProtocol, RegisterID: s.registerOf(r.log), At: r.at,
		Operation: contracts.ProcessingOperation(r.operation), Purpose: r.purpose, EmbargoUntil: r.embargoUntil}
	var part sealedPart
	plain, err := s.db.Keys.Processing.Open(r.keyID, r.sealed, r.binding())
	if err == nil {
		err = json.Unmarshal(plain, &part)
	}
	if err != nil {
		return ev, part, err
	}
	ev.EventID, ev.Subject, ev.Actor, ev.DataCategories, ev.LegalBasis, ev.Recipient = part.EventID, part.Subject, part.Actor,
		part.DataCategories, part.LegalBasis, part.Recipient
	return ev, part, nil
}

// block is a block as stored.
type block struct {
	Header
	prev, link, signature []byte
	keyID, signedBy       string
	published             bool
}

// checkpoint is the block's signed checkpoint, as the platform signed it when it stored the block.
func (b *block) checkpoint() ledger.Checkpoint {
	return ledger.Checkpoint{Log: b.Log, Seq: b.Seq, Head: b.link, At: b.At, KeyID: b.signedBy, Signature: b.signature}
}

// check says what is wrong with a block as stored, "" if nothing: its link must be what its header
// and the link before it make, under the public link key, and its checkpoint the platform's.
func (b *block) check(public ledger.PublicKeys) string {
	body, err := b.Body()
	if err != nil {
		return ProblemBlockChanged
	}
	want, err := links.Link(b.keyID, b.prev, body)
	if err != nil || !bytes.Equal(want, b.link) || public.Check(b.checkpoint()) != nil {
		return ProblemBlockChanged
	}
	return ""
}

// blocks reads the blocks of the rows, by log and sequence number, each with whether a published
// checkpoint covers it.
func (s *Store) blocks(ctx context.Context, rows []row) (map[[2]int64]*block, error) {
	var logs []int16
	var seqs []int64
	seen := map[[2]int64]bool{}
	for _, r := range rows {
		k := [2]int64{int64(r.log), r.block}
		if !seen[k] {
			seen[k] = true
			logs, seqs = append(logs, r.log), append(seqs, r.block)
		}
	}
	out := map[[2]int64]*block{}
	if len(logs) == 0 {
		return out, nil
	}
	q, err := s.db.Pool.Query(ctx, `SELECT b.log, b.seq, b.at, b.count, b.root, b.first_at, b.last_at, b.prev, b.link, b.key_id, b.signed_by, b.signature,
		EXISTS (SELECT 1 FROM processing_checkpoints c WHERE c.log = b.log AND c.seq >= b.seq)
		FROM unnest($1::smallint[], $2::bigint[]) AS w(log, seq) JOIN processing_blocks b ON b.log = w.log AND b.seq = w.seq`, logs, seqs)
	if err != nil {
		return nil, fmt.Errorf("events: blocks: %w", err)
	}
	defer q.Close()
	for q.Next() {
		var b block
		var log int16
		if err := q.Scan(&log, &b.Seq, &b.At, &b.Count, &b.Root, &b.FirstAt, &b.LastAt, &b.prev, &b.link, &b.keyID, &b.signedBy, &b.signature,
			&b.published); err != nil {
			return nil, fmt.Errorf("events: blocks: %w", err)
		}
		b.Log, b.At, b.FirstAt, b.LastAt = Log(s.registerOf(log)), b.At.UTC(), b.FirstAt.UTC(), b.LastAt.UTC()
		out[[2]int64{int64(log), b.Seq}] = &b
	}
	return out, q.Err()
}

// show opens and checks rows as a person's page shows them.
func (s *Store) show(ctx context.Context, rows []row) ([]Shown, error) {
	if err := s.loadLogs(ctx); err != nil {
		return nil, err
	}
	blocks, err := s.blocks(ctx, rows)
	if err != nil {
		return nil, err
	}
	public := s.signer.Public()
	checked := map[[2]int64]string{}
	out := make([]Shown, len(rows))
	for i := range rows {
		r := &rows[i]
		ev, _, err := s.open(r)
		e := Shown{Event: ev, Block: r.block, Position: r.position, cursor: Cursor{At: r.at, Log: r.log, Key: r.eventKey}}
		k := [2]int64{int64(r.log), r.block}
		b, ok := blocks[k]
		problem, done := checked[k]
		if !done && ok {
			problem = b.check(public)
			checked[k] = problem
		}
		switch {
		case err != nil:
			e.Problem = ProblemChanged
		case !ok || r.position >= b.Count:
			e.Problem = ProblemBlockChanged
		default:
			e.Problem, e.Anchored = problem, b.published
		}
		out[i] = e
	}
	return out, nil
}

// ErrNotFound: no such event is the person's, or it is not visible to them yet.
var ErrNotFound = store.ErrNotFound

// Event is one of a person's events visible at now, by its register and event id.
func (s *Store) Event(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (Shown, error) {
	r, err := s.find(ctx, person, registerID, eventID, now)
	if err != nil {
		return Shown{}, err
	}
	shown, err := s.show(ctx, []row{r})
	if err != nil {
		return Shown{}, err
	}
	return shown[0], nil
}

func (s *Store) find(ctx context.Context, person []contracts.Identifier, registerID, eventID string, now time.Time) (row, error) {
	log, ok, err := s.knownLog(ctx, registerID)
	if err != nil {
		return row{}, err
	}
	if !ok {
		return row{}, ErrNotFound
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+rowColumns+` FROM processing_events WHERE log = $1 AND event_key = $2 AND subject = ANY($3)
		AND (embargo_until IS NULL OR embargo_until <= $4)`, log, EventKey(eventID), s.SubjectKeys(person), now)
	if err != nil {
		return row{}, fmt.Errorf("events: find: %w", err)
	}
	found, err := collect(rows)
	if err != nil {
		return row{}, err
	}
	if len(found) == 0 {
		return row{}, ErrNotFound
	}
	return found[0], nil
}
