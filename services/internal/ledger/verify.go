package ledger

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"time"
)

// Link is an entry as stored, for Verify: its sequence number, the key that linked it ("" for an
// entry written before the log was keyed), the links stored with it, and the canonical encoding of
// what its link covers, made from what is stored now.
type Link struct {
	Seq        int64
	KeyID      string
	Prev, Hash []byte
	Body       []byte
}

// Report is what Verify found.
type Report struct {
	// Entries is how many entries were read; Legacy, how many of them came before the log was
	// keyed: they are held together only by what links them to the first keyed entry, and a
	// checkpoint that covers them.
	Entries, Legacy int64
	// Last is the last entry's sequence number.
	Last int64
	// Checkpoints is how many checkpoints were checked; Latest, the newest of them.
	Checkpoints int
	Latest      *Checkpoint
	// Unanchored is how many entries came after the latest checkpoint: chained, but not yet fixed
	// by a checkpoint, so that removing them from the end would not show until the next one.
	Unanchored int64
	// Broken is the first entry that is not as it was written, or nil.
	Broken *Break
}

// Break names the first entry found not to be as written, and how.
type Break struct {
	Seq    int64
	Reason string
}

func (b *Break) Error() string { return fmt.Sprintf("entry %d %s", b.Seq, b.Reason) }

// Verify walks a log's entries in order, checks each one's link, and checks the log against its
// checkpoints (each signature, then each checkpoint's link at its entry, and that the log reaches
// the latest one). It stops at the first break. An error is a failure to read, not a finding.
func Verify(keys *Keys, public PublicKeys, checkpoints []Checkpoint, entries iter.Seq2[Link, error]) (Report, error) {
	var rep Report
	checkpoints = slices.Clone(checkpoints)
	slices.SortFunc(checkpoints, func(a, b Checkpoint) int { return cmpInt(a.Seq, b.Seq) })
	at := map[int64]Checkpoint{}
	for _, c := range checkpoints {
		if err := public.Check(c); err != nil {
			rep.Broken = &Break{Seq: c.Seq, Reason: "cannot be checked: " + err.Error()}
			return rep, nil
		}
		if seen, ok := at[c.Seq]; ok && !bytes.Equal(seen.Head, c.Head) {
			rep.Broken = &Break{Seq: c.Seq, Reason: "has two signed checkpoints that disagree: the log was forked"}
			return rep, nil
		}
		at[c.Seq] = c
	}
	rep.Checkpoints = len(checkpoints)
	if n := len(checkpoints); n > 0 {
		rep.Latest = &checkpoints[n-1]
	}
	matched := map[int64]bool{}
	prev, prevSeq, keyed := Genesis, int64(0), false
	for l, err := range entries {
		if err != nil {
			return rep, err
		}
		rep.Entries++
		switch {
		case l.KeyID == "" && keyed:
			rep.Broken = &Break{Seq: l.Seq, Reason: "has no link key, after keyed entries: it was not written by the platform"}
		case !bytes.Equal(l.Prev, prev):
			rep.Broken = &Break{Seq: l.Seq, Reason: fmt.Sprintf("does not follow entry %d: an entry between them was removed, or entry %d was changed", prevSeq, prevSeq)}
		case l.KeyID == "":
			rep.Legacy++ // written before the log was keyed: only its place in the chain is checked
		default:
			keyed = true
			want, err := keys.Link(l.KeyID, prev, l.Body)
			if err != nil {
				rep.Broken = &Break{Seq: l.Seq, Reason: "is linked under a key this verifier does not hold: " + err.Error()}
			} else if !bytes.Equal(want, l.Hash) {
				rep.Broken = &Break{Seq: l.Seq, Reason: "was changed after it was written: what it holds does not match its link"}
			}
		}
		if rep.Broken == nil {
			if c, ok := at[l.Seq]; ok {
				if !bytes.Equal(c.Head, l.Hash) {
					rep.Broken = &Break{Seq: l.Seq, Reason: fmt.Sprintf("differs from the checkpoint signed at %s: the log was rewritten up to here", c.At.Format(time.RFC3339))}
				}
				matched[l.Seq] = true
			}
		}
		if rep.Broken != nil {
			return rep, nil
		}
		if rep.Latest != nil && l.Seq > rep.Latest.Seq {
			rep.Unanchored++
		}
		prev, prevSeq, rep.Last = l.Hash, l.Seq, l.Seq
	}
	for _, c := range checkpoints {
		switch {
		case c.Seq > rep.Last:
			rep.Broken = &Break{Seq: c.Seq, Reason: fmt.Sprintf("is missing: the checkpoint signed at %s covers the log up to it, and the log ends at entry %d: entries were cut off its end",
				c.At.Format(time.RFC3339), rep.Last)}
			return rep, nil
		case !matched[c.Seq]:
			rep.Broken = &Break{Seq: c.Seq, Reason: fmt.Sprintf("is missing: the checkpoint signed at %s names it", c.At.Format(time.RFC3339))}
			return rep, nil
		}
	}
	return rep, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
