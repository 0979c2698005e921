package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/workflows/request"
)

// Cases implements the workflow's case store over PostgreSQL.
type Cases struct {
	DB *store.DB
	// OfficeEmail is where deadline reminders and escalations go.
	OfficeEmail string
}

func (c Cases) Record(ctx context.Context, in request.Input, r request.Receipt) error {
	ids, err := json.Marshal(in.Subject.Identifiers)
	if err != nil {
		return err
	}
	var rect []byte
	if len(in.Request.Rectification) > 0 {
		if rect, err = json.Marshal(in.Request.Rectification); err != nil {
			return err
		}
	}
	// A subject registered unverified waits for a clerk to verify the identity before intake.
	status := request.StatusReceived
	if in.Subject.IdentityLevel == request.IdentityUnverified {
		status = request.StatusAwaitingIdentity
	}
	return c.DB.RecordReceipt(ctx, store.Case{
		RequestID: in.RequestID, ReceivedAt: in.ReceivedAt, Channel: in.Channel, Right: string(in.Request.Right),
		Language: in.Request.Language, SubjectID: in.Subject.ID, SubjectName: in.Subject.Name,
		IdentityMethod: in.Subject.IdentityMethod, IdentityLevel: in.Subject.IdentityLevel, Identifiers: ids,
		ContactEmail: in.Request.ContactEmail, Details: in.Request.Details, Rectification: rect,
		Status: string(status), Deadline: r.Deadline, InternalTarget: r.InternalTarget, RegisteredBy: in.RegisteredBy,
	})
}

func (c Cases) IdentityVerified(ctx context.Context, in request.VerifyIdentityInput) error {
	v := in.Verification
	return c.DB.VerifyIdentity(ctx, in.RequestID, v.Clerk, v.Method, v.Note)
}

// KindIdentityNotVerified is the notice to a subject whose identity could not be established: it
// carries the reasons itself, since the sender of a letter has no portal session to read them in.
const KindIdentityNotVerified = "identity_not_verified"

func (c Cases) IdentityRefused(ctx context.Context, in request.RefuseIdentityInput) error {
	k, err := c.DB.Case(ctx, in.RequestID)
	if err != nil {
		return err
	}
	notice := c.toSubject(k, KindIdentityNotVerified, "")
	if notice != nil {
		notice.Payload["reasons"] = in.Refusal.Reasons
	}
	return c.DB.RefuseIdentity(ctx, in.RequestID, in.Refusal.Clerk, in.Refusal.Reasons, notice)
}

func (c Cases) Load(ctx context.Context, requestID string) (request.Input, error) {
	k, err := c.DB.Case(ctx, requestID)
	if err != nil {
		return request.Input{}, err
	}
	return InputOf(k)
}

// InputOf rebuilds a request's input from its stored case.
func InputOf(k store.Case) (request.Input, error) {
	in := request.Input{RequestID: k.RequestID, ReceivedAt: k.ReceivedAt, Channel: k.Channel,
		Subject: request.Subject{ID: k.SubjectID, Name: k.SubjectName, IdentityMethod: k.IdentityMethod, IdentityLevel: k.IdentityLevel},
		Request: contracts.SubmitRequest{Right: contracts.Right(k.Right), Language: k.Language, ContactEmail: k.ContactEmail, Details: k.Details}}
	if err := json.Unmarshal(k.Identifiers, &in.Subject.Identifiers); err != nil {
		return in, fmt.Errorf("case %s: identifiers: %w", k.RequestID, err)
	}
	if len(k.Rectification) > 0 {
		if err := json.Unmarshal(k.Rectification, &in.Request.Rectification); err != nil {
			return in, fmt.Errorf("case %s: rectification: %w", k.RequestID, err)
		}
	}
	// Identifiers the subject supplied later count as supplied, as a phone number given with the
	// request does; the case keeps them marked unverified for the office.
	for _, s := range k.SuppliedIdentifiers() {
		id := contracts.Identifier{Type: contracts.IdentifierType(s.Type), Value: s.Value}
		if !slices.Contains(in.Subject.Identifiers, id) {
			in.Subject.Identifiers = append(in.Subject.Identifiers, id)
		}
	}
	return in, nil
}

func (c Cases) Prior(ctx context.Context, subject request.Subject, before time.Time) ([]rules.PriorRequest, error) {
	var code string
	for _, id := range subject.Identifiers {
		if id.Type == contracts.IdentifierPersonalIdentityCode {
			code = contracts.Normalize(id.Type, id.Value)
		}
	}
	cases, err := c.DB.PriorRequests(ctx, subject.ID, code, before)
	if err != nil {
		return nil, err
	}
	out := make([]rules.PriorRequest, len(cases))
	for i, k := range cases {
		out[i] = rules.PriorRequest{Right: contracts.Right(k.Right), ReceivedAt: k.ReceivedAt}
	}
	return out, nil
}

func (c Cases) SavePlan(ctx context.Context, requestID string, plans []request.PlannedRegister) error {
	rows := make([]store.CaseRegister, len(plans))
	for i, p := range plans {
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		rows[i] = store.CaseRegister{RegisterID: p.Outcome.RegisterID, DeclarationDigest: p.Digest, Plan: raw, Awaited: p.Outcome.Dispatch}
	}
	return c.DB.SavePlan(ctx, requestID, rows)
}

func (c Cases) Planned(ctx context.Context, requestID string) ([]request.PlannedRegister, error) {
	rows, err := c.DB.CaseRegisters(ctx, requestID)
	if err != nil {
		return nil, err
	}
	return PlannedOf(rows)
}

// PlannedOf decodes a case's registers as stored.
func PlannedOf(rows []store.CaseRegister) ([]request.PlannedRegister, error) {
	out := make([]request.PlannedRegister, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal(r.Plan, &out[i]); err != nil {
			return nil, fmt.Errorf("register %s: plan: %w", r.RegisterID, err)
		}
		out[i].Dispatched = r.DispatchedAt != nil
		if len(r.Result) > 0 {
			out[i].Result = &contracts.Result{}
			if err := json.Unmarshal(r.Result, out[i].Result); err != nil {
				return nil, fmt.Errorf("register %s: result: %w", r.RegisterID, err)
			}
		}
	}
	return out, nil
}

func (c Cases) MarkDispatched(ctx context.Context, requestID string, registerIDs []string) error {
	return c.DB.MarkDispatched(ctx, requestID, registerIDs)
}

func (c Cases) SaveReview(ctx context.Context, requestID string, outcomes []rules.Outcome) error {
	m := make(map[string]json.RawMessage, len(outcomes))
	for _, o := range outcomes {
		raw, err := json.Marshal(o)
		if err != nil {
			return err
		}
		m[o.RegisterID] = raw
	}
	return c.DB.SaveReview(ctx, requestID, m)
}

func (c Cases) Reply(ctx context.Context, requestID string, a request.Approval, art19 []request.RecipientNotice) error {
	k, err := c.DB.Case(ctx, requestID)
	if err != nil {
		return err
	}
	notices := make([]store.RecipientNotice, len(art19))
	for i, n := range art19 {
		notices[i] = store.RecipientNotice{RegisterID: n.RegisterID, Recipient: n.Recipient}
	}
	return c.DB.Reply(ctx, requestID, a.Clerk, a.Note, c.toSubject(k, "reply_ready", ""), notices)
}

// toSubject is a message to the subject about their request, if they gave an address for it.
func (c Cases) toSubject(k store.Case, kind, key string) *store.Notification {
	if k.ContactEmail == "" {
		return nil
	}
	return &store.Notification{DedupKey: kind + "/" + k.RequestID + key, Kind: kind, Recipient: k.ContactEmail,
		Language: k.Language, Payload: map[string]any{"request_id": k.RequestID}}
}

func (c Cases) Extend(ctx context.Context, x request.ExtendInput) error {
	k, err := c.DB.Case(ctx, x.RequestID)
	if err != nil {
		return err
	}
	return c.DB.Extend(ctx, x.RequestID, x.Extension.Clerk, x.Extension.Reasons, x.NewDeadline, c.toSubject(k, "deadline_extended", ""))
}

func (c Cases) Raise(ctx context.Context, a request.Alarm) error {
	day := a.Deadline.Format("2006-01-02")
	notice := &store.Notification{DedupKey: a.Kind + "/" + a.RequestID + "/" + day, Kind: a.Kind, Recipient: c.OfficeEmail,
		Language: "en", Payload: map[string]any{"request_id": a.RequestID, "deadline": day}}
	return c.DB.Event(ctx, a.RequestID, store.AuditEvent{Actor: "system", Role: "system", Action: a.Kind,
		Detail: map[string]any{"deadline": day}}, "", notice)
}

func (c Cases) LiftNotice(ctx context.Context, l request.LiftInput) error {
	k, err := c.DB.Case(ctx, l.RequestID)
	if err != nil {
		return err
	}
	notice := c.toSubject(k, "lift_notice", "")
	if notice == nil {
		// Without an address the notice waits on the subject's case page; the record says so.
		notice = &store.Notification{DedupKey: "lift_notice/" + l.RequestID, Kind: "lift_notice", Recipient: "",
			Language: k.Language, Payload: map[string]any{"request_id": l.RequestID, "channel": "portal"}}
	}
	return c.DB.Event(ctx, l.RequestID, store.AuditEvent{Actor: l.Clerk, Role: "clerk", Action: "lift_notice_sent"},
		"lift_notice_sent", notice)
}

func (c Cases) Lifted(ctx context.Context, l request.LiftInput, registerIDs []string) error {
	k, err := c.DB.Case(ctx, l.RequestID)
	if err != nil {
		return err
	}
	notice := c.toSubject(k, "restriction_lifted", "")
	if notice == nil {
		notice = &store.Notification{DedupKey: "restriction_lifted/" + l.RequestID, Kind: "restriction_lifted",
			Language: k.Language, Payload: map[string]any{"request_id": l.RequestID, "channel": "portal"}}
	}
	return c.DB.Event(ctx, l.RequestID, store.AuditEvent{Actor: l.Clerk, Role: "clerk", Action: "restriction_lifted",
		Detail: map[string]any{"registers": registerIDs}}, "lifted", notice)
}

func (c Cases) AskForInformation(ctx context.Context, r request.InformationRequest) error {
	k, err := c.DB.Case(ctx, r.RequestID)
	if err != nil {
		return err
	}
	return c.DB.AwaitInformation(ctx, r.RequestID, r.Registers, c.toSubject(k, "information_needed", ""))
}

func (c Cases) Supplied(ctx context.Context, requestID string, id contracts.Identifier, channel string) error {
	return c.DB.SupplyIdentifier(ctx, requestID, store.SuppliedIdentifier{Type: string(id.Type), Value: id.Value, Channel: channel,
		SuppliedAt: time.Now().UTC()})
}

func (c Cases) Replan(ctx context.Context, requestID string, plans []request.PlannedRegister, status request.Status) error {
	rows := make([]store.CaseRegister, len(plans))
	outcomes := make(map[string]string, len(plans))
	for i, p := range plans {
		raw, err := json.Marshal(p)
		if err != nil {
			return err
		}
		rows[i] = store.CaseRegister{RegisterID: p.Outcome.RegisterID, Plan: raw, Awaited: p.Outcome.Dispatch}
		outcomes[p.Outcome.RegisterID] = string(p.Outcome.Code)
	}
	return c.DB.Replan(ctx, requestID, rows, outcomes, string(status))
}

func (c Cases) Withdrawn(ctx context.Context, in request.WithdrawInput, res request.WithdrawResult) error {
	k, err := c.DB.Case(ctx, in.RequestID)
	if err != nil {
		return err
	}
	rows, err := c.DB.CaseRegisters(ctx, in.RequestID)
	if err != nil {
		return err
	}
	// The record says which effects were applied before the withdrawal: they stay applied.
	applied := []string{}
	for _, r := range rows {
		if r.ResultStatus == string(contracts.StatusApplied) {
			applied = append(applied, r.RegisterID)
		}
	}
	detail := map[string]any{"cancelled": nonNil(res.Cancelled), "under_way": nonNil(res.UnderWay), "answered": nonNil(res.Answered),
		"applied": applied}
	return c.DB.Withdraw(ctx, in.RequestID, in.Channel, res.Cancelled, detail, c.toSubject(k, "request_withdrawn", ""))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Catalogue gives the workflow the declarations in force.
type Catalogue struct{ DB *store.DB }

func (c Catalogue) Version(ctx context.Context, registerID, digest string) (contracts.Declaration, error) {
	v, err := c.DB.Declaration(ctx, registerID, digest)
	if err != nil {
		return contracts.Declaration{}, err
	}
	var d contracts.Declaration
	if err := json.Unmarshal(v.Declaration, &d); err != nil {
		return d, fmt.Errorf("register %s: declaration %s: %w", registerID, digest, err)
	}
	return d, nil
}

func (c Catalogue) InForce(ctx context.Context, at time.Time) ([]request.Declared, error) {
	versions, err := c.DB.DeclarationsInForce(ctx, at)
	if err != nil {
		return nil, err
	}
	out := make([]request.Declared, len(versions))
	for i, v := range versions {
		out[i].Digest = v.Digest
		if err := json.Unmarshal(v.Declaration, &out[i].Declaration); err != nil {
			return nil, fmt.Errorf("register %s: declaration %s: %w", v.RegisterID, v.Digest, err)
		}
	}
	return out, nil
}

// Waiting lists the registers of a case that could be searched if the subject supplied an
// identifier, with the types each would accept: those no task went to whose plan stopped for want
// of an identifier (request.Suppliable). A case that was replied to or withdrawn waits for nothing.
func Waiting(k store.Case, rows []store.CaseRegister) ([]request.WaitingRegister, error) {
	if !request.Status(k.Status).Open() {
		return nil, nil
	}
	planned, err := PlannedOf(rows)
	if err != nil {
		return nil, err
	}
	var out []request.WaitingRegister
	for _, p := range planned {
		if p.Dispatched {
			continue
		}
		if types := request.Suppliable(string(p.Outcome.Code), p.Outcome.Identifiers); len(types) > 0 {
			out = append(out, request.WaitingRegister{RegisterID: p.Outcome.RegisterID, Identifiers: types})
		}
	}
	return out, nil
}
