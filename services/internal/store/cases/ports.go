package cases

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/workflows/request"
)

// Repo is the request workflow's case store: every method below is one of request.Cases, each
// idempotent, so that the activity calling it may be retried freely.
var _ request.Cases = (*Repo)(nil)

// The record's actors besides staff, and how its entries name their roles.
const (
	system  = "system"
	subject = "data subject"
)

// Record stores a new case and its receipt in the record. A subject registered unverified (a letter)
// waits for a clerk to verify the identity before intake.
func (r *Repo) Record(ctx context.Context, in request.Input) error {
	subj := subjectData{ID: in.Subject.ID, Name: in.Subject.Name, Identifiers: in.Subject.Identifiers, ContactEmail: in.Request.ContactEmail,
		Details: in.Request.Details, Rectification: in.Request.Rectification}
	sealed, err := r.sealSubject(in.RequestID, subj)
	if err != nil {
		return err
	}
	subjectKey, codeKey, nameKey := r.indexes(subj)
	status := request.StatusReceived
	if in.Subject.IdentityLevel == request.IdentityUnverified {
		status = request.StatusAwaitingIdentity
	}
	return fail("record", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO cases (request_id, received_at, channel, right_invoked, language, subject, subject_key,
			identity_code_key, name_key, identity_method, identity_level, status, deadline, internal_target, registered_by, requester)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,nullif($15,''),nullif($16,''))
			ON CONFLICT (request_id) DO NOTHING`,
			in.RequestID, in.ReceivedAt, in.Channel, in.Request.Right, in.Request.Language, sealed, subjectKey, codeKey, nameKey,
			in.Subject.IdentityMethod, in.Subject.IdentityLevel, status, in.Receipt.Deadline, in.Receipt.InternalTarget, in.RegisteredBy,
			in.Requester)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		// The receipt goes once, with the case that it confirms: a retried step inserts nothing.
		if n := toSubject(Case{RequestID: in.RequestID, ContactEmail: in.Request.ContactEmail, Language: in.Request.Language},
			outbox.KindRequestReceived); n != nil {
			n.Payload["deadline"] = in.Receipt.Deadline.Format("2006-01-02")
			if err := r.enqueue(ctx, tx, in.RequestID, n); err != nil {
				return err
			}
		}
		e := record.Entry{Actor: system, Role: system, Action: "received", RequestID: in.RequestID,
			Detail: map[string]any{"channel": in.Channel, "right": in.Request.Right, "identity_method": in.Subject.IdentityMethod,
				"identity_level": in.Subject.IdentityLevel}}
		if in.RegisteredBy != "" {
			// A request received by post or at a service point: the record names the clerk who registered it.
			e.Actor, e.Role = in.RegisteredBy, "clerk"
			e.Detail["registered_by"] = in.RegisteredBy
		}
		if in.Requester != "" {
			// Sent by a controller on the subject's behalf (OpenDSR): the record names it.
			e.Actor, e.Role = in.Requester, "controller"
			e.Detail["requester"] = in.Requester
		}
		return record.Append(ctx, tx, r.db, e)
	}))
}

// Load returns the request as it was received, with the identifiers the subject supplied since.
func (r *Repo) Load(ctx context.Context, requestID string) (request.Input, error) {
	k, err := r.Case(ctx, requestID)
	if err != nil {
		return request.Input{}, err
	}
	return InputOf(k)
}

// Prior lists the subject's earlier requests, for the Art 12(5) check of repeated requests: those of
// the same subject id, or with the same personal identity code. A letter whose identity was never
// verified may name anyone's identity code: it is not the person's request, so it does not count.
func (r *Repo) Prior(ctx context.Context, s request.Subject, before time.Time) ([]rules.PriorRequest, error) {
	codes := [][]byte{}
	for _, id := range s.Identifiers {
		if id.Type == contracts.IdentifierPersonalIdentityCode {
			codes = r.db.Keys.Index.All(IndexIdentityCode, contracts.Normalize(id.Type, id.Value))
		}
	}
	rows, err := r.db.Pool.Query(ctx, `SELECT right_invoked, received_at FROM cases WHERE received_at < $2
		AND (subject_key = ANY($1) OR (identity_level <> $4 AND identity_code_key = ANY($3)))
		ORDER BY received_at DESC LIMIT 50`, r.db.Keys.Index.All(IndexSubject, s.ID), before, codes, request.IdentityUnverified)
	if err != nil {
		return nil, fail("prior requests", err)
	}
	defer rows.Close()
	var out []rules.PriorRequest
	for rows.Next() {
		var p rules.PriorRequest
		if err := rows.Scan(&p.Right, &p.ReceivedAt); err != nil {
			return nil, fail("prior requests", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SavePlan stores the rules' decision for each register. A plan is made once: saving it again,
// after a retried activity, keeps the first.
func (r *Repo) SavePlan(ctx context.Context, requestID string, plans []request.PlannedRegister) error {
	batch := &pgx.Batch{}
	for _, p := range plans {
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		batch.Queue(`INSERT INTO case_registers (request_id, register_id, declaration_digest, plan, awaited) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (request_id, register_id) DO NOTHING`, requestID, p.Outcome.RegisterID, p.Digest, raw, p.Outcome.Dispatch)
	}
	return fail("save plan", r.db.Pool.SendBatch(ctx, batch).Close())
}

// Planned returns the stored decisions with each register's answer, if any.
func (r *Repo) Planned(ctx context.Context, requestID string) ([]request.PlannedRegister, error) {
	rows, err := r.Registers(ctx, requestID)
	if err != nil {
		return nil, err
	}
	return PlannedOf(rows)
}

// MarkDispatched records that tasks went out to the given registers.
func (r *Repo) MarkDispatched(ctx context.Context, requestID string, registerIDs []string) error {
	return fail("mark dispatched", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE case_registers SET dispatched_at = coalesce(dispatched_at, now())
			WHERE request_id = $1 AND register_id = ANY($2)`, requestID, registerIDs); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1 AND status = $3`,
			requestID, request.StatusDispatched, request.StatusReceived)
		return err
	}))
}

// SaveReview stores each register's concluded outcome and puts the case in review.
func (r *Repo) SaveReview(ctx context.Context, requestID string, outcomes []rules.Outcome) error {
	return fail("save review", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		for _, o := range outcomes {
			raw, err := json.Marshal(o)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET outcome = $3 WHERE request_id = $1 AND register_id = $2`,
				requestID, o.RegisterID, raw); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1 AND status = ANY($3)`,
			requestID, request.StatusInReview, collecting)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "in_review", RequestID: requestID})
	}))
}

// toSubject is a message to the subject about their request, if they gave an address for it.
func toSubject(k Case, kind outbox.Kind) *outbox.Notice {
	if k.ContactEmail == "" {
		return nil
	}
	return &outbox.Notice{DedupKey: string(kind) + "/" + k.RequestID, Kind: kind, Recipient: k.ContactEmail,
		Language: k.Language, Payload: map[string]any{"request_id": k.RequestID}}
}

// orOnCasePage is a notice to the subject that, without an address, waits on the subject's case
// page; the record says so.
func orOnCasePage(k Case, kind outbox.Kind) *outbox.Notice {
	if n := toSubject(k, kind); n != nil {
		return n
	}
	return &outbox.Notice{DedupKey: string(kind) + "/" + k.RequestID, Kind: kind, Language: k.Language,
		Payload: map[string]any{"request_id": k.RequestID, "channel": "portal"}}
}

func (r *Repo) enqueue(ctx context.Context, tx pgx.Tx, requestID string, n *outbox.Notice) error {
	if n == nil {
		return nil
	}
	return outbox.Enqueue(ctx, tx, r.db, requestID, *n)
}

// Reply records the office's approval of the reply, the notice to the subject, the Art 19 notice to
// each recipient, and the record entries, in one transaction: the reply is either sent and recorded,
// or neither. A restriction's case goes on as restricted.
func (r *Repo) Reply(ctx context.Context, requestID string, a request.Approval, art19 []request.RecipientNotice) error {
	k, err := r.Case(ctx, requestID)
	if err != nil {
		return err
	}
	status := request.StatusReplied
	if k.Right == contracts.RightRestriction {
		status = request.StatusRestricted
	}
	return fail("reply", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, replied_at = now(), replied_by = $3, updated_at = now()
			WHERE request_id = $1 AND status = $4`, requestID, status, a.Clerk, request.StatusInReview)
		if err != nil || tag.RowsAffected() == 0 {
			return err // none: already replied, and the activity was retried
		}
		if err := r.enqueue(ctx, tx, requestID, toSubject(k, outbox.KindReplyReady)); err != nil {
			return err
		}
		for _, n := range art19 {
			if err := record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "art19_notice", RequestID: requestID,
				Detail: map[string]any{"register_id": n.RegisterID, "recipient": n.Recipient}}); err != nil {
				return err
			}
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: a.Clerk, Role: "clerk", Action: "replied", RequestID: requestID,
			Purpose: a.Purpose, Detail: map[string]any{"note": a.Note}})
	}))
}

// Extend records an extension of the deadline with its reasons, and the notice to the subject.
func (r *Repo) Extend(ctx context.Context, x request.ExtendInput) error {
	k, err := r.Case(ctx, x.RequestID)
	if err != nil {
		return err
	}
	return fail("extend", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET deadline = $2, extended_at = now(), extended_by = $3, extension_reasons = $4,
			updated_at = now() WHERE request_id = $1 AND extended_at IS NULL`, x.RequestID, x.NewDeadline, x.Extension.Clerk, x.Extension.Reasons)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if err := r.enqueue(ctx, tx, x.RequestID, toSubject(k, outbox.KindDeadlineExtended)); err != nil {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: x.Extension.Clerk, Role: "clerk", Action: "deadline_extended", RequestID: x.RequestID,
			Purpose: x.Extension.Purpose, Detail: map[string]any{"new_deadline": x.NewDeadline.Format("2006-01-02"), "reasons": x.Extension.Reasons}})
	}))
}

// event records a step of a case's life in the record, with a message to send if any, and the
// case's new status if it changes, in one transaction; the dedup key of the message makes a retried
// step do nothing twice.
func (r *Repo) event(ctx context.Context, requestID string, e record.Entry, status request.Status, notice *outbox.Notice) error {
	return pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if notice != nil {
			done, err := outbox.Queued(ctx, tx, notice.DedupKey)
			if err != nil || done {
				return err
			}
			if err := outbox.Enqueue(ctx, tx, r.db, requestID, *notice); err != nil {
				return err
			}
		}
		if status != "" {
			if _, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1`, requestID, status); err != nil {
				return err
			}
		}
		e.RequestID = requestID
		return record.Append(ctx, tx, r.db, e)
	})
}

// Raise records a deadline alarm and queues it to the office, whose address is the notifier's.
func (r *Repo) Raise(ctx context.Context, a request.Alarm) error {
	day := a.Deadline.Format("2006-01-02")
	kind := outbox.KindDeadlineReminder
	if a.Kind == request.AlarmEscalation {
		kind = outbox.KindDeadlineMissed
	}
	notice := &outbox.Notice{DedupKey: string(a.Kind) + "/" + a.RequestID + "/" + day, Kind: kind,
		Language: "en", Payload: map[string]any{"request_id": a.RequestID, "deadline": day}}
	return fail("raise", r.event(ctx, a.RequestID, record.Entry{Actor: system, Role: system, Action: string(a.Kind),
		Detail: map[string]any{"deadline": day}}, "", notice))
}

// LiftNotice records and queues the Art 18(3) notice to the subject.
func (r *Repo) LiftNotice(ctx context.Context, l request.LiftInput) error {
	k, err := r.Case(ctx, l.RequestID)
	if err != nil {
		return err
	}
	return fail("lift notice", r.event(ctx, l.RequestID, record.Entry{Actor: l.Clerk, Role: "clerk", Action: "lift_notice_sent", Purpose: l.Purpose},
		request.StatusLiftNoticeSent, orOnCasePage(k, outbox.KindLiftNotice)))
}

// Lifted records that a restriction was lifted at the given registers.
func (r *Repo) Lifted(ctx context.Context, l request.LiftInput, registerIDs []string) error {
	k, err := r.Case(ctx, l.RequestID)
	if err != nil {
		return err
	}
	return fail("lifted", r.event(ctx, l.RequestID, record.Entry{Actor: l.Clerk, Role: "clerk", Action: "restriction_lifted", Purpose: l.Purpose,
		Detail: map[string]any{"registers": registerIDs}}, request.StatusLifted, orOnCasePage(k, outbox.KindRestrictionLifted)))
}

// AskForInformation puts a case that is still collecting in awaiting_information, queues the notice
// asking the subject for an identifier, and records which registers wait for which types, in one
// transaction. Asking again changes nothing.
func (r *Repo) AskForInformation(ctx context.Context, q request.InformationRequest) error {
	k, err := r.Case(ctx, q.RequestID)
	if err != nil {
		return err
	}
	return fail("ask for information", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1 AND status = ANY($3)`,
			q.RequestID, request.StatusAwaitingInformation, statuses(request.StatusReceived, request.StatusDispatched))
		if err != nil || tag.RowsAffected() == 0 {
			return err // none: asked before, and the activity was retried
		}
		if err := r.enqueue(ctx, tx, q.RequestID, toSubject(k, outbox.KindInformationNeeded)); err != nil {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "information_requested", RequestID: q.RequestID,
			Detail: map[string]any{"waiting": q.Registers}})
	}))
}

// Supplied adds an identifier the subject supplied to an open case and records its type (never its
// value). It is marked verified when the subject confirmed it with a one-time code for this request,
// and unverified otherwise. Supplying the same identifier again changes nothing.
func (r *Repo) Supplied(ctx context.Context, requestID string, id contracts.Identifier, channel request.Channel) error {
	return fail("supplied", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		k, err := r.scanCase(tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases WHERE request_id = $1 FOR UPDATE`, requestID))
		if err != nil {
			return err
		}
		var subj subjectData
		if err := json.Unmarshal(k.Identifiers, &subj.Identifiers); err != nil {
			return err
		}
		if len(k.Rectification) > 0 {
			if err := json.Unmarshal(k.Rectification, &subj.Rectification); err != nil {
				return err
			}
		}
		subj.ID, subj.Name, subj.ContactEmail, subj.Details, subj.Supplied = k.SubjectID, k.SubjectName, k.ContactEmail, k.Details, k.SuppliedIdentifiers()
		for _, s := range subj.Supplied {
			if s.Type == string(id.Type) && s.Value == id.Value {
				return nil // supplied before, and the activity was retried
			}
		}
		at, err := challenges.ConfirmedAt(ctx, tx, r.db, requestID, string(id.Type), id.Value)
		if err != nil {
			return err
		}
		s := SuppliedIdentifier{Type: string(id.Type), Value: id.Value, Channel: string(channel), SuppliedAt: time.Now().UTC(),
			Verified: at != nil, VerifiedAt: at}
		if at != nil {
			s.VerifiedBy = challenges.MethodOneTimeCode
		}
		subj.Supplied = append(subj.Supplied, s)
		sealed, err := r.sealSubject(requestID, subj)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET subject = $2, updated_at = now() WHERE request_id = $1`, requestID, sealed); err != nil {
			return err
		}
		detail := map[string]any{"type": s.Type, "channel": s.Channel, "verified": s.Verified}
		if s.Verified {
			detail["verified_by"] = s.VerifiedBy
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: subject, Role: "subject", Action: "identifier_supplied", RequestID: requestID,
			Detail: detail})
	}))
}

// Replan replaces the rules' decision for registers no task has gone to yet, marks those a task
// goes to as awaited, and sets an open case's status, in one transaction. The record names the
// registers and their new outcomes the first time.
func (r *Repo) Replan(ctx context.Context, requestID string, plans []request.PlannedRegister, status request.Status) error {
	ids := make([]string, len(plans))
	outcomes := make(map[string]string, len(plans))
	raws := make([][]byte, len(plans))
	for i, p := range plans {
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		ids[i], raws[i], outcomes[p.Outcome.RegisterID] = p.Outcome.RegisterID, raw, string(p.Outcome.Code)
	}
	return fail("replan", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		var fresh int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM case_registers WHERE request_id = $1 AND register_id = ANY($2)
			AND replanned_at IS NULL`, requestID, ids).Scan(&fresh); err != nil {
			return err
		}
		for i, p := range plans {
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET plan = $3, awaited = $4, replanned_at = coalesce(replanned_at, now())
				WHERE request_id = $1 AND register_id = $2 AND dispatched_at IS NULL`, requestID, p.Outcome.RegisterID, raws[i], p.Outcome.Dispatch); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET status = $2, updated_at = now() WHERE request_id = $1 AND status = ANY($3)`,
			requestID, status, statuses(request.SubjectMayActStatuses()...)); err != nil {
			return err
		}
		if fresh == 0 {
			return nil // replanned before: the activity was retried
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "replanned", RequestID: requestID,
			Detail: map[string]any{"outcomes": outcomes}})
	}))
}

// Withdrawn closes an open case as withdrawn: it records the withdrawal and what became of each
// register's task (and which effects were applied before it: they stay applied), marks the
// cancelled tasks, and queues the notice to the subject, in one transaction. A case already
// withdrawn is left as it is.
func (r *Repo) Withdrawn(ctx context.Context, in request.WithdrawInput, res request.WithdrawResult) error {
	k, err := r.Case(ctx, in.RequestID)
	if err != nil {
		return err
	}
	regs, err := r.Registers(ctx, in.RequestID)
	if err != nil {
		return err
	}
	applied := []string{}
	for _, g := range regs {
		if g.ResultStatus == string(contracts.StatusApplied) {
			applied = append(applied, g.RegisterID)
		}
	}
	detail := map[string]any{"cancelled": nonNil(res.Cancelled), "under_way": nonNil(res.UnderWay), "answered": nonNil(res.Answered),
		"applied": applied, "channel": in.Channel}
	return fail("withdrawn", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, withdrawn_at = now(), attention_step = NULL, updated_at = now()
			WHERE request_id = $1 AND status = ANY($3)`, in.RequestID, request.StatusWithdrawn, statuses(request.SubjectMayActStatuses()...))
		if err != nil || tag.RowsAffected() == 0 {
			return err // none: withdrawn before, and the activity was retried
		}
		if len(res.Cancelled) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE case_registers SET cancelled_at = now() WHERE request_id = $1 AND register_id = ANY($2)`,
				in.RequestID, res.Cancelled); err != nil {
				return err
			}
		}
		if err := r.enqueue(ctx, tx, in.RequestID, toSubject(k, outbox.KindRequestWithdrawn)); err != nil {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: subject, Role: "subject", Action: "withdrawn", RequestID: in.RequestID, Detail: detail})
	}))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// IdentityVerified records a clerk's verification of the identity of a subject registered
// unverified: the case's identity level becomes verified, with the method, the clerk and the time,
// and the case goes back to received for intake, in one transaction with its record entry.
// Recording it again changes nothing.
func (r *Repo) IdentityVerified(ctx context.Context, in request.VerifyIdentityInput) error {
	v := in.Verification
	return fail("identity verified", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET identity_level = $2, identity_method = $3, identity_decided_by = $4,
			identity_decided_at = now(), status = $5, updated_at = now() WHERE request_id = $1 AND status = $6`,
			in.RequestID, request.IdentityVerified, v.Method, v.Clerk, request.StatusReceived, request.StatusAwaitingIdentity)
		if err != nil || tag.RowsAffected() == 0 {
			return err // none: recorded before, and the activity was retried
		}
		detail := map[string]any{"method": v.Method}
		if v.Note != "" {
			detail["note"] = v.Note
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: v.Clerk, Role: "clerk", Action: "identity_verified", RequestID: in.RequestID,
			Purpose: v.Purpose, Detail: detail})
	}))
}

// IdentityRefused closes a case awaiting identity as identity_not_verified, with the reasons told to
// the subject, the clerk and the time, queues the notice of it (which carries the reasons itself:
// the sender of a letter has no portal session to read them in), and records it, in one
// transaction. Recording it again changes nothing.
func (r *Repo) IdentityRefused(ctx context.Context, in request.RefuseIdentityInput) error {
	k, err := r.Case(ctx, in.RequestID)
	if err != nil {
		return err
	}
	x := in.Refusal
	notice := toSubject(k, outbox.KindIdentityNotVerified)
	if notice != nil {
		notice.Payload["reasons"] = x.Reasons
	}
	return fail("identity refused", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, identity_refusal = $3, identity_decided_by = $4,
			identity_decided_at = now(), updated_at = now() WHERE request_id = $1 AND status = $5`,
			in.RequestID, request.StatusIdentityNotVerified, x.Reasons, x.Clerk, request.StatusAwaitingIdentity)
		if err != nil || tag.RowsAffected() == 0 {
			return err // none: recorded before, and the activity was retried
		}
		if err := r.enqueue(ctx, tx, in.RequestID, notice); err != nil {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: x.Clerk, Role: "clerk", Action: "identity_refused", RequestID: in.RequestID, Purpose: x.Purpose,
			Detail: map[string]any{"reasons": x.Reasons, "notice": notice != nil}})
	}))
}

// Attention records with the case that a step needs attention, with the step and the kind of
// trouble; that a clerk retried it; or, with no attention, that the step went through. The record
// says which, the first time.
func (r *Repo) Attention(ctx context.Context, in request.AttentionInput) error {
	return fail("attention", pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		switch {
		case in.RetriedBy != "":
			return record.Append(ctx, tx, r.db, record.Entry{Actor: in.RetriedBy, Role: "clerk", Action: "attention_retried", RequestID: in.RequestID,
				Purpose: in.Purpose, Detail: map[string]any{"step": in.Attention.Step}})
		case in.Attention != nil:
			tag, err := tx.Exec(ctx, `UPDATE cases SET attention_step = $2, attention_trouble = $3, attention_since = $4, updated_at = now()
				WHERE request_id = $1 AND attention_step IS DISTINCT FROM $2`, in.RequestID, in.Attention.Step, in.Attention.Trouble, in.Attention.Since)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			return record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "needs_attention", RequestID: in.RequestID,
				Detail: map[string]any{"step": in.Attention.Step, "trouble": in.Attention.Trouble}})
		}
		tag, err := tx.Exec(ctx, `UPDATE cases SET attention_step = NULL, attention_trouble = NULL, attention_since = NULL, updated_at = now()
			WHERE request_id = $1 AND attention_step IS NOT NULL`, in.RequestID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return record.Append(ctx, tx, r.db, record.Entry{Actor: system, Role: system, Action: "attention_resolved", RequestID: in.RequestID})
	}))
}
