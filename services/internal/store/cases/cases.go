// Package cases is the home of a request in PostgreSQL: the case as received, what the rules
// planned for each register and what each answered, the case's package key, and every step of its
// life. Repo is the request workflow's case store (request.Cases): it speaks the workflow's own
// types, and keeps the notices each step sends and the record entry each step writes in the
// step's transaction. The sites read cases through it too.
package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/workflows/request"
)

// Case is one request as the store holds it. It carries the subject's identifiers: only the
// workflow's activities and the pages that show a case to its subject or to staff read it.
type Case struct {
	RequestID      string          `json:"request_id"`
	ReceivedAt     time.Time       `json:"received_at"`
	Channel        request.Channel `json:"channel"`
	Right          contracts.Right `json:"right"`
	Language       string          `json:"language"`
	SubjectID      string          `json:"-"`
	SubjectName    string          `json:"-"`
	IdentityMethod string          `json:"identity_method"`
	IdentityLevel  string          `json:"identity_level"`
	Identifiers    json.RawMessage `json:"-"`
	ContactEmail   string          `json:"-"`
	Details        string          `json:"-"`
	Rectification  json.RawMessage `json:"-"`
	Status         request.Status  `json:"status"`
	Deadline       time.Time       `json:"deadline"`
	InternalTarget time.Time       `json:"internal_target"`
	RepliedAt      *time.Time      `json:"replied_at,omitempty"`
	RepliedBy      string          `json:"replied_by,omitempty"`
	// ExtensionReasons are the reasons for an extension of the deadline, told to the subject, and
	// ExtendedAt when it was extended.
	ExtensionReasons string     `json:"extension_reasons,omitempty"`
	ExtendedAt       *time.Time `json:"extended_at,omitempty"`
	// Supplied are the identifiers the subject added after sending the request, as a JSON array of
	// SuppliedIdentifier.
	Supplied    json.RawMessage `json:"-"`
	WithdrawnAt *time.Time      `json:"withdrawn_at,omitempty"`
	// RegisteredBy is the clerk who registered a request received by post or at a service point.
	RegisteredBy string `json:"registered_by,omitempty"`
	// Requester is the controller that sent the request on the subject's behalf (OpenDSR).
	Requester string `json:"requester,omitempty"`
	// IdentityDecidedBy and IdentityDecidedAt say which clerk verified, or refused to accept, the
	// identity of a subject registered unverified, and when; IdentityRefusal holds the reasons of a
	// refusal, told to the subject.
	IdentityDecidedBy string     `json:"identity_decided_by,omitempty"`
	IdentityDecidedAt *time.Time `json:"identity_decided_at,omitempty"`
	IdentityRefusal   string     `json:"identity_refusal,omitempty"`
	// Attention is the step of the request that failed for good and waits for a clerk, if any.
	Attention *request.Attention `json:"attention,omitempty"`
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

// VerifiedFor reports whether a case registered by the office belongs, by a clerk's verification,
// to the person with this personal identity code (normalized).
func (c Case) VerifiedFor(identityCode string) bool {
	if identityCode == "" || c.IdentityLevel != request.IdentityVerified {
		return false
	}
	var ids []contracts.Identifier
	if json.Unmarshal(c.Identifiers, &ids) != nil {
		return false
	}
	return slices.Contains(ids, contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: identityCode})
}

const caseColumns = `request_id, received_at, channel, right_invoked, language, subject,
	identity_method, identity_level, status,
	deadline, internal_target, replied_at, coalesce(replied_by, ''), coalesce(extension_reasons, ''),
	withdrawn_at, coalesce(registered_by, ''), coalesce(identity_decided_by, ''), identity_decided_at,
	coalesce(identity_refusal, ''), coalesce(attention_step, ''), coalesce(attention_trouble, ''), attention_since, extended_at,
	coalesce(requester, '')`

func (r *Repo) scanCase(row pgx.Row) (Case, error) {
	var c Case
	var sealed []byte
	var step, trouble string
	var since *time.Time
	err := row.Scan(&c.RequestID, &c.ReceivedAt, &c.Channel, &c.Right, &c.Language, &sealed,
		&c.IdentityMethod, &c.IdentityLevel, &c.Status,
		&c.Deadline, &c.InternalTarget, &c.RepliedAt, &c.RepliedBy, &c.ExtensionReasons, &c.WithdrawnAt,
		&c.RegisteredBy, &c.IdentityDecidedBy, &c.IdentityDecidedAt, &c.IdentityRefusal, &step, &trouble, &since, &c.ExtendedAt,
		&c.Requester)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, store.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	if step != "" && since != nil {
		c.Attention = &request.Attention{Step: request.Step(step), Trouble: request.Trouble(trouble), Since: *since}
	}
	var s subjectData
	if err := store.OpenJSON(r.db.Keys.Subjects, sealed, subjectBinding(c.RequestID), &s); err != nil {
		return c, fmt.Errorf("case %s: subject: %w", c.RequestID, err)
	}
	return c, s.into(&c)
}

// Repo is the case store.
type Repo struct {
	db *store.DB
}

// New is the case store of a database. What the registers answer, and everything the case holds
// on its subject, is kept sealed under the database's keys (store.Keyring).
func New(db *store.DB) *Repo {
	return &Repo{db: db}
}

// fail wraps a store error with its operation, marking what PostgreSQL refused for its data as
// permanent (request.ErrPermanent): the activity then stops retrying it.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if store.Permanent(err) {
		return fmt.Errorf("cases: %s: %w: %w", op, request.ErrPermanent, err)
	}
	return fmt.Errorf("cases: %s: %w", op, err)
}

// Case returns one case.
func (r *Repo) Case(ctx context.Context, requestID string) (Case, error) {
	c, err := r.scanCase(r.db.Pool.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases WHERE request_id = $1`, requestID))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		err = fail("case", err)
	}
	return c, err
}

// Owned reports whether a case exists and is the signed-in person's: sent by them (subject is their
// subject at sign-in), or registered by the office for their personal identity code (normalized) and
// verified by a clerk. It reads nothing of the case, and takes as long whether the case is a
// stranger's or does not exist at all: one lookup of the request id, by the primary key, with the
// keys compared in the same statement.
func (r *Repo) Owned(ctx context.Context, requestID, subject, identityCode string) (bool, error) {
	var owned bool
	codes := [][]byte{}
	if identityCode != "" {
		codes = r.db.Keys.Index.All(IndexIdentityCode, identityCode)
	}
	err := r.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cases WHERE request_id = $1
		AND (subject_key = ANY($2) OR (identity_level = $4 AND identity_code_key = ANY($3))))`,
		requestID, r.db.Keys.Index.All(IndexSubject, subject), codes, request.IdentityVerified).Scan(&owned)
	if err != nil {
		return false, fail("owned", err)
	}
	return owned, nil
}

// Filter narrows a case list.
type Filter struct {
	SubjectID string // only this subject's cases
	// IdentityCode adds, to SubjectID's, the cases registered by the office for this personal identity
	// code (by post or at a service point) whose identity a clerk has verified: the person they are
	// about may read them once signed in with that code.
	IdentityCode string
	// ByIdentityCode and ByName find, for the office, every case about a personal identity code
	// (normalized), or a subject's name as stated (compared as NameKey compares them).
	ByIdentityCode, ByName string
	// Status, if set, keeps only cases in it.
	Status request.Status
	// NeedsAttention keeps only the cases with a step that needs attention.
	NeedsAttention bool
	Limit          int
}

// List lists cases, the nearest deadline first for the office, the newest first for a subject.
func (r *Repo) List(ctx context.Context, f Filter) ([]Case, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	order := `deadline, received_at`
	if f.SubjectID != "" {
		order = `received_at DESC`
	}
	x := r.db.Keys.Index
	var subjects, codes, searchCodes, names [][]byte
	if f.SubjectID != "" {
		subjects = x.All(IndexSubject, f.SubjectID)
	}
	if f.IdentityCode != "" {
		codes = x.All(IndexIdentityCode, f.IdentityCode)
	}
	if f.ByIdentityCode != "" {
		searchCodes = x.All(IndexIdentityCode, contracts.Normalize(contracts.IdentifierPersonalIdentityCode, f.ByIdentityCode))
	}
	if f.ByName != "" {
		names = x.All(IndexName, NameKey(f.ByName))
	}
	rows, err := r.db.Pool.Query(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE ($1::bytea[] IS NULL OR subject_key = ANY($1) OR (identity_level = $5 AND identity_code_key = ANY($4)))
		AND ($2 = '' OR status = $2) AND ($6::bytea[] IS NULL OR identity_code_key = ANY($6)) AND ($7::bytea[] IS NULL OR name_key = ANY($7))
		AND (NOT $8 OR attention_step IS NOT NULL)
		ORDER BY `+order+` LIMIT $3`, subjects, f.Status, f.Limit, codes, request.IdentityVerified, searchCodes, names, f.NeedsAttention)
	if err != nil {
		return nil, fail("list", err)
	}
	defer rows.Close()
	out := []Case{} // an empty list, not null, for the APIs that return it
	for rows.Next() {
		c, err := r.scanCase(rows)
		if err != nil {
			return nil, fail("list", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// OpenFor counts a person's open requests, as Owned finds them: the cap on how many one person may
// have open at once counts them.
func (r *Repo) OpenFor(ctx context.Context, subject, identityCode string) (int, error) {
	codes := [][]byte{}
	if identityCode != "" {
		codes = r.db.Keys.Index.All(IndexIdentityCode, identityCode)
	}
	var n int
	err := r.db.Pool.QueryRow(ctx, `SELECT count(*) FROM cases WHERE status = ANY($1)
		AND (subject_key = ANY($2) OR (identity_level = $4 AND identity_code_key = ANY($3)))`,
		statuses(request.OpenStatuses()...), r.db.Keys.Index.All(IndexSubject, subject), codes, request.IdentityVerified).Scan(&n)
	if err != nil {
		return 0, fail("open for", err)
	}
	return n, nil
}

// NeedingAttention counts the cases with a step that needs attention, for the DPO.
func (r *Repo) NeedingAttention(ctx context.Context) (int, error) {
	var n int
	if err := r.db.Pool.QueryRow(ctx, `SELECT count(*) FROM cases WHERE attention_step IS NOT NULL`).Scan(&n); err != nil {
		return 0, fail("needing attention", err)
	}
	return n, nil
}

// Register is what the rules decided and what the register answered, for one case.
type Register struct {
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

// Registers returns a case's registers in a stable order, their answers opened.
func (r *Repo) Registers(ctx context.Context, requestID string) ([]Register, error) {
	rows, err := r.db.Pool.Query(ctx, `SELECT register_id, declaration_digest, plan, awaited, dispatched_at, coalesce(result_status, ''),
		result_at, result, outcome, replanned_at, cancelled_at FROM case_registers WHERE request_id = $1 ORDER BY register_id`, requestID)
	if err != nil {
		return nil, fail("registers", err)
	}
	defer rows.Close()
	var out []Register
	for rows.Next() {
		var g Register
		if err := rows.Scan(&g.RegisterID, &g.DeclarationDigest, &g.Plan, &g.Awaited, &g.DispatchedAt, &g.ResultStatus, &g.ResultAt, &g.Result,
			&g.Outcome, &g.ReplannedAt, &g.CancelledAt); err != nil {
			return nil, fail("registers", err)
		}
		if g.Result, err = r.openAnswer(requestID, g.RegisterID, g.Result); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Waiting lists the case's registers that could be searched if the subject supplied an identifier.
func (r *Repo) Waiting(ctx context.Context, k Case) ([]request.WaitingRegister, error) {
	planned, err := r.Planned(ctx, k.RequestID)
	if err != nil {
		return nil, err
	}
	return request.Waiting(k.Status, planned), nil
}

// RecordAnswer stores a register's answer and returns how many awaited registers of the case have
// still not answered, and how many have, which the workflow compares with the number it dispatched
// to. A redelivered answer changes nothing. The case row is locked first, so that two answers
// stored at once cannot both count the other as missing: the one that stores the last answer always
// sees zero.
func (r *Repo) RecordAnswer(ctx context.Context, requestID, registerID string, status contracts.ResultStatus, result json.RawMessage) (remaining, answered int, err error) {
	if result, err = r.sealAnswer(requestID, registerID, result); err != nil {
		return 0, 0, err
	}
	err = pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
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
		return 0, 0, fail("record answer", err)
	}
	return remaining, answered, nil
}

// InputOf rebuilds a request's input from its stored case.
func InputOf(k Case) (request.Input, error) {
	in := request.Input{RequestID: k.RequestID, ReceivedAt: k.ReceivedAt, Channel: k.Channel, RegisteredBy: k.RegisteredBy, Requester: k.Requester,
		// The store keeps the deadline's days as dates; the workflow's are those days from midnight in Finland.
		Receipt: request.Receipt{Deadline: deadline.Date(k.Deadline), InternalTarget: deadline.Date(k.InternalTarget)},
		Subject: request.Subject{ID: k.SubjectID, Name: k.SubjectName, IdentityMethod: k.IdentityMethod, IdentityLevel: k.IdentityLevel},
		Request: contracts.SubmitRequest{Right: k.Right, Language: k.Language, ContactEmail: k.ContactEmail, Details: k.Details}}
	if err := json.Unmarshal(k.Identifiers, &in.Subject.Identifiers); err != nil {
		return in, fmt.Errorf("case %s: identifiers: %w", k.RequestID, err)
	}
	if len(k.Rectification) > 0 {
		if err := json.Unmarshal(k.Rectification, &in.Request.Rectification); err != nil {
			return in, fmt.Errorf("case %s: rectification: %w", k.RequestID, err)
		}
	}
	// Identifiers the subject supplied later count as supplied, as a phone number given with the
	// request does; the case keeps them marked as supplied for the office.
	for _, s := range k.SuppliedIdentifiers() {
		id := contracts.Identifier{Type: contracts.IdentifierType(s.Type), Value: s.Value}
		if !slices.Contains(in.Subject.Identifiers, id) {
			in.Subject.Identifiers = append(in.Subject.Identifiers, id)
		}
	}
	return in, nil
}

// PlannedOf decodes a case's registers as stored.
func PlannedOf(rows []Register) ([]request.PlannedRegister, error) {
	out := make([]request.PlannedRegister, len(rows))
	for i, g := range rows {
		if err := json.Unmarshal(g.Plan, &out[i]); err != nil {
			return nil, fmt.Errorf("register %s: plan: %w", g.RegisterID, err)
		}
		out[i].Dispatched = g.DispatchedAt != nil
		if len(g.Result) > 0 {
			out[i].Result = &contracts.Result{}
			if err := json.Unmarshal(g.Result, out[i].Result); err != nil {
				return nil, fmt.Errorf("register %s: result: %w", g.RegisterID, err)
			}
		}
	}
	return out, nil
}

// statuses are statuses as SQL compares them.
func statuses(ss ...request.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// collecting are the statuses of a case whose registers' answers are still being collected.
var collecting = statuses(request.StatusReceived, request.StatusDispatched, request.StatusAwaitingInformation)
