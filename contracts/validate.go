package contracts

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// FieldError says what is wrong with one field, in terms a person can act on.
type FieldError struct {
	// Field is the JSON path of the field, e.g. "identifiers[0].value".
	Field string `json:"field"`
	// Rule is the rule the value broke, e.g. "required" or "e164"; Param is the rule's parameter,
	// if it has one: the limit of "max", the members of "oneof".
	Rule    string `json:"rule"`
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

// ValidationError lists every field that failed validation. It is the one error type that HTTP
// handlers turn into a 4xx with field-level messages and NATS handlers into an invalid_message reply.
type ValidationError struct {
	Fields []FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Add records one more field problem.
func (e *ValidationError) Add(field, rule, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Rule: rule, Message: message})
}

// OrNil returns e as an error if it holds any problem, else nil.
func (e *ValidationError) OrNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// AsValidationError reports whether err is, or wraps, a ValidationError.
func AsValidationError(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}

var (
	validateOnce sync.Once
	validate     *validator.Validate

	registerIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}[a-z0-9]$`)
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// refusalCodePattern is a refusal's code: a short name in lower case, as an enumeration's member.
	refusalCodePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)
)

// Validator returns the validator shared by every message type, with Kirjaamo's own rules added.
func Validator() *validator.Validate {
	validateOnce.Do(func() {
		v := validator.New(validator.WithRequiredStructEnabled())
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			if name == "" {
				return f.Name
			}
			return name
		})
		must := func(tag string, fn validator.Func) {
			if err := v.RegisterValidation(tag, fn); err != nil {
				panic(fmt.Sprintf("contracts: register validation %q: %v", tag, err))
			}
		}
		must("hetu", func(fl validator.FieldLevel) bool { return ValidPersonalIdentityCode(fl.Field().String()) })
		must("e164", func(fl validator.FieldLevel) bool { return e164Pattern.MatchString(fl.Field().String()) })
		must("register_id", func(fl validator.FieldLevel) bool { return registerIDPattern.MatchString(fl.Field().String()) })
		must("right", func(fl validator.FieldLevel) bool { return Right(fl.Field().String()).Valid() })
		must("operation", func(fl validator.FieldLevel) bool { return Operation(fl.Field().String()).Valid() })
		must("identifier_type", func(fl validator.FieldLevel) bool { return IdentifierType(fl.Field().String()).Valid() })
		must("identifier_form", func(fl validator.FieldLevel) bool { return IdentifierForm(fl.Field().String()).Valid() })
		must("processing_operation", func(fl validator.FieldLevel) bool { return ProcessingOperation(fl.Field().String()).Valid() })
		must("event_id", func(fl validator.FieldLevel) bool { return eventIDPattern.MatchString(fl.Field().String()) })
		// text: a typed text passes TextRule (its length is max's to check, in characters).
		must("text", func(fl validator.FieldLevel) bool { return TextRule(fl.Field().String(), 0) == "" })
		must("refusal_code", func(fl validator.FieldLevel) bool { return refusalCodePattern.MatchString(fl.Field().String()) })
		must("citation", func(fl validator.FieldLevel) bool { _, ok := ParseCitations(fl.Field().String()); return ok })
		must("field_format", func(fl validator.FieldLevel) bool { return FieldFormat(fl.Field().String()).Valid() })
		must("language", func(fl validator.FieldLevel) bool { _, ok := ParseLanguage(fl.Field().String()); return ok })
		v.RegisterStructValidation(validateIdentifier, Identifier{})
		validate = v
	})
	return validate
}

// validateIdentifier checks the value's form for its type, so that a register never receives an
// identifier it could not possibly match.
func validateIdentifier(sl validator.StructLevel) {
	id := sl.Current().Interface().(Identifier)
	switch id.Type {
	case IdentifierPersonalIdentityCode:
		if !ValidPersonalIdentityCode(id.Value) {
			sl.ReportError(id.Value, "value", "Value", "hetu", "")
		}
	case IdentifierPhone:
		if !e164Pattern.MatchString(id.Value) {
			sl.ReportError(id.Value, "value", "Value", "e164", "")
		}
	case IdentifierEmail:
		if err := Validator().Var(id.Value, "email"); err != nil {
			sl.ReportError(id.Value, "value", "Value", "email", "")
		}
	}
}

// MustBeOneOf is the message for a value outside an enumeration, "must be one of: a, b, c", naming
// the members in the order of their list, so that the message keeps up with the list.
func MustBeOneOf[T ~string](members []T) string {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = string(m)
	}
	return "must be one of: " + strings.Join(names, ", ")
}

// Validate checks v against its validate tags and returns a *ValidationError naming each field.
func Validate(v any) error {
	err := Validator().Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("contracts: validate: %w", err)
	}
	out := &ValidationError{}
	for _, fe := range verrs {
		f := FieldError{Field: fieldPath(fe.Namespace()), Rule: fe.Tag(), Param: fe.Param(), Message: message(fe)}
		if s, ok := fe.Value().(string); ok && f.Rule == "text" {
			// Which of the text rules it broke, as CheckText says it.
			if rule := TextRule(s, 0); rule != "" {
				f.Rule, f.Message = rule, textMessage(rule, 0)
			}
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}

// fieldPath drops the struct name that the validator puts first: "SubmitRequest.rights[0]" becomes
// "rights[0]".
func fieldPath(namespace string) string {
	if _, rest, ok := strings.Cut(namespace, "."); ok {
		return rest
	}
	return namespace
}

func message(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required", "required_if", "required_unless", "required_with":
		return "is required"
	case "min":
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "needs at least " + fe.Param() + " item(s)"
		}
		return "must be at least " + fe.Param() + " characters"
	case "max":
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "may have at most " + fe.Param() + " item(s)"
		}
		return "must be at most " + fe.Param() + " characters"
	case "oneof":
		return "must be one of: " + fe.Param()
	case "eq":
		return "must be " + fe.Param()
	case "unique":
		return "must not repeat a value"
	case "email":
		return "must be an e-mail address"
	case "e164":
		return "must be a phone number in international form, e.g. +358401234567"
	case "hetu":
		return "must be a valid Finnish personal identity code"
	case "register_id":
		return "must be 3-64 lower-case letters, digits and hyphens, starting with a letter"
	case "right":
		return MustBeOneOf(Rights)
	case "operation":
		return "must be an operation of the protocol"
	case "identifier_type":
		return MustBeOneOf(IdentifierTypes)
	case "identifier_form":
		return MustBeOneOf(IdentifierForms)
	case "processing_operation":
		return MustBeOneOf(ProcessingOperations)
	case "event_id":
		return "must be 1-128 letters, digits and . _ : -, starting with a letter or digit"
	case "language":
		return MustBeOneOf(Languages)
	case "refusal_code":
		return "must be a short name in lower case: letters a-z, digits and underscores, starting with a letter"
	case "citation":
		return `must be provisions as "GDPR Art 16", "GDPR Recital 26" or "Act 1227/2016 s. 43c", separated by "; "`
	case "field_format":
		return MustBeOneOf(FieldFormats)
	case "text":
		return "must be text (UTF-8) in Unicode normalization form C, without control characters"
	case "uuid", "uuid4", "uuid_rfc4122":
		return "must be a UUID"
	case "url", "http_url":
		return "must be a URL"
	case "gtfield", "gtefield":
		return "must be after " + fe.Param()
	}
	return "is not valid (" + fe.Tag() + ")"
}
