package contracts

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Every text a person types — a request's details, a correction's new value, a clerk's note,
// reasons and stated purposes, a letter writer's name — passes the one check below before anything
// stores it or hands it to a workflow: it is valid UTF-8, holds no control character but a line feed
// or a tab, is in Unicode normalization form C, and is no longer than its limit in characters.
// PostgreSQL refuses a NUL in text and invalid UTF-8 outright; refusing them here, field by field,
// turns what would be a workflow step failing for good into a 422 the person can act on.

// NormalizeText puts a typed text in the form the check accepts: line breaks as line feeds (forms
// send CR LF), Unicode NFC, and no leading or trailing white space. Invalid UTF-8 is left as it is,
// for CheckText to refuse.
func NormalizeText(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSpace(norm.NFC.String(s))
}

// TextRule names what is wrong with a text, or "" if nothing is: "utf8" for invalid UTF-8,
// "control" for a control character other than a line feed or a tab, "nfc" for a text not in
// Unicode normalization form C, and "max" for one longer than max characters (runes).
func TextRule(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "utf8"
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return "control"
	case !norm.NFC.IsNormalString(s):
		return "nfc"
	case max > 0 && utf8.RuneCountInString(s) > max:
		return "max"
	}
	return ""
}

// CheckText adds to ve what is wrong with a typed text, if anything: TextRule's rules, and a
// missing value when the field is required. It reports whether the text passed.
func CheckText(ve *ValidationError, field, s string, max int, required bool) bool {
	rule := TextRule(s, max)
	if rule == "" && required && strings.TrimSpace(s) == "" {
		rule = "required"
	}
	if rule == "" {
		return true
	}
	fe := FieldError{Field: field, Rule: rule, Message: textMessage(rule, max)}
	if rule == "max" {
		fe.Param = strconv.Itoa(max)
	}
	ve.Fields = append(ve.Fields, fe)
	return false
}

func textMessage(rule string, max int) string {
	switch rule {
	case "utf8":
		return "must be text (UTF-8)"
	case "control":
		return "must not contain control characters"
	case "nfc":
		return "must be in Unicode normalization form C"
	case "max":
		return "must be at most " + strconv.Itoa(max) + " characters"
	case "required":
		return "is required"
	}
	return "is not valid"
}
