package events

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/ledger"
)

// Report is what Verify found in a register's log.
type Report struct {
	RegisterID string
	// Chain is the ledger's finding on the chain of blocks and the published checkpoints.
	Chain ledger.Report
	// Events is how many events were read; Expired, how many a block counts that are gone, all of
	// them events the register's retention allowed to delete.
	Events, Expired int64
	// Broken is the first block, or event, found not to be as it was stored; nil if none.
	Broken *Break
}

// Break names what is not as it was stored: a block (Position -1) or an event of it.
type Break struct {
	Block    int64
	Position int
	Reason   string
}

func (b *Break) Error() string {
	if b.Position < 0 {
		return fmt.Sprintf("block %d %s", b.Block, b.Reason)
	}
	return fmt.Sprintf("block %d, event %d: %s", b.Block, b.Position, b.Reason)
}

// Verify walks a register's whole log: the chain of its blocks against the checkpoints published of
// it (ledger.Verify), each block's own signed checkpoint, and each block's events: every one opens,
// their leaves make the block's root, and none is missing but those the register's retention
// (keep; nil for none) allowed to delete before now. It stops at the first break. An error is a
// failure to read, not a finding.
func (s *Store) Verify(ctx context.Context, registerID string, published []ledger.Checkpoint, keep *contracts.Period, now time.Time) (Report, error) {
	rep := Report{RegisterID: registerID}
	log, ok, err := s.knownLog(ctx, registerID)
	if err != nil || !ok {
		return rep, err
	}
	public := s.signer.Public()
	chain, err := ledger.Verify(links, public, published, s.links(ctx, log))
	if err != nil {
		return rep, err
	}
	rep.Chain = chain
	if chain.Broken != nil {
		rep.Broken = &Break{Block: chain.Broken.Seq, Position: -1, Reason: chain.Broken.Reason}
		return rep, nil
	}
	var cutoff time.Time
	if keep != nil {
		cutoff = keep.Before(now)
	}
	for seq := int64(1); seq <= chain.Last; seq++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		blocks, err := s.blocks(ctx, []row{{log: log, block: seq}})
		if err != nil {
			return rep, err
		}
		b := blocks[[2]int64{int64(log), seq}]
		if problem := b.check(public); problem != "" {
			rep.Broken = &Break{Block: seq, Position: -1, Reason: "does not carry the platform's signed checkpoint of its link"}
			return rep, nil
		}
		rows, err := s.db.Pool.Query(ctx, `SELECT `+rowColumns+` FROM processing_events WHERE log = $1 AND block = $2 ORDER BY position`, log, seq)
		if err != nil {
			return rep, fmt.Errorf("events: verify: %w", err)
		}
		inBlock, err := collect(rows)
		if err != nil {
			return rep, err
		}
		leaves := make([][]byte, b.Count)
		for i := range inBlock {
			r := &inBlock[i]
			ev, part, err := s.open(r)
			if err != nil {
				rep.Broken = &Break{Block: seq, Position: r.position, Reason: "was changed after it was stored: it no longer opens with the columns it was stored with"}
				return rep, nil
			}
			if r.position >= b.Count || leaves[r.position] != nil {
				rep.Broken = &Break{Block: seq, Position: r.position, Reason: fmt.Sprintf("is not a place of the block's %d events", b.Count)}
				return rep, nil
			}
			if leaves[r.position], err = leafOf(ev, part.Nonce); err != nil {
				return rep, err
			}
			rep.Events++
		}
		missing := int64(b.Count - len(inBlock))
		switch {
		case missing == 0:
			if !bytes.Equal(Root(leaves), b.Root) {
				rep.Broken = &Break{Block: seq, Position: -1, Reason: "holds events whose leaves do not make its root"}
				return rep, nil
			}
		case !cutoff.IsZero() && b.FirstAt.Before(cutoff):
			rep.Expired += missing // the block held events old enough to be deleted
		default:
			rep.Broken = &Break{Block: seq, Position: -1, Reason: fmt.Sprintf("is missing %d of its %d events, which no retention deleted", missing, b.Count)}
			return rep, nil
		}
	}
	return rep, nil
}

// links reads a log's blocks in order, as the ledger verifies them: each one's link made again
// from its header as stored now.
func (s *Store) links(ctx context.Context, log int16) iter.Seq2[ledger.Link, error] {
	return func(yield func(ledger.Link, error) bool) {
		rows, err := s.db.Pool.Query(ctx, `SELECT seq, at, count, root, first_at, last_at, prev, link, key_id FROM processing_blocks
			WHERE log = $1 ORDER BY seq`, log)
		if err != nil {
			yield(ledger.Link{}, fmt.Errorf("events: read blocks: %w", err))
			return
		}
		defer rows.Close()
		name := Log(s.registerOf(log))
		for rows.Next() {
			h := Header{Log: name}
			var l ledger.Link
			if err := rows.Scan(&h.Seq, &h.At, &h.Count, &h.Root, &h.FirstAt, &h.LastAt, &l.Prev, &l.Hash, &l.KeyID); err != nil {
				yield(l, fmt.Errorf("events: read blocks: %w", err))
				return
			}
			h.At, h.FirstAt, h.LastAt = h.At.UTC(), h.FirstAt.UTC(), h.LastAt.UTC()
			if l.Body, err = h.Body(); err != nil {
				yield(l, err)
				return
			}
			l.Seq = h.Seq
			if !yield(l, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(ledger.Link{}, fmt.Errorf("events: read blocks: %w", err))
		}
	}
}

// Registers lists the registers that have a processing log.
func (s *Store) Registers(ctx context.Context) ([]string, error) {
	if err := s.loadLogs(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.logs))
	for reg := range s.logs {
		out = append(out, reg)
	}
	return out, nil
}
