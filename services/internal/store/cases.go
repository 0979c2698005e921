package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Case is one request as the store holds it. It carries the subject's identifiers: only the
// workflow's activities and the pages that show a case to its subject or to staff read it.
type Case struct {
	RequestID      string          `json:"request_id"`
	ReceivedAt     time.Time       `json:"received_at"`
	Channel        string          `json:"channel"`
	Right          string          `json:"right"`
	Language       string          `json:"language"`
	SubjectID      string          `json:"-"`
	SubjectName    string          `json:"-"`
	IdentityMethod string          `json:"identity_method"`
	IdentityLevel  string          `json:"identity_level"`
	Identifiers    json.RawMessage `json:"-"`
	ContactEmail   string          `json:"-"`
	Details        string          `json:"-"`
	Rectification  json.RawMessage `json:"-"`
	Status         string          `json:"status"`
	Deadline       time.Time       `json:"deadline"`
	InternalTarget time.Time       `json:"internal_target"`
	RepliedAt      *time.Time      `json:"replied_at,omitempty"`
	RepliedBy      string          `json:"replied_by,omitempty"`
	// ExtensionReasons are the reasons for an extension of the deadline, told to the subject.
	ExtensionReasons string `json:"extension_reasons,omitempty"`
	// Supplied are the identifiers the subject added after sending the request, as a JSON array of
	// SuppliedIdentifier: not verified by anyone.
	Supplied    json.RawMessage `json:"-"`
	WithdrawnAt *time.Time      `json:"withdrawn_at,omitempty"`
	// RegisteredBy is the clerk who registered a request received by post or at a service point.
	RegisteredBy string `json:"registered_by,omitempty"`
	// IdentityDecidedBy and IdentityDecidedAt say which clerk verified, or refused to accept, the
	// identity of a subject registered unverified, and when; IdentityRefusal holds the reasons of a
	// refusal, told to the subject.
	IdentityDecidedBy string     `json:"identity_decided_by,omitempty"`
	IdentityDecidedAt *time.Time `json:"identity_decided_at,omitempty"`
	IdentityRefusal   string     `json:"identity_refusal,omitempty"`
}

// SuppliedIdentifier is an identifier the subject added to a request after sending it. Verified
// says that the subject proved it theirs (VerifiedBy: how, VerifiedAt: when); one supplied before
// one-time codes existed is not verified, and the office sees it marked so.
type SuppliedIdentifier struct {
	Type       string     `json:"type"`
	Value      string     `json:"value"`
	Channel    string     `json:"channel"`
	SuppliedAt time.Time  `json:"supplied_at"`
	Verified   bool       `json:"verified"`
	VerifiedBy string     `json:"verified_by,omitempty"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

// SuppliedIdentifiers decodes the identifiers the subject added to the case.
func (c Case) SuppliedIdentifiers() []SuppliedIdentifier {
	var out []SuppliedIdentifier
	if len(c.Supplied) > 0 {
		_ = json.Unmarshal(c.Supplied, &out)
	}
	return out
}

const caseColumns = `request_id, received_at, channel, right_invoked, language, subject_id, subject_name,
	identity_method, identity_level, identifiers, coalesce(contact_email, ''), details, rectification, status,
	deadline, internal_target, replied_at, coalesce(replied_by, ''), coalesce(extension_reasons, ''),
	supplied_identifiers, withdrawn_at, coalesce(registered_by, ''), coalesce(identity_decided_by, ''), identity_decided_at,
	coalesce(identity_refusal, '')`

func scanCase(row pgx.Row) (Case, error) {
	var c Case
	err := row.Scan(&c.RequestID, &c.ReceivedAt, &c.Channel, &c.Right, &c.Language, &c.SubjectID, &c.SubjectName,
		&c.IdentityMethod, &c.IdentityLevel, &c.Identifiers, &c.ContactEmail, &c.Details, &c.Rectification, &c.Status,
		&c.Deadline, &c.InternalTarget, &c.RepliedAt, &c.RepliedBy, &c.ExtensionReasons, &c.Supplied, &c.WithdrawnAt,
		&c.RegisteredBy, &c.IdentityDecidedBy, &c.IdentityDecidedAt, &c.IdentityRefusal)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// RecordReceipt stores a new case and its receipt in the record. Recording the same request again
// changes nothing, so the activity that calls it can be retried freely.
func (db *DB) RecordReceipt(ctx context.Context, c Case) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO cases (request_id, received_at, channel, right_invoked, language, subject_id,
			subject_name, identity_method, identity_level, identifiers, contact_email, details, rectification, status,
			deadline, internal_target, registered_by)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,nullif($11,''),$12,$13,$14,$15,$16,nullif($17,''))
			ON CONFLICT (request_id) DO NOTHING`,
			c.RequestID, c.ReceivedAt, c.Channel, c.Right, c.Language, c.SubjectID, c.SubjectName, c.IdentityMethod,
			c.IdentityLevel, c.Identifiers, c.ContactEmail, c.Details, c.Rectification, c.Status, c.Deadline, c.InternalTarget,
			c.RegisteredBy)
		if err != nil {
			return fmt.Errorf("store: record receipt: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		e := AuditEvent{Actor: "system", Role: "system", Action: "received", RequestID: c.RequestID,
			Detail: map[string]any{"channel": c.Channel, "right": c.Right, "identity_method": c.IdentityMethod, "identity_level": c.IdentityLevel}}
		if c.RegisteredBy != "" {
			// A request received by post or at a service point: the record names the clerk who registered it.
			e.Actor, e.Role = c.RegisteredBy, "clerk"
			e.Detail["registered_by"] = c.RegisteredBy
		}
		return appendAudit(ctx, tx, e)
	})
}

// Case returns one case.
func (db *DB) Case(ctx context.Context, requestID string) (Case, error) {
	c, err := scanCase(db.Pool.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases WHERE request_id = $1`, requestID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: case: %w", err)
	}
	return c, err
}

// CaseFilter narrows a case list.
type CaseFilter struct {
	SubjectID string // only this subject's cases
	// IdentityCode adds, to SubjectID's, the cases registered by the office for this personal identity
	// code (by post or at a service point) whose identity a clerk has verified: the person they are
	// about may read them once signed in with that code.
	IdentityCode string
	Status       string
	Limit        int
}

// identityVerifiedByClerk is the identity level of a case registered by the office once a clerk has
// verified its subject's identity (workflows/request: IdentityVerified).
const identityVerifiedByClerk = "verified"

// VerifiedFor reports whether a case registered by the office belongs, by a clerk's verification,
// to the person with this personal identity code (normalized).
func (c Case) VerifiedFor(identityCode string) bool {
	if identityCode == "" || c.IdentityLevel != identityVerifiedByClerk {
		return false
	}
	var ids []struct{ Type, Value string }
	if json.Unmarshal(c.Identifiers, &ids) != nil {
		return false
	}
	for _, id := range ids {
		if id.Type == "personal_identity_code" && id.Value == identityCode {
			return true
		}
	}
	return false
}

// Cases lists cases, the nearest deadline first for the office, the newest first for a subject.
func (db *DB) Cases(ctx context.Context, f CaseFilter) ([]Case, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	order := `deadline, received_at`
	if f.SubjectID != "" {
		order = `received_at DESC`
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE ($1 = '' OR subject_id = $1 OR ($4 <> '' AND identity_level = $5
			AND identifiers @> jsonb_build_array(jsonb_build_object('type', 'personal_identity_code', 'value', $4::text))))
		AND ($2 = '' OR status = $2) ORDER BY `+order+` LIMIT $3`, f.SubjectID, f.Status, f.Limit, f.IdentityCode, identityVerifiedByClerk)
	if err != nil {
		return nil, fmt.Errorf("store: cases: %w", err)
	}
	defer rows.Close()
	out := []Case{} // an empty list, not null, for the APIs that return it
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("store: cases: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// PriorRequests lists the subject's earlier requests, for the Art 12(5) check of repeated requests.
func (db *DB) PriorRequests(ctx context.Context, subjectID, identityCode string, before time.Time) ([]Case, error) {
	// A letter whose identity was never verified may name anyone's identity code: it is not the
	// person's request, so it does not count against them.
	rows, err := db.Pool.Query(ctx, `SELECT `+caseColumns+` FROM cases WHERE received_at < $2
		AND (subject_id = $1 OR ($3 <> '' AND identity_level NOT IN ('unverified')
			AND identifiers @> jsonb_build_array(jsonb_build_object('type', 'personal_identity_code', 'value', $3::text))))
		ORDER BY received_at DESC LIMIT 50`, subjectID, before, identityCode)
	if err != nil {
		return nil, fmt.Errorf("store: prior requests: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("store: prior requests: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CaseRegister is what the rules decided and what the register answered, for one case.
type CaseRegister struct {
	RegisterID        string          `json:"register_id"`
	DeclarationDigest string          `json:"declaration_digest"`
	Plan              json.RawMessage `json:"plan"`
	Awaited           bool            `json:"awaited"`
	DispatchedAt      *time.Time      `json:"dispatched_at,omitempty"`
	ResultStatus      string          `json:"result_status,omitempty"`
	ResultAt          *time.Time      `json:"result_at,omitempty"`
	Result            json.RawMessage `json:"result,omitempty"`
	Outcome           json.RawMessage `json:"outcome,omitempty"`
	// ReplannedAt is when the rules were evaluated again with an identifier the subject supplied.
	ReplannedAt *time.Time `json:"replanned_at,omitempty"`
	// CancelledAt is when the register's task was cancelled, before any instance of it began.
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
}

// SavePlan stores the rules' decision for each register. A plan is made once: saving it again,
// after a retried activity, keeps the first.
func (db *DB) SavePlan(ctx context.Context, requestID string, plans []CaseRegister) error {
	batch := &pgx.Batch{}
	for _, p := range plans {
		batch.Queue(`INSERT INTO case_registers (request_id, register_id, declaration_digest, plan, awaited) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (request_id, register_id) DO NOTHING`, requestID, p.RegisterID, p.DeclarationDigest, p.Plan, p.Awaited)
	}
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("store: save plan: %w", err)
	}
	return nil
}

// CaseRegisters returns a case's registers in a stable order.
func (db *DB) CaseRegisters(ctx context.Context, requestID string) ([]CaseRegister, error) {
	rows, err := db.Pool.Query(ctx, `SELECT register_id, declaration_digest, plan, awaited, dispatched_at, coalesce(result_status, ''),
		result_at, result, outcome, replanned_at, cancelled_at FROM case_registers WHERE request_id = $1 ORDER BY register_id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("store: case registers: %w", err)
	}
	defer rows.Close()
	var out []CaseRegister
	for rows.Next() {
		var r CaseRegister
		if err := rows.Scan(&r.RegisterID, &r.DeclarationDigest, &r.Plan, &r.Awaited, &r.DispatchedAt, &r.ResultStatus, &r.ResultAt, &r.Result, &r.Outcome,
			&r.ReplannedAt, &r.CancelledAt); err != nil {
			return nil, fmt.Errorf("store: case registers: %w", err)
		}
		if r.Result, err = db.openAnswer(requestID, r.RegisterID, r.Result); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkDispatched records that tasks went out to the given registers.
func (db *DB) MarkDispatched(ctx context.Context, requestID string, registerIDs []string) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE case_registers SET dispatched_at = coalesce(dispatched_at, now())
			WHERE request_id = $1 AND register_id = ANY($2)`, requestID, registerIDs); err != nil {
			return fmt.Errorf("store: mark dispatched: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE cases SET status = 'dispatched', updated_at = now() WHERE request_id = $1 AND status = 'received'`, requestID)
		return err
	})
}

// RecordResult stores a register's answer and returns how many awaited registers of the case have
// still not answered. A redelivered answer changes nothing. The case row is locked first, so that
// two answers stored at once cannot both count the other as missing: the one that stores the last
// answer always sees zero.
func (db *DB) RecordResult(ctx context.Context, requestID, registerID, status string, result json.RawMessage) (remaining int, err error) {
	remaining, _, err = db.RecordAnswer(ctx, requestID, registerID, status, result)
	return remaining, err
}

// RecordAnswer is RecordResult that also counts the awaited registers that have answered, which the
// workflow compares with the number it dispatched to: registers dispatched after the subject
// supplied an identifier make a case await answers again.
func (db *DB) RecordAnswer(ctx context.Context, requestID, registerID, status string, result json.RawMessage) (remaining, answered int, err error) {
	if result, err = db.sealAnswer(requestID, registerID, result); err != nil {
		return 0, 0, err
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM cases WHERE request_id = $1 FOR UPDATE`, requestID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE case_registers SET result_status = $3, result_at = now(), result = $4
			WHERE request_id = $1 AND register_id = $2 AND result_status IS NULL`, requestID, registerID, status, result); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE result_status IS NULL), count(*) FILTER (WHERE result_status IS NOT NULL)
			FROM case_registers WHERE request_id = $1 AND awaited`, requestID).Scan(&remaining, &answered)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: record result: %w", err)
	}
	return remaining, answered, nil
}

// SaveReview stores each register's concluded outcome and puts the case in review.
func (db *DB) SaveReview(ctx context.Context, requestID string, outcomes map[string]json.RawMessage) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for registerID, o := range outcomes {
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET outcome = $3 WHERE request_id = $1 AND register_id = $2`,
				requestID, registerID, o); err != nil {
				return fmt.Errorf("store: save review: %w", err)
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = 'in_review', updated_at = now() WHERE request_id = $1
			AND status IN ('received', 'dispatched', 'awaiting_information')`, requestID)
		if err != nil {
			return fmt.Errorf("store: save review: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: "system", Role: "system", Action: "in_review", RequestID: requestID})
	})
}

// Notification is a message to send through the outbox.
type Notification struct {
	DedupKey  string
	Kind      string
	Recipient string
	Language  string
	Payload   map[string]any
}

// RecipientNotice is one Art 19 notice to a recipient of a register's data.
type RecipientNotice struct {
	RegisterID string
	Recipient  string
}

// Reply records the office's approval of the reply, the notice to the subject, the Art 19 notice to
// each recipient, and the record entries, in one transaction: the reply is either sent and recorded,
// or neither. A restriction's case goes on as restricted.
func (db *DB) Reply(ctx context.Context, requestID, clerk, note string, notice *Notification, art19 []RecipientNotice) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = CASE WHEN right_invoked = 'restriction' THEN 'restricted' ELSE 'replied' END,
			replied_at = now(), replied_by = $2, updated_at = now() WHERE request_id = $1 AND status = 'in_review'`, requestID, clerk)
		if err != nil {
			return fmt.Errorf("store: reply: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // already replied: the activity was retried
		}
		if notice != nil {
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		for _, n := range art19 {
			if err := appendAudit(ctx, tx, AuditEvent{Actor: "system", Role: "system", Action: "art19_notice", RequestID: requestID,
				Detail: map[string]any{"register_id": n.RegisterID, "recipient": n.Recipient}}); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: clerk, Role: "clerk", Action: "replied", RequestID: requestID,
			Detail: map[string]any{"note": note}})
	})
}

// Extend records an extension of the deadline with its reasons, and the notice to the subject.
func (db *DB) Extend(ctx context.Context, requestID, clerk, reasons string, newDeadline time.Time, notice *Notification) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET deadline = $2, extended_at = now(), extended_by = $3, extension_reasons = $4,
			updated_at = now() WHERE request_id = $1 AND extended_at IS NULL`, requestID, newDeadline, clerk, reasons)
		if err != nil {
			return fmt.Errorf("store: extend: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if notice != nil {
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: clerk, Role: "clerk", Action: "deadline_extended", RequestID: requestID,
			Detail: map[string]any{"new_deadline": newDeadline.Format("2006-01-02"), "reasons": reasons}})
	})
}

// Event records a step of a case's life in the record, with a message to send if any, in one
// transaction; the dedup key of the message makes a retried step send nothing twice.
func (db *DB) Event(ctx context.Context, requestID string, e AuditEvent, status string, notice *Notification) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if notice != nil {
			tag, err := tx.Exec(ctx, `SELECT 1 FROM outbox WHERE dedup_key = $1`, notice.DedupKey)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				return nil // done before: the activity was retried
			}
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		if status != "" {
			if _, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1`, requestID, status); err != nil {
				return fmt.Errorf("store: %s: %w", e.Action, err)
			}
		}
		e.RequestID = requestID
		return appendAudit(ctx, tx, e)
	})
}

// openStatuses are the statuses of a case that has been neither replied to nor withdrawn.
const openStatuses = `('received', 'dispatched', 'awaiting_information', 'in_review')`

// AwaitInformation puts a case that is still collecting in awaiting_information, queues the notice
// asking the subject for an identifier, and records which registers wait for which types, in one
// transaction. Asking again changes nothing.
func (db *DB) AwaitInformation(ctx context.Context, requestID string, waiting any, notice *Notification) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = 'awaiting_information', updated_at = now() WHERE request_id = $1
			AND status IN ('received', 'dispatched')`, requestID)
		if err != nil {
			return fmt.Errorf("store: await information: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // asked before: the activity was retried
		}
		if notice != nil {
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: "system", Role: "system", Action: "information_requested", RequestID: requestID,
			Detail: map[string]any{"waiting": waiting}})
	})
}

// SupplyIdentifier adds an identifier the subject supplied to an open case and records its type
// (never its value). It is marked verified when the subject confirmed it with a one-time code for
// this request (VerifyChallenge), and unverified otherwise. Supplying the same identifier again
// changes nothing.
func (db *DB) SupplyIdentifier(ctx context.Context, requestID string, id SuppliedIdentifier) error {
	same, err := json.Marshal([]map[string]string{{"type": id.Type, "value": id.Value}})
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		at, err := verifiedByCode(ctx, tx, requestID, id.Type, id.Value)
		if err != nil {
			return fmt.Errorf("store: supply identifier: %w", err)
		}
		id.Verified, id.VerifiedBy, id.VerifiedAt = at != nil, "", at
		if at != nil {
			id.VerifiedBy = VerifiedByCode
		}
		entry, err := json.Marshal([]SuppliedIdentifier{id})
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE cases SET supplied_identifiers = supplied_identifiers || $2::jsonb, updated_at = now()
			WHERE request_id = $1 AND NOT supplied_identifiers @> $3::jsonb`, requestID, entry, same)
		if err != nil {
			return fmt.Errorf("store: supply identifier: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		detail := map[string]any{"type": id.Type, "channel": id.Channel, "verified": id.Verified}
		if id.Verified {
			detail["verified_by"] = id.VerifiedBy
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: "data subject", Role: "subject", Action: "identifier_supplied", RequestID: requestID,
			Detail: detail})
	})
}

// Replan replaces the rules' decision for registers no task has gone to yet, marks those a task
// goes to as awaited, and sets an open case's status, in one transaction. The record names the
// registers and their new outcomes the first time.
func (db *DB) Replan(ctx context.Context, requestID string, plans []CaseRegister, outcomes map[string]string, status string) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		ids := make([]string, len(plans))
		for i, p := range plans {
			ids[i] = p.RegisterID
		}
		var fresh int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM case_registers WHERE request_id = $1 AND register_id = ANY($2)
			AND replanned_at IS NULL`, requestID, ids).Scan(&fresh); err != nil {
			return fmt.Errorf("store: replan: %w", err)
		}
		for _, p := range plans {
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET plan = $3, awaited = $4, replanned_at = coalesce(replanned_at, now())
				WHERE request_id = $1 AND register_id = $2 AND dispatched_at IS NULL`, requestID, p.RegisterID, p.Plan, p.Awaited); err != nil {
				return fmt.Errorf("store: replan: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1 AND status IN `+openStatuses,
			requestID, status); err != nil {
			return fmt.Errorf("store: replan: %w", err)
		}
		if fresh == 0 {
			return nil // replanned before: the activity was retried
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: "system", Role: "system", Action: "replanned", RequestID: requestID,
			Detail: map[string]any{"outcomes": outcomes}})
	})
}

// Withdraw closes an open case as withdrawn: it records the withdrawal and what became of each
// register's task, marks the cancelled ones, and queues the notice to the subject, in one
// transaction. A case already withdrawn is left as it is.
func (db *DB) Withdraw(ctx context.Context, requestID, channel string, cancelled []string, detail map[string]any, notice *Notification) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = 'withdrawn', withdrawn_at = now(), updated_at = now()
			WHERE request_id = $1 AND status IN `+openStatuses, requestID)
		if err != nil {
			return fmt.Errorf("store: withdraw: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // withdrawn before: the activity was retried
		}
		if len(cancelled) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET cancelled_at = now() WHERE request_id = $1 AND register_id = ANY($2)`,
				requestID, cancelled); err != nil {
				return fmt.Errorf("store: withdraw: %w", err)
			}
		}
		if notice != nil {
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		if detail == nil {
			detail = map[string]any{}
		}
		detail["channel"] = channel
		return appendAudit(ctx, tx, AuditEvent{Actor: "data subject", Role: "subject", Action: "withdrawn", RequestID: requestID, Detail: detail})
	})
}

// VerifyIdentity records a clerk's verification of the identity of a subject registered unverified:
// the case's identity level becomes verified, with the method, the clerk and the time, and the case
// goes back to received for intake, in one transaction with its record entry. Recording it again
// changes nothing.
func (db *DB) VerifyIdentity(ctx context.Context, requestID, clerk, method, note string) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET identity_level = 'verified', identity_method = $2, identity_decided_by = $3,
			identity_decided_at = now(), status = 'received', updated_at = now() WHERE request_id = $1 AND status = 'awaiting_identity'`,
			requestID, method, clerk)
		if err != nil {
			return fmt.Errorf("store: verify identity: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // recorded before: the activity was retried
		}
		detail := map[string]any{"method": method}
		if note != "" {
			detail["note"] = note
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: clerk, Role: "clerk", Action: "identity_verified", RequestID: requestID, Detail: detail})
	})
}

// RefuseIdentity closes a case awaiting identity as identity_not_verified, with the reasons told to
// the subject, the clerk and the time, queues the notice of it, and records it, in one transaction.
// Recording it again changes nothing.
func (db *DB) RefuseIdentity(ctx context.Context, requestID, clerk, reasons string, notice *Notification) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = 'identity_not_verified', identity_refusal = $2, identity_decided_by = $3,
			identity_decided_at = now(), updated_at = now() WHERE request_id = $1 AND status = 'awaiting_identity'`, requestID, reasons, clerk)
		if err != nil {
			return fmt.Errorf("store: refuse identity: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // recorded before: the activity was retried
		}
		if notice != nil {
			if err := enqueue(ctx, tx, requestID, *notice); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, AuditEvent{Actor: clerk, Role: "clerk", Action: "identity_refused", RequestID: requestID,
			Detail: map[string]any{"reasons": reasons, "notice": notice != nil}})
	})
}
