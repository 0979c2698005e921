package sdk

import (
	"context"
	"fmt"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
)

// Register is a register's adapter: the rules its register declares, and the operations its code
// carries out. The two must agree, and Run checks that they do before it connects: the platform sends
// a register the operations its declaration promises, so an operation declared without a handler
// would leave subjects' requests unanswered, and a handler for an operation not declared would never
// be called.
type Register interface {
	Declaration() contracts.Declaration
	Operations() Operations
}

// Operations are the handlers of the operations a register carries out, one field per operation of
// the protocol; a nil field is an operation the register does not carry out. The SDK announces the
// operations that have a handler, and answers a task for any other with unsupported_operation.
//
// A handler's error is classified by the SDK: Refuse for a refusal on the register's own ground,
// Unavailable for a passing failure (the task is retried), a *contracts.Error for a failure with its
// code; any other error is retried too. An effect handler returns how many records it changed; none
// means "no data held".
type Operations struct {
	// Lookup answers access and portability requests (lookup): it returns what the register holds
	// on the subject, and no records means "no data held". A register that can hold a lot on one
	// person sets Export instead, so that its records never have to be in memory all at once; one of
	// the two, not both.
	Lookup func(ctx context.Context, q Query) ([]contracts.Record, error)

	// Export answers access and portability requests (lookup) by streaming what the register holds
	// on the subject to w, one record at a time, in the order they should reach the subject; writing
	// nothing means "no data held". The SDK sends the records inline while they are small, and
	// otherwise seals them into a package as they are written (contracts/PROTOCOL.md, "Large
	// results: packages"). A Write error means the task cannot be answered this time; return it.
	Export func(ctx context.Context, q Query, w RecordWriter) error

	// Rectify corrects the subject's data (rectify).
	Rectify func(ctx context.Context, q Query, corrections []contracts.Correction) (affected int, err error)

	// Erase erases the subject's data (erase).
	Erase func(ctx context.Context, q Query) (affected int, err error)

	// Restrict marks the subject's data as only stored (restrict, Art 18), and LiftRestriction lifts
	// that mark again (lift_restriction): a register that restricts must be able to lift, so the two
	// come together.
	Restrict        func(ctx context.Context, q Query) (affected int, err error)
	LiftRestriction func(ctx context.Context, q Query) (affected int, err error)

	// Object stops the processing the subject objected to (object, Art 21).
	Object func(ctx context.Context, q Query) (affected int, err error)

	// Recipients names who received the subject's data, for Art 19 notices (list_recipients).
	Recipients func(ctx context.Context, q Query) ([]string, error)
}

// RecordWriter takes an Export handler's records. It checks each one as the platform would and
// refuses an invalid record, which fails the task.
type RecordWriter interface {
	Write(contracts.Record) error
}

// Capabilities lists the operations that have a handler, in the protocol's order: what the adapter
// announces it carries out.
func (o Operations) Capabilities() []contracts.Operation {
	var ops []contracts.Operation
	for _, h := range o.handlers() {
		if h.set {
			ops = append(ops, h.op)
		}
	}
	return ops
}

// handler is one operation's place in Operations: the name of its field, and whether it is set.
type handler struct {
	op    contracts.Operation
	field string
	set   bool
}

func (o Operations) handlers() []handler {
	return []handler{
		{contracts.OpLookup, "Lookup or Export", o.Lookup != nil || o.Export != nil},
		{contracts.OpRectify, "Rectify", o.Rectify != nil},
		{contracts.OpErase, "Erase", o.Erase != nil},
		{contracts.OpRestrict, "Restrict", o.Restrict != nil},
		{contracts.OpLiftRestriction, "LiftRestriction", o.LiftRestriction != nil},
		{contracts.OpListRecipients, "Recipients", o.Recipients != nil},
		{contracts.OpObject, "Object", o.Object != nil},
	}
}

// Check says whether the handlers serve the declaration d, and if not, everything that keeps them
// from it: an operation declared without a handler, a handler of an operation not declared, both
// Lookup and Export, or only one of Restrict and LiftRestriction.
func (o Operations) Check(d contracts.Declaration) error {
	var problems []string
	if o.Lookup != nil && o.Export != nil {
		problems = append(problems, "both Lookup and Export are set: set Export for a register that streams its records, "+
			"Lookup for one that returns them at once, not both")
	}
	if (o.Restrict == nil) != (o.LiftRestriction == nil) {
		problems = append(problems, "Restrict and LiftRestriction come together: a restriction the register cannot lift "+
			"would stay for ever, and a lift without a restriction has nothing to lift")
	}
	for _, h := range o.handlers() {
		switch declared := d.Supports(h.op); {
		case declared && !h.set:
			problems = append(problems, fmt.Sprintf("the declaration declares %s, but Operations has no %s: "+
				"the platform would send %s tasks that nothing answers", h.op, h.field, h.op))
		case !declared && h.set:
			problems = append(problems, fmt.Sprintf("Operations has %s, but the declaration does not declare %s: "+
				"the platform never sends it; declare it or leave the handler out", h.field, h.op))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("sdk: the operations of %s do not serve its declaration:\n\t%s", d.RegisterID, strings.Join(problems, "\n\t"))
	}
	return nil
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
	withdrawn  <-chan struct{}
}

// Withdrawn is closed when the subject withdraws the request while the register carries out its
// effect. An effect applied in one go has no use for it: the platform cancels a task not yet begun
// itself, and one begun is finished. An effect that waits on someone else, such as a processor the
// task was forwarded to, can cancel there and answer the task with a cancellation
// (contracts.ErrCancelled, not retryable) if nothing was done, or with the effect's result if it
// was. Lookups are cancelled by the SDK instead: their context ends. Never closed for a lookup.
func (q Query) Withdrawn() <-chan struct{} { return q.withdrawn }

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
