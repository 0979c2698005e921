package contracts

import "fmt"

// ErrorCode classifies an error that crosses the wire, so that the receiver knows what to do.
type ErrorCode string

const (
	// ErrInvalidMessage: the message failed validation. Retrying the same message cannot help.
	ErrInvalidMessage ErrorCode = "invalid_message"
	// ErrUnsupportedOperation: the register does not implement the operation asked for.
	ErrUnsupportedOperation ErrorCode = "unsupported_operation"
	// ErrDeclarationRefused: the register's declaration cannot be right; Fields says why.
	ErrDeclarationRefused ErrorCode = "declaration_refused"
	// ErrUnavailable: the register's own store is down. Retry later.
	ErrUnavailable ErrorCode = "unavailable"
	// ErrInternal: an unexpected failure. Retry later.
	ErrInternal ErrorCode = "internal"
	// ErrCancelled: the platform cancelled the task (the request was withdrawn) before the register
	// carried it out. Nothing was done, and nothing will be.
	ErrCancelled ErrorCode = "cancelled"
)

// ErrorCodes lists every error code.
var ErrorCodes = []ErrorCode{ErrInvalidMessage, ErrUnsupportedOperation, ErrDeclarationRefused, ErrUnavailable, ErrInternal, ErrCancelled}

// Retryable reports whether an error of this code may succeed if the same message is sent again. A
// code this version does not know is not retried: nothing shows that a retry could help.
func (c ErrorCode) Retryable() bool {
	switch c {
	case ErrUnavailable, ErrInternal:
		return true
	case ErrInvalidMessage, ErrUnsupportedOperation, ErrDeclarationRefused, ErrCancelled:
		return false
	}
	return false
}

// Error is an error as it travels in a result or a reply.
type Error struct {
	Code      ErrorCode    `json:"code" validate:"required,oneof=invalid_message unsupported_operation declaration_refused unavailable internal cancelled"`
	Message   string       `json:"message" validate:"required,max=2000"`
	Retryable bool         `json:"retryable"`
	Fields    []FieldError `json:"fields,omitempty" validate:"omitempty,dive"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// NewError builds a wire error whose retry class follows from its code.
func NewError(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Retryable: code.Retryable()}
}

// ErrorFromValidation turns a validation failure into an invalid_message (or, for declarations,
// declaration_refused) wire error that keeps every field's reason.
func ErrorFromValidation(code ErrorCode, err error) *Error {
	out := &Error{Code: code, Message: err.Error(), Retryable: false}
	if ve, ok := AsValidationError(err); ok {
		out.Fields = ve.Fields
	}
	return out
}
