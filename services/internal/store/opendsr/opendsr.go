// Package opendsr keeps the requests OpenDSR controllers sent to the authority: by the controller's
// own id of each, the request it became, where its status callbacks go, and the last status they
// were told.
package opendsr

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/services/internal/store"
)

// Store keeps the controllers' requests.
type Store struct{ db *store.DB }

// New is the store of a database.
func New(db *store.DB) *Store { return &Store{db: db} }

// Request is a controller's request as kept.
type Request struct {
	ControllerID     string
	SubjectRequestID string
	RequestID        string
	ReceivedAt       time.Time
	Deadline         time.Time
	CallbackURLs     []string
	// StatusSent is the last status the callbacks were told ("" for none yet).
	StatusSent string
	// Status is the request's case status, for Unsent; "" if the case is not stored yet.
	Status string
}

// Save keeps a request once: saved again, with the same ids, it returns the first.
func (s *Store) Save(ctx context.Context, r Request) (Request, error) {
	urls, err := json.Marshal(r.CallbackURLs)
	if err != nil {
		return Request{}, err
	}
	if _, err := s.db.Pool.Exec(ctx, `INSERT INTO opendsr_requests (controller_id, subject_request_id, request_id, received_at, deadline, callback_urls)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (controller_id, subject_request_id) DO NOTHING`,
		r.ControllerID, r.SubjectRequestID, r.RequestID, r.ReceivedAt, r.Deadline, urls); err != nil {
		return Request{}, err
	}
	return s.Find(ctx, r.ControllerID, r.SubjectRequestID)
}

// Find returns a controller's request by its id, or store.ErrNotFound.
func (s *Store) Find(ctx context.Context, controllerID, subjectRequestID string) (Request, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT o.controller_id, o.subject_request_id::text, o.request_id::text, o.received_at, o.deadline,
		o.callback_urls, o.status_sent, coalesce(c.status, '') FROM opendsr_requests o LEFT JOIN cases c ON c.request_id = o.request_id
		WHERE o.controller_id = $1 AND o.subject_request_id::text = $2`, controllerID, subjectRequestID)
	if err != nil {
		return Request{}, err
	}
	list, err := scan(rows)
	if err != nil {
		return Request{}, err
	}
	if len(list) == 0 {
		return Request{}, store.ErrNotFound
	}
	return list[0], nil
}

// Unsent lists the requests whose case has moved since their callbacks were last told, with
// callbacks to tell, oldest first. changed says which case statuses count as a change of status.
func (s *Store) Unsent(ctx context.Context, limit int) ([]Request, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT o.controller_id, o.subject_request_id::text, o.request_id::text, o.received_at, o.deadline,
		o.callback_urls, o.status_sent, c.status FROM opendsr_requests o JOIN cases c ON c.request_id = o.request_id
		WHERE jsonb_array_length(o.callback_urls) > 0 AND o.status_sent IS DISTINCT FROM c.status
		ORDER BY o.received_at LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return scan(rows)
}

// MarkSent records that the callbacks were told of the case's status.
func (s *Store) MarkSent(ctx context.Context, requestID, status string) error {
	_, err := s.db.Pool.Exec(ctx, `UPDATE opendsr_requests SET status_sent = $2 WHERE request_id = $1`, requestID, status)
	return err
}

func scan(rows pgx.Rows) ([]Request, error) {
	defer rows.Close()
	var out []Request
	for rows.Next() {
		var r Request
		var urls []byte
		if err := rows.Scan(&r.ControllerID, &r.SubjectRequestID, &r.RequestID, &r.ReceivedAt, &r.Deadline, &urls, &r.StatusSent, &r.Status); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(urls, &r.CallbackURLs); err != nil {
			return nil, errors.Join(errors.New("opendsr: callback urls"), err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
