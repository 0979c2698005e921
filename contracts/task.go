package contracts

import (
	"strings"
	"time"
)

// Protocol versions carried in every message, so that an adapter can refuse what it does not speak.
const (
	TaskProtocol   = "kirjaamo.task/v1"
	ResultProtocol = "kirjaamo.result/v1"
)

// TaskID is the idempotency key of a register task: the request id and the register id. It is also
// the JetStream Nats-Msg-Id, so a re-published task is dropped by the server, and an adapter that sees
// it again anyway applies its effect once.
func TaskID(requestID, registerID string) string { return requestID + "/" + registerID }

// FollowUpTaskID is the id of a task that follows the request's first one at the same register,
// such as lifting a restriction: the first task's id with the operation added, so that it is told
// apart from the first by the stream's de-duplication and by the adapter's record of effects.
func FollowUpTaskID(requestID, registerID string, op Operation) string {
	return TaskID(requestID, registerID) + "/" + string(op)
}

// SplitTaskID is the inverse of TaskID and FollowUpTaskID; followUp is "" for a first task.
func SplitTaskID(taskID string) (requestID, registerID string, followUp Operation, ok bool) {
	parts := strings.Split(taskID, "/")
	switch len(parts) {
	case 2:
		return parts[0], parts[1], "", true
	case 3:
		return parts[0], parts[1], Operation(parts[2]), true
	}
	return "", "", "", false
}

// taskIDFits reports whether id is the first or a follow-up task id of a request at a register.
func taskIDFits(id, requestID, registerID string, op Operation) bool {
	return id == TaskID(requestID, registerID) || id == FollowUpTaskID(requestID, registerID, op)
}

// Task asks one register to carry out one operation for one request.
type Task struct {
	Protocol   string    `json:"protocol" validate:"required,eq=kirjaamo.task/v1"`
	TaskID     string    `json:"task_id" validate:"required,max=200"`
	RequestID  string    `json:"request_id" validate:"required,uuid"`
	RegisterID string    `json:"register_id" validate:"required,register_id"`
	Operation  Operation `json:"operation" validate:"required,operation"`
	Right      Right     `json:"right" validate:"required,right"`
	// Identifiers are the subject's verified identifiers that this register declares it matches, and
	// no others (data minimisation).
	Identifiers []Identifier `json:"identifiers" validate:"required,min=1,max=10,dive"`
	// Rectification carries the corrections for OpRectify.
	Rectification []Correction `json:"rectification,omitempty" validate:"required_if=Operation rectify,omitempty,max=50,dive"`
	// ReceivedAt is when the request was received: the register answers on the data held then, and
	// never deletes anything because of the request (Art 5(1)(e);
	// docs/procedure.md#receipt-starts-the-clock).
	ReceivedAt time.Time `json:"received_at" validate:"required"`
	// Deadline is the legal deadline of the request.
	Deadline time.Time `json:"deadline" validate:"required"`
	// Package, in a lookup, says where records too large to travel inline go (see PackageTarget).
	// A task without it asks for every record inline.
	Package *PackageTarget `json:"package,omitempty" validate:"omitempty"`
}

// Correction is one field to correct under Art 16.
type Correction struct {
	Field    string `json:"field" validate:"required,text,max=100"`
	NewValue string `json:"new_value" validate:"text,max=2000"`
}

// Validate checks a task, including that its id belongs to its request and register.
func (t *Task) Validate() error {
	err := Validate(t)
	ve, _ := AsValidationError(err)
	if err != nil && ve == nil {
		return err
	}
	if ve == nil {
		ve = &ValidationError{}
	}
	if t.TaskID != "" && !taskIDFits(t.TaskID, t.RequestID, t.RegisterID, t.Operation) {
		ve.Add("task_id", "task_id", "must be request_id/register_id, or request_id/register_id/operation for a follow-up task")
	}
	return ve.OrNil()
}
