package contracts

import (
	"slices"
	"time"
)

// EventProtocol is the protocol version carried in every event.
const EventProtocol = "kirjaamo.event/v1"

// EventKind is what an adapter saw that the platform's record must keep, outside any task's answer:
// what an adapter that forwards its tasks to an external processor learns from it on its own.
type EventKind string

const (
	// EventForwarded: the register's processor acknowledged receipt of a task's request, with a
	// receipt that the adapter verified (OpenDSR: its signed response), so that the authority can
	// show the processor received it (Art 5(2), 28(3)(e)).
	EventForwarded EventKind = "forwarded"
	// EventCallbackRefused: something called the adapter's callback endpoint as the processor, and
	// the adapter refused it: unsigned, badly signed, signed for another domain, or not meant for
	// it. Nothing it said was taken.
	EventCallbackRefused EventKind = "callback_refused"
)

// EventKinds lists every kind.
var EventKinds = []EventKind{EventForwarded, EventCallbackRefused}

// Valid reports whether k is a kind the platform records.
func (k EventKind) Valid() bool { return slices.Contains(EventKinds, k) }

// Event is one thing an adapter reports for the platform's record, as a NATS request on
// EventSubject(register id), which the catalogue answers with an EventReply once the record holds
// it. It carries ids, statuses and reasons only, never identifiers or records.
type Event struct {
	Protocol   string    `json:"protocol" validate:"required,eq=kirjaamo.event/v1"`
	RegisterID string    `json:"register_id" validate:"required,register_id"`
	Kind       EventKind `json:"kind" validate:"required,oneof=forwarded callback_refused"`
	// TaskID is the task the event concerns, when the adapter knows it; RequestID then too.
	TaskID    string `json:"task_id,omitempty" validate:"omitempty,max=200"`
	RequestID string `json:"request_id,omitempty" validate:"omitempty,uuid"`
	// Detail says what happened, in a few named values: no personal data.
	Detail map[string]string `json:"detail,omitempty" validate:"omitempty,max=20,dive,keys,required,max=64,endkeys,max=1000"`
	At     time.Time         `json:"at" validate:"required"`
}

// Validate checks an event, including that its task belongs to its request and register.
func (e *Event) Validate() error {
	err := Validate(e)
	ve, _ := AsValidationError(err)
	if err != nil && ve == nil {
		return err
	}
	if ve == nil {
		ve = &ValidationError{}
	}
	if e.TaskID != "" {
		requestID, registerID, _, ok := SplitTaskID(e.TaskID)
		if !ok || registerID != e.RegisterID || requestID != e.RequestID {
			ve.Add("task_id", "task_id", "must be a task of the event's request and register")
		}
	}
	return ve.OrNil()
}

// EventReply is the catalogue's answer to an event: recorded, or why not.
type EventReply struct {
	Recorded bool   `json:"recorded"`
	Error    *Error `json:"error,omitempty"`
}
