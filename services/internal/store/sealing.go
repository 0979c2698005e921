package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sealer encrypts a value kept at rest, binding it to where it belongs (the additional data), and
// opens it again; *codec.Codec is one.
type Sealer interface {
	Seal(plain, aad []byte) (keyID string, sealed []byte, err error)
	Open(keyID string, sealed, aad []byte) ([]byte, error)
}

// SealAnswersWith makes the store keep the registers' answers (the records they return on a
// subject) sealed in case_registers.result, so that a database dump or a backup does not disclose
// them. Answers stored before, in clear, are still read.
func (db *DB) SealAnswersWith(s Sealer) { db.answers = s }

// sealedAnswer is how a sealed answer is kept in the jsonb column.
type sealedAnswer struct {
	Sealed *sealedValue `json:"sealed_v1"`
}

type sealedValue struct {
	Key  string `json:"key"`
	Data []byte `json:"data"`
}

// answerBinding ties a sealed answer to its row, so that it cannot be moved to another case or
// register and still open.
func answerBinding(requestID, registerID string) []byte {
	return []byte("case_registers.result/" + requestID + "/" + registerID)
}

func (db *DB) sealAnswer(requestID, registerID string, answer json.RawMessage) (json.RawMessage, error) {
	if db.answers == nil || len(answer) == 0 {
		return answer, nil
	}
	key, data, err := db.answers.Seal(answer, answerBinding(requestID, registerID))
	if err != nil {
		return nil, fmt.Errorf("store: seal the answer of %s: %w", registerID, err)
	}
	return json.Marshal(sealedAnswer{Sealed: &sealedValue{Key: key, Data: data}})
}

func (db *DB) openAnswer(requestID, registerID string, stored json.RawMessage) (json.RawMessage, error) {
	var v sealedAnswer
	if len(stored) == 0 || json.Unmarshal(stored, &v) != nil || v.Sealed == nil {
		return stored, nil // kept in clear, before answers were sealed
	}
	if db.answers == nil {
		return nil, errors.New("store: the answer of " + registerID + " is sealed, and the store has no key to open it")
	}
	plain, err := db.answers.Open(v.Sealed.Key, v.Sealed.Data, answerBinding(requestID, registerID))
	if err != nil {
		return nil, fmt.Errorf("store: open the answer of %s: %w", registerID, err)
	}
	return plain, nil
}
