package contracts

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Processing events: a register tells the platform each time it processed a person's data (who
// acted, when, why and how), so that the person can see it in the portal without asking
// (contracts/PROTOCOL.md, "Processing events"). What a register may say in its events it declares
// first (Declaration.Processing); an event is checked against the declaration in force.

// ProcessingProtocol is carried in every processing event.
const ProcessingProtocol = "kirjaamo.processing/v1"

// ProcessingOperation is what was done with a person's data.
type ProcessingOperation string

const (
	// ProcessingView: the data was looked at or looked up.
	ProcessingView ProcessingOperation = "view"
	// ProcessingChange: the data was recorded, changed or corrected.
	ProcessingChange ProcessingOperation = "change"
	// ProcessingDisclosure: the data was disclosed to a recipient outside the register's controller.
	ProcessingDisclosure ProcessingOperation = "disclosure"
	// ProcessingDeletion: the data was deleted or anonymised.
	ProcessingDeletion ProcessingOperation = "deletion"
)

// ProcessingOperations lists every operation an event may name.
var ProcessingOperations = []ProcessingOperation{ProcessingView, ProcessingChange, ProcessingDisclosure, ProcessingDeletion}

// Valid reports whether o is an operation an event may name.
func (o ProcessingOperation) Valid() bool { return slices.Contains(ProcessingOperations, o) }

// ProcessingEvent is one processing of one person's data by a register, as the register tells it.
// It is published on the register's own subject (ProcessingSubject) with the Nats-Msg-Id
// ProcessingMsgID; the platform stores an event id once per register, however often it arrives.
type ProcessingEvent struct {
	Protocol string `json:"protocol" validate:"required,eq=kirjaamo.processing/v1"`
	// EventID is the register's own id of the event, unique in the register: what makes a resent or
	// backfilled event the same event. Letters, digits and . _ : -, at most 128.
	EventID    string `json:"event_id" validate:"required,event_id"`
	RegisterID string `json:"register_id" validate:"required,register_id"`
	// Subject is the person whose data was processed: the identifiers the register matches, each in
	// the form the register declares it stores it in.
	Subject []SubjectIdentifier `json:"subject" validate:"required,min=1,max=10,dive"`
	// At is when the processing happened.
	At    time.Time `json:"at" validate:"required"`
	Actor Actor     `json:"actor"`
	// Purpose is the id of one of the purposes the register declares for its events
	// (ProcessingLog.Purposes); LegalBasis is that purpose's, and DataCategories are ids of that
	// purpose's categories: those the processing touched.
	Purpose        string              `json:"purpose" validate:"required,register_id"`
	LegalBasis     LegalBasis          `json:"legal_basis" validate:"required"`
	DataCategories []string            `json:"data_categories" validate:"required,min=1,max=50,unique,dive,register_id"`
	Operation      ProcessingOperation `json:"operation" validate:"required,processing_operation"`
	// Recipient is to whom the data was disclosed: required with a disclosure, and given with nothing
	// else.
	Recipient string `json:"recipient,omitempty" validate:"required_if=Operation disclosure,omitempty,text,max=200"`
	// EmbargoUntil, when given, keeps the event from the person until then, as a law lets the
	// register do for a time (ProcessingLog.Embargo): the platform stores it at once and shows it
	// from then on.
	EmbargoUntil *time.Time `json:"embargo_until,omitempty"`
}

// SubjectIdentifier is an identifier of the person an event is about, in the form the register
// stores it in: the normalized value (plain), or its unsalted SHA-256 (sha256, lower-case hex,
// HashSHA256), which the platform indexes all the same.
type SubjectIdentifier struct {
	Type  IdentifierType `json:"type" validate:"required,identifier_type"`
	Form  IdentifierForm `json:"form" validate:"required,identifier_form"`
	Value string         `json:"value" validate:"required,max=254"`
}

// Actor is who processed the data: the organisation and the role in which its person acted, and the
// person's name only where the register declares it essential (ProcessingLog.ActorNames).
type Actor struct {
	Organisation string `json:"organisation" validate:"required,text,max=200"`
	// OrganisationID identifies the organisation where it has an identifier, such as a business ID
	// or an OID of the health care organisation register.
	OrganisationID string `json:"organisation_id,omitempty" validate:"omitempty,text,max=100"`
	Role           string `json:"role" validate:"required,text,max=100"`
	Person         string `json:"person,omitempty" validate:"omitempty,text,max=200"`
}

var (
	eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ClockSkew is how far in the future an event's time may be, for clocks that run a little ahead.
const ClockSkew = 5 * time.Minute

// Validate checks an event on its own: its fields, each identifier in its form, that a disclosure
// names its recipient and nothing else does, and that an embargo ends after the event. Whether the
// register may say it is CheckDeclared's to tell.
func (e *ProcessingEvent) Validate() error {
	err := Validate(e)
	ve, _ := AsValidationError(err)
	if err != nil && ve == nil {
		return err
	}
	if ve == nil {
		ve = &ValidationError{}
	}
	for i, id := range e.Subject {
		at := fmt.Sprintf("subject[%d]", i)
		if slices.ContainsFunc(e.Subject[:i], func(o SubjectIdentifier) bool { return o.Type == id.Type }) {
			ve.Add(at+".type", "unique", "repeats the type of another identifier")
		}
		switch id.Form {
		case FormPlain:
			if id.Type.Valid() && id.Value != "" && Validate(&Identifier{Type: id.Type, Value: id.Value}) != nil {
				ve.Add(at+".value", string(id.Type), "is not a valid "+string(id.Type)+" in its normalized form")
			}
		case FormSHA256:
			if !sha256Pattern.MatchString(id.Value) {
				ve.Add(at+".value", "sha256", "must be the SHA-256 of the normalized identifier, 64 lower-case hex digits")
			}
		}
	}
	if e.LegalBasis != "" && !e.LegalBasis.Valid() {
		ve.Add("legal_basis", "article", MustBeOneOf(LegalBases))
	}
	if e.Operation != ProcessingDisclosure && e.Recipient != "" {
		ve.Add("recipient", "excluded_unless", "is given only with a disclosure")
	}
	if e.EmbargoUntil != nil && !e.EmbargoUntil.After(e.At) {
		ve.Add("embargo_until", "gtfield", "must be after at")
	}
	return ve.OrNil()
}

// CheckDeclared checks an event against its register's declaration, at the time now: that the
// register declares processing events, the identifiers it matches in their forms, the purpose with
// its legal basis and categories, a person's name only where declared essential, an embargo only
// where a law allows one and no longer than it does, and a time neither in the future nor so old
// that the declared retention has already run out. It returns a *ValidationError naming each field.
func (e *ProcessingEvent) CheckDeclared(d *Declaration, now time.Time) error {
	ve := &ValidationError{}
	p := d.Processing
	if p == nil {
		ve.Add("register_id", "processing", "the register declares no processing events (declaration.processing)")
		return ve
	}
	if e.RegisterID != d.RegisterID {
		ve.Add("register_id", "eq", "must be the register's own id, "+d.RegisterID)
	}
	for i, id := range e.Subject {
		form, ok := d.StoredForm(id.Type)
		switch {
		case !ok:
			ve.Add(fmt.Sprintf("subject[%d].type", i), "declared", "the register does not declare that it matches "+string(id.Type))
		case id.Form != form:
			ve.Add(fmt.Sprintf("subject[%d].form", i), "declared", "the register declares that it stores "+string(id.Type)+" as "+string(form))
		}
	}
	purpose, ok := p.Purpose(e.Purpose)
	if !ok {
		ve.Add("purpose", "declared", "is not the id of a purpose the register declares for its events")
	} else {
		if e.LegalBasis != purpose.LegalBasis {
			ve.Add("legal_basis", "declared", "must be the purpose's legal basis, "+string(purpose.LegalBasis))
		}
		for i, c := range e.DataCategories {
			if !slices.ContainsFunc(purpose.DataCategories, func(dc DataCategory) bool { return dc.ID == c }) {
				ve.Add(fmt.Sprintf("data_categories[%d]", i), "declared", "is not the id of a data category of the purpose")
			}
		}
	}
	if e.Actor.Person != "" && p.ActorNames == nil {
		ve.Add("actor.person", "declared", "the register does not declare a person's name essential: name the organisation and the role only")
	}
	if e.EmbargoUntil != nil {
		if p.Embargo == nil {
			ve.Add("embargo_until", "declared", "the register declares no law that lets it hold events back")
		} else if longest, ok := ParsePeriod(p.Embargo.Longest); ok && e.EmbargoUntil.After(longest.After(e.At)) {
			ve.Add("embargo_until", "declared", "is later than the register may hold an event back, "+p.Embargo.Longest+" from at")
		}
	}
	if e.At.After(now.Add(ClockSkew)) {
		ve.Add("at", "future", "is in the future")
	}
	if keep, ok := ParsePeriod(p.Retention); ok && !keep.After(e.At).After(now) {
		ve.Add("at", "retention", "is older than the register's declared retention, "+p.Retention+": the event would be deleted at once")
	}
	return ve.OrNil()
}

// ProcessingMsgID is the Nats-Msg-Id of an event: JetStream drops the same event published again
// within its duplicate window, and the platform stores it once in any case.
func ProcessingMsgID(registerID, eventID string) string {
	return "processing/" + registerID + "/" + eventID
}

// ProcessingLog is what a register declares about the processing events it publishes: the purposes
// its events name, explained in plain words; how long the platform keeps them; whether they name the
// person who acted; and whether a law lets the register hold some back for a time.
type ProcessingLog struct {
	Purposes []ProcessingPurpose `json:"purposes" validate:"required,min=1,max=50,dive"`
	// Retention is how long the platform keeps an event, from its time: an ISO 8601 duration such as
	// P12Y. The platform deletes it after that.
	Retention string `json:"retention" validate:"required,max=32"`
	// RetentionLaw is the law that sets the retention, where one does.
	RetentionLaw *Provision `json:"retention_law,omitempty"`
	// ActorNames, when given, is the law under which the name of the person who processed the data is
	// essential to the subject (as it is in the Finnish client data of health and social care).
	// Without it an event names the organisation and the role only.
	ActorNames *Provision `json:"actor_names,omitempty"`
	// Embargo, when given, lets the register hold events back from the subject for a time.
	Embargo *Embargo `json:"embargo,omitempty"`
}

// ProcessingPurpose is a purpose a register's events may name, with what the person is told of it.
type ProcessingPurpose struct {
	ID   string `json:"id" validate:"required,register_id"`
	Name Text   `json:"name"`
	// Explanation says in plain words what the processing for this purpose is, for the person who
	// reads the event.
	Explanation Text       `json:"explanation"`
	LegalBasis  LegalBasis `json:"legal_basis"`
	// BasisLaw is the law that lays the basis down; required for Art 6(1)(c) and (e) (Art 6(3)).
	BasisLaw       []Provision    `json:"basis_law,omitempty" validate:"omitempty,max=10,dive"`
	DataCategories []DataCategory `json:"data_categories" validate:"required,min=1,max=50,dive"`
}

// Embargo is a law that lets a register keep processing from the subject for a time, such as a
// disclosure to the police during a criminal investigation, and the longest time it allows.
type Embargo struct {
	Law Provision `json:"law"`
	// Longest is the longest an event may be held back, from its time: an ISO 8601 duration.
	Longest string `json:"longest" validate:"required,max=32"`
	// Reason says, for the subject, why some processing may be shown only later.
	Reason Text `json:"reason"`
}

// Purpose returns the declared purpose of events with the id.
func (p *ProcessingLog) Purpose(id string) (ProcessingPurpose, bool) {
	i := slices.IndexFunc(p.Purposes, func(pp ProcessingPurpose) bool { return pp.ID == id })
	if i < 0 {
		return ProcessingPurpose{}, false
	}
	return p.Purposes[i], true
}

// Category returns the purpose's data category with the id.
func (p *ProcessingPurpose) Category(id string) (DataCategory, bool) {
	i := slices.IndexFunc(p.DataCategories, func(c DataCategory) bool { return c.ID == id })
	if i < 0 {
		return DataCategory{}, false
	}
	return p.DataCategories[i], true
}

// checkProcessing adds what is wrong with the declared processing log.
func (d *Declaration) checkProcessing(ve *ValidationError) {
	p := d.Processing
	if p == nil {
		return
	}
	if d.NoPersonalData {
		ve.Add("processing", "no_personal_data", "a register that holds no personal data has no processing of a person's data to tell of")
	}
	if _, ok := ParsePeriod(p.Retention); !ok {
		ve.Add("processing.retention", "duration", "must be an ISO 8601 duration such as P12Y or P6M")
	}
	for name, law := range map[string]*Provision{"processing.retention_law": p.RetentionLaw, "processing.actor_names": p.ActorNames} {
		if law != nil && !isStatuteNumber(law.Act) {
			ve.Add(name+".act", "statute", "must be a statute number, e.g. 703/2023")
		}
	}
	if e := p.Embargo; e != nil {
		if !isStatuteNumber(e.Law.Act) {
			ve.Add("processing.embargo.law.act", "statute", "must be a statute number: only a law lets a register hold processing back (Art 23(1))")
		}
		if _, ok := ParsePeriod(e.Longest); !ok {
			ve.Add("processing.embargo.longest", "duration", "must be an ISO 8601 duration such as P2Y")
		}
	}
	for i := range p.Purposes {
		pp := &p.Purposes[i]
		at := func(field string) string { return fmt.Sprintf("processing.purposes[%d].%s", i, field) }
		if slices.ContainsFunc(p.Purposes[:i], func(e ProcessingPurpose) bool { return e.ID == pp.ID }) {
			ve.Add(at("id"), "unique", "repeats the id of another purpose")
		}
		if !pp.LegalBasis.Valid() {
			ve.Add(at("legal_basis"), "article", "unknown article: "+MustBeOneOf(LegalBases))
		}
		if pp.LegalBasis.NeedsLaw() && len(pp.BasisLaw) == 0 {
			ve.Add(at("basis_law"), "art6_3", "is required: a basis under Art 6(1)(c) or (e) must be laid down by law (Art 6(3)); cite the act")
		}
		for j, law := range pp.BasisLaw {
			if !isStatuteNumber(law.Act) {
				ve.Add(at(fmt.Sprintf("basis_law[%d].act", j)), "statute", "must be a statute number, e.g. 703/2023")
			}
		}
		for j, c := range pp.DataCategories {
			if slices.ContainsFunc(pp.DataCategories[:j], func(e DataCategory) bool { return e.ID == c.ID }) {
				ve.Add(at(fmt.Sprintf("data_categories[%d].id", j)), "unique", "repeats the id of another category")
			}
		}
	}
}

// StoredForm is the form in which the register stores an identifier type, if it matches the type.
func (d *Declaration) StoredForm(t IdentifierType) (IdentifierForm, bool) {
	for _, list := range [][]IdentifierMatch{d.Identifiers, d.Identification.Additional} {
		for _, m := range list {
			if m.Type == t {
				return m.Form, true
			}
		}
	}
	return "", false
}

// Period is an ISO 8601 duration in whole years, months, weeks and days.
type Period struct{ Years, Months, Weeks, Days int }

// ParsePeriod reads a duration such as "P12Y", "P6M" or "P1Y6M" (units in the order Y, M, W, D).
func ParsePeriod(s string) (Period, bool) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return Period{}, false
	}
	var p Period
	for _, u := range []struct {
		unit byte
		to   *int
	}{{'Y', &p.Years}, {'M', &p.Months}, {'W', &p.Weeks}, {'D', &p.Days}} {
		i := strings.IndexByte(rest, u.unit)
		if i < 0 {
			continue
		}
		if !digitsBetween(rest[:i], 1, 9) {
			return Period{}, false
		}
		n := 0
		for _, c := range rest[:i] {
			n = n*10 + int(c-'0')
		}
		*u.to = n
		rest = rest[i+1:]
	}
	return p, rest == ""
}

// After is the time the period after t.
func (p Period) After(t time.Time) time.Time {
	return t.AddDate(p.Years, p.Months, 7*p.Weeks+p.Days)
}

// Before is the time the period before t.
func (p Period) Before(t time.Time) time.Time {
	return t.AddDate(-p.Years, -p.Months, -(7*p.Weeks + p.Days))
}
