package sdk

import (
	"errors"

	"kirjaamo.dev/contracts"
)

// refusal is returned by an operation that refuses on a ground of the register's own.
type refusal struct{ contracts.Refusal }

func (r *refusal) Error() string { return "refused: " + r.Code + " (" + r.Citation + ")" }

// Refuse tells the platform that the register refuses the task: code names the ground in the
// register's own terms ("nothing_to_correct"), reason says it to the subject in Finnish, Swedish and
// English, and citation names the provisions it rests on ("GDPR Art 16; Act 1227/2016 s. 43c"),
// which the platform writes out in the subject's language. The refusal reaches the office and,
// with the Art 12(4) notice, the subject; one that does not validate (a reason missing in a language,
// a citation in prose) is answered as a failed task instead, which the conformance kit reports.
func Refuse(code string, reason contracts.Text, citation string) error {
	return &refusal{contracts.Refusal{Code: code, Reason: reason, Citation: citation}}
}

// unavailable marks an error as passing: the SDK leaves the task to be redelivered later.
type unavailable struct{ err error }

func (u *unavailable) Error() string { return "unavailable: " + u.err.Error() }
func (u *unavailable) Unwrap() error { return u.err }

// Unavailable marks err as a passing failure of the register's own store (a connection refused, a
// timeout). The task is redelivered with a growing delay until it succeeds; the platform names the
// register as pending in the reply if the deadline comes first.
func Unavailable(err error) error { return &unavailable{err: err} }

// classify turns an operation's error into what the SDK does with the task.
func classify(err error) (result *contracts.Result, retry bool) {
	var r *refusal
	if errors.As(err, &r) {
		ref := r.Refusal
		return &contracts.Result{Status: contracts.StatusRefused, Refusal: &ref}, false
	}
	var u *unavailable
	if errors.As(err, &u) {
		return nil, true
	}
	var wire *contracts.Error
	if errors.As(err, &wire) {
		if wire.Retryable {
			return nil, true
		}
		return &contracts.Result{Status: contracts.StatusFailed, Error: wire}, false
	}
	// An error the adapter did not classify is a bug or an outage we cannot tell apart: retry, so
	// that a fix or a recovery can still answer before the deadline.
	return nil, true
}

func unsupported(op contracts.Operation) *contracts.Result {
	return &contracts.Result{Status: contracts.StatusFailed,
		Error: contracts.NewError(contracts.ErrUnsupportedOperation, "this register does not implement %s", op)}
}
