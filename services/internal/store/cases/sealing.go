package cases

import (
	"encoding/json"
	"errors"
	"fmt"
)

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

func (r *Repo) sealAnswer(requestID, registerID string, answer json.RawMessage) (json.RawMessage, error) {
	if r.answers == nil || len(answer) == 0 {
		return answer, nil
	}
	key, data, err := r.answers.Seal(answer, answerBinding(requestID, registerID))
	if err != nil {
		return nil, fmt.Errorf("cases: seal the answer of %s: %w", registerID, err)
	}
	return json.Marshal(sealedAnswer{Sealed: &sealedValue{Key: key, Data: data}})
}

func (r *Repo) openAnswer(requestID, registerID string, stored json.RawMessage) (json.RawMessage, error) {
	var v sealedAnswer
	if len(stored) == 0 || json.Unmarshal(stored, &v) != nil || v.Sealed == nil {
		return stored, nil // kept in clear, before answers were sealed
	}
	if r.answers == nil {
		return nil, errors.New("cases: the answer of " + registerID + " is sealed, and the store has no key to open it")
	}
	plain, err := r.answers.Open(v.Sealed.Key, v.Sealed.Data, answerBinding(requestID, registerID))
	if err != nil {
		return nil, fmt.Errorf("cases: open the answer of %s: %w", registerID, err)
	}
	return plain, nil
}
