package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// IdentifierType names a kind of identifier that a person can be found by.
type IdentifierType string

const (
	// IdentifierPersonalIdentityCode is the Finnish personal identity code (henkilötunnus, HETU).
	IdentifierPersonalIdentityCode IdentifierType = "personal_identity_code"
	IdentifierEmail                IdentifierType = "email"
	// IdentifierPhone is a phone number in E.164 form, e.g. +358401234567.
	IdentifierPhone IdentifierType = "phone"
)

// IdentifierTypes lists every identifier type the platform verifies.
var IdentifierTypes = []IdentifierType{IdentifierPersonalIdentityCode, IdentifierEmail, IdentifierPhone}

// Valid reports whether t is an identifier type the platform knows.
func (t IdentifierType) Valid() bool {
	for _, known := range IdentifierTypes {
		if t == known {
			return true
		}
	}
	return false
}

// Identifier is one verified identifier of the data subject, sent to a register so that it can find
// the subject's data. Only the identifiers a register declares it matches are ever sent to it.
type Identifier struct {
	Type  IdentifierType `json:"type" validate:"required,identifier_type"`
	Value string         `json:"value" validate:"required,max=254"`
}

// Normalize returns the canonical form of an identifier value, the form that registers store and
// hash. Two spellings of the same address or number must hash alike, or a hashed register would
// wrongly answer "no data held".
func Normalize(t IdentifierType, value string) string {
	value = strings.TrimSpace(value)
	switch t {
	case IdentifierEmail:
		return strings.ToLower(value)
	case IdentifierPersonalIdentityCode:
		return strings.ToUpper(value)
	case IdentifierPhone:
		// Only the separators people write in numbers are dropped; anything else is left for
		// validation to refuse, never dropped into a different, or an empty, number.
		var b strings.Builder
		for i, r := range value {
			switch {
			case r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == '+' && i == 0:
				b.WriteRune(r)
			case strings.ContainsRune(" -().", r):
			default:
				return value
			}
		}
		n := b.String()
		// A Finnish national number (040 123 4567) becomes +358401234567.
		if strings.HasPrefix(n, "0") && !strings.HasPrefix(n, "00") {
			n = "+358" + n[1:]
		} else if strings.HasPrefix(n, "00") {
			n = "+" + n[2:]
		}
		return n
	}
	return value
}

// HashSHA256 is the unsalted SHA-256 of the normalized identifier, hex-encoded. Registers that store
// such hashes hold personal data all the same: the hash is recomputed from the verified identifier.
func HashSHA256(t IdentifierType, value string) string {
	sum := sha256.Sum256([]byte(Normalize(t, value)))
	return hex.EncodeToString(sum[:])
}

const hetuCheckChars = "0123456789ABCDEFHJKLMNPRSTUVWXY"

// hetuCenturies maps the century sign of a personal identity code to its century. The signs added
// in 2023 (Y, X, W, V, U and B to F) are accepted alongside the classic '+', '-' and 'A'.
var hetuCenturies = map[byte]int{
	'+': 1800,
	'-': 1900, 'Y': 1900, 'X': 1900, 'W': 1900, 'V': 1900, 'U': 1900,
	'A': 2000, 'B': 2000, 'C': 2000, 'D': 2000, 'E': 2000, 'F': 2000,
}

// ValidPersonalIdentityCode reports whether s is a well-formed Finnish personal identity code: a real
// date, a known century sign, an individual number from 002 to 999 and the right check character.
func ValidPersonalIdentityCode(s string) bool {
	if len(s) != 11 {
		return false
	}
	century, ok := hetuCenturies[s[6]]
	if !ok {
		return false
	}
	digits := s[0:6] + s[7:10]
	n, err := strconv.Atoi(digits)
	if err != nil || strings.ContainsAny(digits, "+-") {
		return false
	}
	day, _ := strconv.Atoi(s[0:2])
	month, _ := strconv.Atoi(s[2:4])
	year, _ := strconv.Atoi(s[4:6])
	birth := time.Date(century+year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if birth.Day() != day || int(birth.Month()) != month {
		return false
	}
	if individual, _ := strconv.Atoi(s[7:10]); individual < 2 {
		return false
	}
	return s[10] == hetuCheckChars[n%31]
}

// PersonalIdentityCodeCheck returns the check character for the first ten characters of a code.
// Tools that make test codes use it; it panics on nothing and returns 0 on malformed input.
func PersonalIdentityCodeCheck(first10 string) byte {
	if len(first10) != 10 {
		return 0
	}
	n, err := strconv.Atoi(first10[0:6] + first10[7:10])
	if err != nil {
		return 0
	}
	return hetuCheckChars[n%31]
}
