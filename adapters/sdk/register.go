// Package sdk is what a register owner needs to plug a register into Kirjaamo: implement the
// operations the register supports, in one file, and call Run. The SDK takes care of the rest: the
// JetStream consumer, decoding and validation, idempotency by task id, progress heartbeats, retry
// classification, announcing the register's declaration, liveness heartbeats and a graceful drain.
//
// It has no Temporal dependency: adapters speak only the wire protocol of kirjaamo.dev/contracts.
package sdk

import (
	"context"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
)

// Register is the one thing every adapter implements: the rules its register declares.
// What it can do follows from which of the operation interfaces below it also implements.
type Register interface {
	Declaration() contracts.Declaration
}

// Finder answers access and portability requests: it returns what the register holds on the
// subject. No records means "no data held". A register that can hold a lot on one person implements
// Exporter instead, so that its records never have to be in memory all at once.
type Finder interface {
	Lookup(ctx context.Context, q Query) ([]contracts.Record, error)
}

// Exporter answers access and portability requests by streaming what the register holds on the
// subject to w, one record at a time, in the order they should reach the subject. Writing nothing
// means "no data held". The SDK sends the records inline while they are small, and otherwise seals
// them into a package as they are written (contracts/PROTOCOL.md, "Large results: packages"). A
// Write error means the task cannot be answered this time; return it.
type Exporter interface {
	Export(ctx context.Context, q Query, w RecordWriter) error
}

// RecordWriter takes an Exporter's records. It checks each one as the platform would and refuses an
// invalid record, which fails the task.
type RecordWriter interface {
	Write(contracts.Record) error
}

// Eraser erases the subject's data and says how many records it erased.
type Eraser interface {
	Erase(ctx context.Context, q Query) (affected int, err error)
}

// Rectifier corrects the subject's data.
type Rectifier interface {
	Rectify(ctx context.Context, q Query, corrections []contracts.Correction) (affected int, err error)
}

// Restricter marks the subject's data as only stored (Art 18), and lifts that mark again.
type Restricter interface {
	Restrict(ctx context.Context, q Query) (affected int, err error)
	LiftRestriction(ctx context.Context, q Query) (affected int, err error)
}

// Objector stops the processing the subject objected to (Art 21).
type Objector interface {
	Object(ctx context.Context, q Query) (affected int, err error)
}

// RecipientLister names who received the subject's data, for Art 19 notices.
type RecipientLister interface {
	Recipients(ctx context.Context, q Query) ([]string, error)
}

// Capabilities lists the operations a register implements.
func Capabilities(r Register) []contracts.Operation {
	var ops []contracts.Operation
	if _, ok := r.(Finder); ok {
		ops = append(ops, contracts.OpLookup)
	} else if _, ok := r.(Exporter); ok {
		ops = append(ops, contracts.OpLookup)
	}
	if _, ok := r.(Rectifier); ok {
		ops = append(ops, contracts.OpRectify)
	}
	if _, ok := r.(Eraser); ok {
		ops = append(ops, contracts.OpErase)
	}
	if _, ok := r.(Restricter); ok {
		ops = append(ops, contracts.OpRestrict, contracts.OpLiftRestriction)
	}
	if _, ok := r.(RecipientLister); ok {
		ops = append(ops, contracts.OpListRecipients)
	}
	if _, ok := r.(Objector); ok {
		ops = append(ops, contracts.OpObject)
	}
	return ops
}

// Unimplemented lists the operations a register declares but does not implement. The platform
// dispatches what the declaration promises, so a gap would leave a subject's request unanswered.
func Unimplemented(r Register) []contracts.Operation {
	d := r.Declaration()
	have := Capabilities(r)
	var missing []contracts.Operation
	for _, op := range d.Operations {
		if !slices.Contains(have, op) {
			missing = append(missing, op)
		}
	}
	return missing
}

// Query is one task as the register's code sees it: who to look for, and for which request.
type Query struct {
	// TaskID is unique per request and register. An adapter whose effects live in its own database
	// should record it in the same transaction as the effect, so that a redelivered task after a
	// crash finds the effect already done.
	TaskID     string
	RequestID  string
	Right      contracts.Right
	ReceivedAt time.Time
	ids        []contracts.Identifier
}

// Identifier returns the subject's verified identifier of a type, normalized, if the task has one.
func (q Query) Identifier(t contracts.IdentifierType) (string, bool) {
	for _, id := range q.ids {
		if id.Type == t {
			return contracts.Normalize(t, id.Value), true
		}
	}
	return "", false
}

// SHA256 returns the unsalted SHA-256 of the subject's identifier of a type, for registers that
// store only such hashes. The hash is recomputable, so what it keys is personal data.
func (q Query) SHA256(t contracts.IdentifierType) (string, bool) {
	v, ok := q.Identifier(t)
	if !ok {
		return "", false
	}
	return contracts.HashSHA256(t, v), true
}

// String hides the identifiers, so that a Query printed by mistake leaks nothing into a log.
func (q Query) String() string {
	types := make([]string, len(q.ids))
	for i, id := range q.ids {
		types[i] = string(id.Type)
	}
	return "task " + q.TaskID + " (" + string(q.Right) + "; identifiers: " + strings.Join(types, ",") + ")"
}
