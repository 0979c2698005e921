package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"slices"

	"kirjaamo.dev/services/internal/ledger"
	"kirjaamo.dev/workflows/codec"
)

// Sealer encrypts a value kept at rest, binding it to where it belongs (the additional data), and
// opens it again; *codec.Codec is one.
type Sealer interface {
	Seal(plain, aad []byte) (keyID string, sealed []byte, err error)
	Open(keyID string, sealed, aad []byte) ([]byte, error)
}

// Keyring is every key the store uses, each derived from the platform's payload keys for its one
// purpose (codec.Derive, codec.DeriveSecrets), keeping the payload key's id, so that a rotated-out
// payload key must stay listed while anything made under it is kept.
type Keyring struct {
	// Answers seals what registers answer; Subjects, a case's subject (name, identifiers, contact
	// address, what the subject wrote); Sessions, the sites' sessions; Messages, the outbox's
	// recipients and contents and the dev mailbox; Processing, what a register's processing event
	// says beyond what a person's page filters on, and the addresses of its notices (store/events).
	Answers, Subjects, Sessions, Messages, Processing Sealer
	// Record keys the record's chain.
	Record *ledger.Keys
	// Index keys the blind indexes that find rows by a value kept sealed, and the one-time codes'
	// hashes.
	Index *Index
}

// NewKeyring derives the store's keys from the payload keys.
func NewKeyring(c *codec.Codec) (*Keyring, error) {
	k := &Keyring{}
	for _, s := range []struct {
		to      *Sealer
		purpose string
	}{{&k.Answers, "register answers v1"}, {&k.Subjects, "case subjects v1"}, {&k.Sessions, "sessions v1"}, {&k.Messages, "messages v1"},
		{&k.Processing, "processing events v1"}} {
		d, err := c.Derive(s.purpose)
		if err != nil {
			return nil, err
		}
		*s.to = d
	}
	active, secrets, err := c.DeriveSecrets("record chain v1")
	if err != nil {
		return nil, err
	}
	if k.Record, err = ledger.NewKeys(active, secrets); err != nil {
		return nil, err
	}
	active, secrets, err = c.DeriveSecrets("blind index v1")
	if err != nil {
		return nil, err
	}
	k.Index = &Index{active: active, secrets: secrets}
	return k, nil
}

// Index makes blind indexes: an HMAC of a value under a key only the platform holds, so that a row
// can be found by a value it keeps sealed (a person's identity code, their name) without the
// database holding the value, or anything a guess can be checked against without the key.
type Index struct {
	active  string
	secrets map[string][]byte
}

// Of is the value's index under the active key: what a row stores.
func (x *Index) Of(kind, value string) []byte { return x.under(x.active, kind, value) }

// All is the value's index under every key, the active one first: what a lookup matches, so that
// rows indexed before a rotation are still found.
func (x *Index) All(kind, value string) [][]byte {
	ids := make([]string, 0, len(x.secrets))
	for id := range x.secrets {
		if id != x.active {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := [][]byte{x.Of(kind, value)}
	for _, id := range ids {
		out = append(out, x.under(id, kind, value))
	}
	return out
}

func (x *Index) under(id, kind, value string) []byte {
	secret, ok := x.secrets[id]
	if !ok {
		panic(fmt.Sprintf("store: no index key %q", id))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Matches reports, in constant time, whether mac is the value's index under any key.
func (x *Index) Matches(mac []byte, kind, value string) bool {
	ok := false
	for _, want := range x.All(kind, value) {
		ok = hmac.Equal(mac, want) || ok
	}
	return ok
}
