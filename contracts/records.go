package contracts

import (
	"slices"
	"strings"
	"time"
)

// A register declares the records it returns (Declaration.Records): for each category of record,
// its name and each field's label in Finnish, Swedish and English and the form of its value, and
// which fields a subject may correct (Art 16). The portal offers exactly those fields in the
// rectification form, checks a new value's form before sending it, and writes the access package
// with the labels in the subject's language.

// FieldFormat is the form of a record field's value.
type FieldFormat string

const (
	// FormatText is free text.
	FormatText FieldFormat = "text"
	// FormatDate is a date, "2006-01-02".
	FormatDate FieldFormat = "date"
	// FormatDateTime is a moment, RFC 3339.
	FormatDateTime FieldFormat = "datetime"
	// FormatEmail is an e-mail address.
	FormatEmail FieldFormat = "email"
	// FormatPhone is a phone number in international form (E.164).
	FormatPhone FieldFormat = "phone"
	// FormatNumber is a decimal number.
	FormatNumber FieldFormat = "number"
	// FormatBoolean is "true" or "false".
	FormatBoolean FieldFormat = "boolean"
	// FormatCode is a code or key that means nothing to read, such as a random key or a hash: given as it is.
	FormatCode FieldFormat = "code"
)

// FieldFormats lists every format.
var FieldFormats = []FieldFormat{FormatText, FormatDate, FormatDateTime, FormatEmail, FormatPhone, FormatNumber, FormatBoolean, FormatCode}

// Valid reports whether f is a format the platform knows.
func (f FieldFormat) Valid() bool { return slices.Contains(FieldFormats, f) }

// RecordType describes the records of one category that a register returns.
type RecordType struct {
	// Category is the category as the records carry it (Record.Category).
	Category string        `json:"category" validate:"required,max=100"`
	Name     Text          `json:"name"`
	Fields   []RecordField `json:"fields" validate:"required,min=1,max=100,dive"`
}

// RecordField is one field of a record type.
type RecordField struct {
	// Name is the field's key in Record.Fields.
	Name   string      `json:"name" validate:"required,max=100"`
	Label  Text        `json:"label"`
	Format FieldFormat `json:"format" validate:"required,field_format"`
	// Correctable reports that the subject may ask for the field to be corrected (Art 16); the
	// register's rectify handler then accepts a correction of it.
	Correctable bool `json:"correctable,omitempty"`
}

// RecordType returns the declared type of a record category.
func (d *Declaration) RecordType(category string) (RecordType, bool) {
	i := slices.IndexFunc(d.Records, func(t RecordType) bool { return t.Category == category })
	if i < 0 {
		return RecordType{}, false
	}
	return d.Records[i], true
}

// Field returns the declared field of a record type.
func (t RecordType) Field(name string) (RecordField, bool) {
	i := slices.IndexFunc(t.Fields, func(f RecordField) bool { return f.Name == name })
	if i < 0 {
		return RecordField{}, false
	}
	return t.Fields[i], true
}

// Correctable lists the fields a subject may correct, in the order declared, each field name once.
func (d *Declaration) Correctable() []RecordField {
	var out []RecordField
	for _, t := range d.Records {
		for _, f := range t.Fields {
			if f.Correctable && !slices.ContainsFunc(out, func(o RecordField) bool { return o.Name == f.Name }) {
				out = append(out, f)
			}
		}
	}
	return out
}

// NormalizeValue puts a value a person typed for a field into the form the field's format keeps,
// and names the rule it breaks, "" if none: "required", "email", "e164", "date", "number",
// "boolean", or one of TextRule's. A date may be typed as 20.3.2026 or 2026-03-20.
func NormalizeValue(f FieldFormat, s string) (string, string) {
	s = NormalizeText(s)
	if s == "" {
		return s, "required"
	}
	switch f {
	case FormatEmail:
		s = Normalize(IdentifierEmail, s)
		if Validator().Var(s, "email,max=254") != nil {
			return s, "email"
		}
	case FormatPhone:
		s = Normalize(IdentifierPhone, s)
		if !e164Pattern.MatchString(s) {
			return s, "e164"
		}
	case FormatDate:
		for _, layout := range []string{"2006-01-02", "2.1.2006", "2006-1-2"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.Format("2006-01-02"), ""
			}
		}
		return s, "date"
	case FormatDateTime:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s, "date"
		}
		return t.Format(time.RFC3339), ""
	case FormatNumber:
		s = strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), ",", ".")
		if Validator().Var(s, "numeric") != nil {
			return s, "number"
		}
	case FormatBoolean:
		if s != "true" && s != "false" {
			return s, "boolean"
		}
	case FormatText, FormatCode:
	}
	if rule := TextRule(s, 2000); rule != "" {
		return s, rule
	}
	return s, ""
}
