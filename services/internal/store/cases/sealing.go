package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
)

// What a case holds on its subject, and what its registers answered, is kept sealed at rest
// (store.Keyring): a dump or a backup of the database discloses neither. The case is found by blind
// indexes of what the platform looks it up by.

// The kinds of blind index a case is found by (store.Index).
const (
	IndexSubject      = "subject"       // the subject identifier at sign-in
	IndexIdentityCode = "identity_code" // a personal identity code, normalized
	IndexName         = "name"          // a name as NameKey writes it
)

// NameKey is how a name is compared when the office searches by name: Unicode NFC, lower case,
// runs of white space as one space, none at either end.
func NameKey(name string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(norm.NFC.String(name)), unicode.IsSpace), " ")
}

// subjectData is everything a case holds on its subject, sealed together in the case's row.
type subjectData struct {
	ID            string                 `json:"id"`
	Name          string                 `json:"name"`
	Identifiers   []contracts.Identifier `json:"identifiers"`
	ContactEmail  string                 `json:"contact_email,omitempty"`
	Details       string                 `json:"details,omitempty"`
	Rectification []contracts.Correction `json:"rectification,omitempty"`
	Supplied      []SuppliedIdentifier   `json:"supplied,omitempty"`
}

func subjectBinding(requestID string) string { return "cases.subject/" + requestID }

// into fills in the case's fields that come from its subject.
func (s subjectData) into(c *Case) error {
	var err error
	c.SubjectID, c.SubjectName, c.ContactEmail, c.Details = s.ID, s.Name, s.ContactEmail, s.Details
	if s.Identifiers == nil {
		s.Identifiers = []contracts.Identifier{}
	}
	if c.Identifiers, err = json.Marshal(s.Identifiers); err != nil {
		return err
	}
	if len(s.Rectification) > 0 {
		if c.Rectification, err = json.Marshal(s.Rectification); err != nil {
			return err
		}
	}
	if s.Supplied == nil {
		s.Supplied = []SuppliedIdentifier{}
	}
	c.Supplied, err = json.Marshal(s.Supplied)
	return err
}

// indexes are the blind indexes of a subject: the subject at sign-in, the personal identity code
// among the identifiers (nil if none), and the name.
func (r *Repo) indexes(s subjectData) (subject, code, name []byte) {
	x := r.db.Keys.Index
	for _, id := range s.Identifiers {
		if id.Type == contracts.IdentifierPersonalIdentityCode {
			code = x.Of(IndexIdentityCode, contracts.Normalize(id.Type, id.Value))
		}
	}
	return x.Of(IndexSubject, s.ID), code, x.Of(IndexName, NameKey(s.Name))
}

// sealSubject seals what a case holds on its subject for the case's row.
func (r *Repo) sealSubject(requestID string, s subjectData) ([]byte, error) {
	return store.SealJSON(r.db.Keys.Subjects, s, subjectBinding(requestID))
}

// SealInClear seals what cases kept in clear before subjects were sealed (migration 008), and
// empties the clear columns: the services run it as they start. It returns how many cases it sealed.
func (r *Repo) SealInClear(ctx context.Context) (int, error) {
	sealed := 0
	for {
		done := false
		err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
			var requestID, subjectID, name string
			var ids, rect, supplied []byte
			var s subjectData
			err := tx.QueryRow(ctx, `SELECT request_id::text, coalesce(subject_id, ''), coalesce(subject_name, ''), coalesce(identifiers, '[]'),
				coalesce(contact_email, ''), coalesce(details, ''), rectification, coalesce(supplied_identifiers, '[]') FROM cases
				WHERE subject IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED`).
				Scan(&requestID, &subjectID, &name, &ids, &s.ContactEmail, &s.Details, &rect, &supplied)
			if errors.Is(err, pgx.ErrNoRows) {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			s.ID, s.Name = subjectID, name
			if err := errors.Join(json.Unmarshal(ids, &s.Identifiers), json.Unmarshal(supplied, &s.Supplied)); err != nil {
				return fmt.Errorf("case %s: %w", requestID, err)
			}
			if len(rect) > 0 {
				if err := json.Unmarshal(rect, &s.Rectification); err != nil {
					return fmt.Errorf("case %s: %w", requestID, err)
				}
			}
			blob, err := r.sealSubject(requestID, s)
			if err != nil {
				return err
			}
			subject, code, nameKey := r.indexes(s)
			_, err = tx.Exec(ctx, `UPDATE cases SET subject = $2, subject_key = $3, identity_code_key = $4, name_key = $5, subject_id = NULL,
				subject_name = NULL, identifiers = NULL, contact_email = NULL, details = NULL, rectification = NULL, supplied_identifiers = NULL
				WHERE request_id = $1`, requestID, blob, subject, code, nameKey)
			return err
		})
		if err != nil {
			return sealed, fmt.Errorf("cases: seal what is in clear: %w", err)
		}
		if done {
			return sealed, nil
		}
		sealed++
	}
}

// answerBinding ties a sealed answer to its row, so that it cannot be moved to another case or
// register and still open.
func answerBinding(requestID, registerID string) string {
	return "case_registers.result/" + requestID + "/" + registerID
}

func (r *Repo) sealAnswer(requestID, registerID string, answer json.RawMessage) (json.RawMessage, error) {
	if len(answer) == 0 {
		return answer, nil
	}
	var v any = answer
	sealed, err := store.SealJSON(r.db.Keys.Answers, v, answerBinding(requestID, registerID))
	if err != nil {
		return nil, fmt.Errorf("cases: seal the answer of %s: %w", registerID, err)
	}
	return sealed, nil
}

func (r *Repo) openAnswer(requestID, registerID string, stored json.RawMessage) (json.RawMessage, error) {
	var plain json.RawMessage
	err := store.OpenJSON(r.db.Keys.Answers, stored, answerBinding(requestID, registerID), &plain)
	if errors.Is(err, store.ErrNotSealed) {
		return stored, nil // kept in clear, before answers were sealed
	}
	if err != nil {
		return nil, fmt.Errorf("cases: open the answer of %s: %w", registerID, err)
	}
	return plain, nil
}
