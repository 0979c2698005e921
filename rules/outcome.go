package rules

import "kirjaamo.dev/contracts"

// OutcomeCode is what the rules decided for one register and one request. Each code, the gate that
// gives it and whether the Art 12(4) notice goes with it: docs/rights-rules.md#outcome-codes.
type OutcomeCode string

// The codes Evaluate gives, in the order of the gates that give them.
const (
	// CodeOutOfScope: the data subject has died; the GDPR protects living persons (Recital 27).
	CodeOutOfScope OutcomeCode = "out_of_scope"
	// CodeNotDataSubject: the requester is neither the subject nor a representative acting within a
	// verified mandate. The reply neither confirms nor denies that any data exist.
	CodeNotDataSubject OutcomeCode = "not_data_subject"
	// CodeNoPersonalData: the register holds only anonymous information (Recital 26).
	CodeNoPersonalData OutcomeCode = "no_personal_data"
	// CodeIdentityNotEstablished: identity could not be established; no action (Art 12(2), 12(6)).
	CodeIdentityNotEstablished OutcomeCode = "identity_not_established"
	// CodeWaitingForIdentity: the subject is asked for a stronger identification, or for an
	// identifier by which the register can find the data (Art 12(6)).
	CodeWaitingForIdentity OutcomeCode = "waiting_for_identity"
	// CodeCannotIdentify: the register cannot link data to the subject; Art 15 to 20 do not apply
	// (Art 11(2)), and the subject is told what they could add.
	CodeCannotIdentify OutcomeCode = "cannot_identify"
	// CodeRestrictedByLaw: national law takes the right away for all the data (Art 23).
	CodeRestrictedByLaw OutcomeCode = "restricted_by_law"
	// CodePartiallyRestricted: national law takes the right away for part of the data; the rest is
	// dispatched.
	CodePartiallyRestricted OutcomeCode = "partially_restricted"
	// CodeNotApplicable: the right does not exist for the legal basis of the processing.
	CodeNotApplicable OutcomeCode = "not_applicable"
	// CodeRefusedException: the right exists but an exception of its article applies, e.g. 17(3)(c).
	CodeRefusedException OutcomeCode = "refused_exception"
	// CodePartiallyApplicable: the right applies to some of the register's purposes and not others;
	// it is dispatched for those (Outcome.Purposes).
	CodePartiallyApplicable OutcomeCode = "partially_applicable"
	// CodeDispatch: the right applies; a task goes to the register.
	CodeDispatch OutcomeCode = "dispatch"
	// CodeReferToController: the right applies, but the register does not carry out the operation
	// through the platform; the office hands the request to the controller.
	CodeReferToController OutcomeCode = "refer_to_controller"
)

// The codes Conclude gives once a register has answered, or failed to by the deadline.
const (
	CodeGranted OutcomeCode = "granted"
	// CodePartiallyGranted: granted with other people's data redacted (Art 15(4)) or part of the data
	// held back under a cited rule.
	CodePartiallyGranted OutcomeCode = "partially_granted"
	// CodeNoDataHeld: the register holds nothing on the subject. Still a reply the subject is owed.
	CodeNoDataHeld OutcomeCode = "no_data_held"
	// CodeApplied: the register carried out the effect (rectified, erased, restricted, objected).
	CodeApplied OutcomeCode = "applied"
	// CodeRefusedByRegister: the register refused on a ground it cited.
	CodeRefusedByRegister OutcomeCode = "refused_by_register"
	// CodePending: the register has not answered. Never reported as "no data held".
	CodePending OutcomeCode = "pending"
)

// OutcomeCodes lists every code, in gate order and then the codes of Conclude.
var OutcomeCodes = []OutcomeCode{CodeOutOfScope, CodeNotDataSubject, CodeNoPersonalData, CodeIdentityNotEstablished,
	CodeWaitingForIdentity, CodeCannotIdentify, CodeRestrictedByLaw, CodePartiallyRestricted, CodeNotApplicable,
	CodeRefusedException, CodePartiallyApplicable, CodeDispatch, CodeReferToController,
	CodeGranted, CodePartiallyGranted, CodeNoDataHeld, CodeApplied, CodeRefusedByRegister, CodePending}

// Outcome is the decision for one register: what to do, why, and what the subject must be told.
type Outcome struct {
	RegisterID string          `json:"register_id"`
	Right      contracts.Right `json:"right"`
	Code       OutcomeCode     `json:"code"`
	// Dispatch reports that a task goes to the register.
	Dispatch bool `json:"dispatch"`
	// Operation is the operation that carries the right out, when the right applies.
	Operation contracts.Operation `json:"operation,omitempty"`
	// Identifiers are, when the right applies, the verified identifier types the register may receive
	// for this request: those it declares it can find data by, and no others (Art 5(1)(c)). While
	// waiting for identity or unable to identify, they are the types the subject could add.
	Identifiers []contracts.IdentifierType `json:"identifiers,omitempty"`
	// Purposes are the ids of the purposes whose data the right reaches, when it applies.
	Purposes []string `json:"purposes,omitempty"`
	// Citations are the provisions the decision rests on, the GDPR article first.
	Citations []Citation `json:"citations"`
	// NoticeDue reports that the Art 12(4) notice must go with the reply: the reasons, the right to
	// complain to the Data Protection Ombudsman (Art 77) and the right to a judicial remedy (Art 79).
	// See docs/rights-rules.md#the-no-action-notice.
	NoticeDue bool `json:"notice_due"`
	// Notice is, when due, the notice's statement of remedies (Art 77, Art 79), given after the
	// reasons in Explanation. It does not repeat the reasons, so that the record holds each text
	// once; NoticeText puts the two together.
	Notice *contracts.Text `json:"notice,omitempty"`
	// FollowUps are obligations the workflow must carry out after the register acts.
	FollowUps []FollowUp `json:"follow_ups,omitempty"`
	// Flags are matters for a person to judge; a flag never decides anything by itself.
	Flags []Flag `json:"flags,omitempty"`
	// Explanation says in plain language why, for the subject and the office.
	Explanation contracts.Text `json:"explanation"`
}

// NoticeText is the whole Art 12(4) notice, the reasons and then the remedies, and false when no
// notice is due.
func (o Outcome) NoticeText() (contracts.Text, bool) {
	if !o.NoticeDue || o.Notice == nil {
		return contracts.Text{}, false
	}
	return join("\n\n", o.Explanation, *o.Notice), true
}

// Citation is a provision an outcome rests on: "GDPR Art 17(3)(b)", "Act 703/2023".
type Citation struct {
	Ref   string         `json:"ref"`
	Label contracts.Text `json:"label"`
}

// FollowUpKind is an obligation that follows an effect (docs/rights-rules.md#follow-ups).
type FollowUpKind string

const (
	// FollowUpNotifyRecipients: tell each recipient of the rectification, erasure or restriction,
	// unless impossible or disproportionate, and log why (Art 19; docs/rights-rules.md#telling-recipients).
	FollowUpNotifyRecipients FollowUpKind = "notify_recipients"
	// FollowUpLiftNotice: tell the subject before a restriction is lifted (Art 18(3)); the workflow
	// reaches "lift notice sent" before "lifted" (docs/rights-rules.md#lifting-a-restriction).
	FollowUpLiftNotice FollowUpKind = "lift_notice"
)

// FollowUpKinds lists every kind of follow-up.
var FollowUpKinds = []FollowUpKind{FollowUpNotifyRecipients, FollowUpLiftNotice}

// FollowUp is one obligation for the workflow.
type FollowUp struct {
	Kind     FollowUpKind `json:"kind"`
	Citation Citation     `json:"citation"`
	// Recipients are those to tell, as declared and as the register reported them.
	Recipients []contracts.Text `json:"recipients,omitempty"`
}

// FlagCode names a matter for a person to judge.
type FlagCode string

const (
	// FlagPossiblyExcessive: the request may be manifestly unfounded or excessive (Art 12(5)). The
	// controller bears the burden of proof and warns first; the engine never refuses for it. See
	// docs/procedure.md#repeated-and-excessive-requests.
	FlagPossiblyExcessive FlagCode = "possibly_excessive"
	// FlagDerogationPossible: national law allows derogating from the right for research,
	// statistics or archiving where the right would defeat the purpose (Art 89; Data Protection Act
	// 1050/2018 ss. 31-32); the office assesses the case. See docs/rights-rules.md#research-and-statistics
	// and docs/rights-rules.md#archiving-in-the-public-interest.
	FlagDerogationPossible FlagCode = "derogation_possible"
)

// FlagCodes lists every flag.
var FlagCodes = []FlagCode{FlagPossiblyExcessive, FlagDerogationPossible}

// Flag is a matter for a person to judge, with its evidence.
type Flag struct {
	Code      FlagCode       `json:"code"`
	Citations []Citation     `json:"citations"`
	Evidence  contracts.Text `json:"evidence"`
}

// codeTraits are what an outcome code means for the workflow and for the subject.
type codeTraits struct {
	// dispatches: a task goes to the register.
	dispatches bool
	// provisional: the outcome waits for the register's, or the controller's, answer, which
	// Conclude turns into the final outcome.
	provisional bool
	// actsAsAsked: the outcome acts on the request as asked ("no data held" answers it too), so the
	// Art 12(4) notice is due only for a part held back; every other outcome carries the notice.
	actsAsAsked bool
}

// traits are the traits of every code, as docs/rights-rules.md#outcome-codes tabulates them; the
// exhaustive linter checks that the literal names each code. A value that is not a code has no
// entry, and its zero traits are the safe reading: nothing dispatched, nothing awaited, the notice
// due.
var traits = map[OutcomeCode]codeTraits{
	CodeOutOfScope:             {},
	CodeNotDataSubject:         {},
	CodeNoPersonalData:         {},
	CodeIdentityNotEstablished: {},
	CodeWaitingForIdentity:     {},
	CodeCannotIdentify:         {},
	CodeRestrictedByLaw:        {},
	CodePartiallyRestricted:    {dispatches: true, provisional: true},
	CodeNotApplicable:          {},
	CodeRefusedException:       {},
	CodePartiallyApplicable:    {dispatches: true, provisional: true},
	CodeDispatch:               {dispatches: true, provisional: true, actsAsAsked: true},
	CodeReferToController:      {provisional: true, actsAsAsked: true},
	CodeGranted:                {actsAsAsked: true},
	CodePartiallyGranted:       {},
	CodeNoDataHeld:             {actsAsAsked: true},
	CodeApplied:                {actsAsAsked: true},
	CodeRefusedByRegister:      {},
	CodePending:                {},
}

// Valid reports whether c is a code the engine gives.
func (c OutcomeCode) Valid() bool { _, ok := traits[c]; return ok }

// dispatches reports whether a code sends a task to the register.
func (c OutcomeCode) dispatches() bool { return traits[c].dispatches }

// provisional reports whether a code waits for the register's answer, which Conclude turns into
// the final outcome.
func (c OutcomeCode) provisional() bool { return traits[c].provisional }
