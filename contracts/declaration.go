package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// DeclarationSchema is the schema name and version carried in every declaration, so that the
// catalogue can refuse a declaration written for a format it does not read.
const DeclarationSchema = "kirjaamo.declaration/v1"

// Declaration is what a register owner states about a register: who controls it, how it finds a
// person's data, and, per purpose, the legal facts that decide which data subject rights apply. The
// rules engine (kirjaamo.dev/rules) reads nothing else, so everything that changes an outcome is here,
// and a DPO approves each version before it is used. The JSON form is published as
// schemas/declaration.v1.schema.json. What each part drives is
// docs/rights-rules.md#what-a-register-declares.
type Declaration struct {
	Schema     string `json:"schema" validate:"required,eq=kirjaamo.declaration/v1"`
	RegisterID string `json:"register_id" validate:"required,register_id"`
	// Version is bumped by the owner on every change; the catalogue keeps each version, told apart by
	// its Digest, and a request is evaluated against the version in force when it was received.
	Version     string     `json:"version" validate:"required,max=64"`
	Name        Text       `json:"name"`
	Controller  Controller `json:"controller"`
	Description Text       `json:"description"`
	// NoPersonalData declares that the register holds only anonymous information (Recital 26), such
	// as server-side web statistics. The rights then have nothing to act on, and the reply says why.
	// Such a register declares no identifiers, identification or purposes
	// (docs/rights-rules.md#registers-without-personal-data).
	NoPersonalData bool `json:"no_personal_data,omitempty"`
	// Identifiers are the verified identifiers the register matches routinely, each in the form in
	// which it stores them. Only these are ever sent to it.
	Identifiers []IdentifierMatch `json:"identifiers,omitempty" validate:"omitempty,max=10,dive"`
	// Identification says whether the register can link its data to a person (Art 11).
	Identification Identification `json:"identification,omitzero"`
	// Operations are the operations of the register protocol the register carries out. A right
	// whose operation is missing here is referred to the controller instead of dispatched.
	Operations []Operation `json:"operations,omitempty" validate:"omitempty,max=7,unique,dive,operation"`
	Purposes   []Purpose   `json:"purposes,omitempty" validate:"omitempty,max=50,dive"`
	// ClosedDatasets are datasets that the register no longer collects into, such as data collected
	// during an incident, declared so that a reply can say what became of them.
	ClosedDatasets []ClosedDataset `json:"closed_datasets,omitempty" validate:"omitempty,max=20,dive"`
	// Processing is what the register declares about the processing events it publishes, so that a
	// person sees who used their data and why (contracts/PROTOCOL.md, "Processing events"); nil for
	// a register that publishes none.
	Processing *ProcessingLog `json:"processing,omitempty"`
	// Records describe the records the register returns, category by category, with each field's
	// label in every language and which fields a subject may correct (records.go).
	Records []RecordType `json:"records,omitempty" validate:"omitempty,max=50,dive"`
}

// Controller is the controller of a register (Art 4(7)), as the subject is told of it (Art 15(1)).
type Controller struct {
	Name    Text    `json:"name"`
	Contact Contact `json:"contact"`
}

// Contact is how the controller is reached. At least one of e-mail, phone and address is given.
type Contact struct {
	Email string `json:"email,omitempty" validate:"omitempty,email,max=254"`
	Phone string `json:"phone,omitempty" validate:"omitempty,e164"`
	// Address is the postal or visiting address, as one line.
	Address string `json:"address,omitempty" validate:"max=500"`
	// DPOEmail reaches the data protection officer (Art 37-39), where one is designated.
	DPOEmail string `json:"dpo_email,omitempty" validate:"omitempty,email,max=254"`
}

// IdentifierForm is how a register stores an identifier.
type IdentifierForm string

const (
	// FormPlain: the register stores the normalized value (see Normalize).
	FormPlain IdentifierForm = "plain"
	// FormSHA256: the register stores HashSHA256 of the value, unsalted. Such a register still holds
	// personal data: the adapter recomputes the hash from the verified identifier and searches.
	FormSHA256 IdentifierForm = "sha256"
)

// IdentifierForms lists every form.
var IdentifierForms = []IdentifierForm{FormPlain, FormSHA256}

// Valid reports whether f is a form the platform knows.
func (f IdentifierForm) Valid() bool { return slices.Contains(IdentifierForms, f) }

// IdentifierMatch is one identifier a register can find data by, and the form it stores it in.
type IdentifierMatch struct {
	Type IdentifierType `json:"type" validate:"required,identifier_type"`
	Form IdentifierForm `json:"form" validate:"required"`
}

// IdentificationLevel says whether a register can link its data to a person.
type IdentificationLevel string

const (
	// RegisterIdentified: the data is kept under an identifier of the person.
	RegisterIdentified IdentificationLevel = "identified"
	// RegisterLinkable: the data is kept under a key or hash that can be recomputed from a verified
	// identifier; it is pseudonymised personal data and every right applies.
	RegisterLinkable IdentificationLevel = "linkable"
	// RegisterUnlinkable: the controller is not in a position to identify the person from the data
	// (Art 11(2)), unless the person supplies one of Identification.Additional.
	RegisterUnlinkable IdentificationLevel = "unlinkable"
)

// IdentificationLevels lists every level.
var IdentificationLevels = []IdentificationLevel{RegisterIdentified, RegisterLinkable, RegisterUnlinkable}

// Valid reports whether l is a level the platform knows.
func (l IdentificationLevel) Valid() bool { return slices.Contains(IdentificationLevels, l) }

// Identification is the register's position under Art 11 (docs/rights-rules.md#identification).
type Identification struct {
	Level IdentificationLevel `json:"level,omitempty"`
	// Additional are identifiers that a subject may add, for the purpose of exercising their rights,
	// that let an unlinkable register find some data after all (Art 11(2), second sentence): for
	// Koronavilkku, the phone number given to a healthcare professional at diagnosis.
	Additional []IdentifierMatch `json:"additional_identifiers,omitempty" validate:"omitempty,max=10,dive"`
	// Reason says, for the subject, why the register cannot identify them.
	Reason *Text `json:"reason,omitempty"`
}

// LegalBasis is the lawful basis of a purpose, named by its point of Art 6(1): the columns of
// docs/rights-rules.md#the-matrix.
type LegalBasis string

const (
	BasisConsent             LegalBasis = "6(1)(a)"
	BasisContract            LegalBasis = "6(1)(b)"
	BasisLegalObligation     LegalBasis = "6(1)(c)"
	BasisVitalInterests      LegalBasis = "6(1)(d)"
	BasisPublicTask          LegalBasis = "6(1)(e)"
	BasisLegitimateInterests LegalBasis = "6(1)(f)"
)

// LegalBases lists the bases of Art 6(1) in order.
var LegalBases = []LegalBasis{BasisConsent, BasisContract, BasisLegalObligation, BasisVitalInterests, BasisPublicTask, BasisLegitimateInterests}

// Valid reports whether b is a point of Art 6(1).
func (b LegalBasis) Valid() bool { return slices.Contains(LegalBases, b) }

// NeedsLaw reports whether the basis must be laid down by Union or Member State law (Art 6(3)); a
// value that is not a basis needs none, and is refused by Valid.
func (b LegalBasis) NeedsLaw() bool {
	switch b {
	case BasisLegalObligation, BasisPublicTask:
		return true
	case BasisConsent, BasisContract, BasisVitalInterests, BasisLegitimateInterests:
		return false
	}
	return false
}

// SpecialCategoryCondition is the condition of Art 9(2) under which special categories of data are
// processed, or SpecialCategoryNone.
type SpecialCategoryCondition string

const (
	SpecialCategoryNone SpecialCategoryCondition = "none"
	// SpecialCategoryExplicitConsent is Art 9(2)(a): the subject's explicit consent.
	SpecialCategoryExplicitConsent SpecialCategoryCondition = "9(2)(a)"
	// SpecialCategoryEmployment is Art 9(2)(b): obligations in employment and social security law.
	SpecialCategoryEmployment SpecialCategoryCondition = "9(2)(b)"
	// SpecialCategoryVitalInterests is Art 9(2)(c): vital interests of a person unable to consent.
	SpecialCategoryVitalInterests SpecialCategoryCondition = "9(2)(c)"
	// SpecialCategoryNotForProfit is Art 9(2)(d): a not-for-profit body, about its members.
	SpecialCategoryNotForProfit SpecialCategoryCondition = "9(2)(d)"
	// SpecialCategoryMadePublic is Art 9(2)(e): data the subject manifestly made public.
	SpecialCategoryMadePublic SpecialCategoryCondition = "9(2)(e)"
	// SpecialCategoryLegalClaims is Art 9(2)(f): legal claims, or courts acting judicially.
	SpecialCategoryLegalClaims SpecialCategoryCondition = "9(2)(f)"
	// SpecialCategorySubstantialPublicInterest is Art 9(2)(g): substantial public interest under law.
	SpecialCategorySubstantialPublicInterest SpecialCategoryCondition = "9(2)(g)"
	// SpecialCategoryHealthCare is Art 9(2)(h): medicine, care and the management of health systems.
	SpecialCategoryHealthCare SpecialCategoryCondition = "9(2)(h)"
	// SpecialCategoryPublicHealth is Art 9(2)(i): public interest in the area of public health.
	SpecialCategoryPublicHealth SpecialCategoryCondition = "9(2)(i)"
	// SpecialCategoryArchivingResearch is Art 9(2)(j): archiving in the public interest, research or
	// statistics.
	SpecialCategoryArchivingResearch SpecialCategoryCondition = "9(2)(j)"
)

// SpecialCategoryConditions lists every accepted value: none and Art 9(2)(a) to (j).
var SpecialCategoryConditions = []SpecialCategoryCondition{SpecialCategoryNone,
	SpecialCategoryExplicitConsent, SpecialCategoryEmployment, SpecialCategoryVitalInterests, SpecialCategoryNotForProfit,
	SpecialCategoryMadePublic, SpecialCategoryLegalClaims, SpecialCategorySubstantialPublicInterest,
	SpecialCategoryHealthCare, SpecialCategoryPublicHealth, SpecialCategoryArchivingResearch}

// Valid reports whether c is none or a point of Art 9(2).
func (c SpecialCategoryCondition) Valid() bool { return slices.Contains(SpecialCategoryConditions, c) }

// Special reports whether special categories of data are processed.
func (c SpecialCategoryCondition) Special() bool { return c != "" && c != SpecialCategoryNone }

// AutomatedDecisionException is the point of Art 22(2) that allows solely automated decisions with
// legal or similarly significant effects, or AutomatedDecisionsNone.
type AutomatedDecisionException string

const (
	AutomatedDecisionsNone AutomatedDecisionException = "none"
	AutomatedContract      AutomatedDecisionException = "22(2)(a)"
	AutomatedLaw           AutomatedDecisionException = "22(2)(b)"
	AutomatedConsent       AutomatedDecisionException = "22(2)(c)"
)

// AutomatedDecisionExceptions lists every accepted value.
var AutomatedDecisionExceptions = []AutomatedDecisionException{AutomatedDecisionsNone, AutomatedContract, AutomatedLaw, AutomatedConsent}

// Valid reports whether e is none or a point of Art 22(2).
func (e AutomatedDecisionException) Valid() bool {
	return slices.Contains(AutomatedDecisionExceptions, e)
}

// AutomatedDecisions describes solely automated decisions made in a purpose, which the access
// contents must cover (Art 15(1)(h)).
type AutomatedDecisions struct {
	Exception AutomatedDecisionException `json:"exception"`
	// Law is the law that authorises the decisions; required for Art 22(2)(b).
	Law *Provision `json:"law,omitempty"`
	// Logic is meaningful information about the logic involved and its consequences.
	Logic *Text `json:"logic,omitempty"`
}

// RestrictionGround is the point of Art 23(1) that a national restriction of a right safeguards.
type RestrictionGround string

// RestrictionGrounds lists Art 23(1)(a) to (j).
var RestrictionGrounds = []RestrictionGround{"23(1)(a)", "23(1)(b)", "23(1)(c)", "23(1)(d)", "23(1)(e)",
	"23(1)(f)", "23(1)(g)", "23(1)(h)", "23(1)(i)", "23(1)(j)"}

// Valid reports whether g is a point of Art 23(1).
func (g RestrictionGround) Valid() bool { return slices.Contains(RestrictionGrounds, g) }

// ExclusionScope says whether a statutory exclusion takes away a right for all of a purpose's data or
// for part of it.
type ExclusionScope string

const (
	ExclusionWhole   ExclusionScope = "whole"
	ExclusionPartial ExclusionScope = "partial"
)

// ExclusionScopes lists every scope.
var ExclusionScopes = []ExclusionScope{ExclusionWhole, ExclusionPartial}

// Valid reports whether s is a known scope.
func (s ExclusionScope) Valid() bool { return slices.Contains(ExclusionScopes, s) }

// Provision is a provision of law: a statute by its number and, where it matters, a section.
type Provision struct {
	// Act is the statute's number: a Finnish act as "1050/2018", a Union act as "(EU) 2016/679".
	Act string `json:"act" validate:"max=40"`
	// Section is the section or sections, e.g. "34" or "43a-43i".
	Section string `json:"section,omitempty" validate:"max=40"`
	// Name is the statute's name, e.g. the Data Protection Act.
	Name Text `json:"name"`
}

// Ref is the provision as cited: "Act 1050/2018 s. 34".
func (p Provision) Ref() string {
	if p.Section == "" {
		return "Act " + p.Act
	}
	return "Act " + p.Act + " s. " + p.Section
}

// Exclusion is a restriction of a right by national law under Art 23
// (docs/rights-rules.md#statutory-exclusions).
type Exclusion struct {
	Right     Right             `json:"right" validate:"required,right"`
	Provision Provision         `json:"provision"`
	Ground    RestrictionGround `json:"ground"`
	Scope     ExclusionScope    `json:"scope"`
	// Reason says, for the subject, what the restriction covers.
	Reason Text `json:"reason"`
}

// DataCategory is a category of personal data held for a purpose.
type DataCategory struct {
	ID   string `json:"id" validate:"required,register_id"`
	Name Text   `json:"name"`
}

// Retention is how long one category of data is kept (Art 5(1)(e), 13(2)(a), 15(1)(d)).
type Retention struct {
	// Category is the id of a data category of the purpose.
	Category string `json:"category" validate:"required,max=64"`
	// Period is an ISO 8601 duration ("P10Y", "P6M", "P21D") or "permanent". Where the period is not
	// fixed, Criteria says how it is determined; one of the two is given.
	Period   string `json:"period,omitempty" validate:"max=32"`
	Criteria *Text  `json:"criteria,omitempty"`
	// Trigger is what starts the period, e.g. the end of the client account.
	Trigger Text `json:"trigger"`
	// Statutory reports that a law sets the period and requires deletion; Provision cites it.
	Statutory bool       `json:"statutory,omitempty"`
	Provision *Provision `json:"provision,omitempty"`
}

// RetentionPermanent is the Period of data kept permanently, e.g. for archiving.
const RetentionPermanent = "permanent"

// Recipient is someone to whom the data are disclosed (Art 4(9)), told to the subject under
// Art 15(1)(c) and told of rectification, erasure and restriction under Art 19.
type Recipient struct {
	Name Text `json:"name"`
	// ThirdCountry is the ISO 3166-1 alpha-2 code of a country outside the EU/EEA the data go to.
	ThirdCountry string `json:"third_country,omitempty" validate:"omitempty,len=2,uppercase"`
	// Safeguard is the transfer's basis (Art 45 or 46), required with a third country (Art 15(2)).
	Safeguard string `json:"safeguard,omitempty" validate:"max=200"`
}

// Purpose is one purpose of processing with the facts that decide which rights apply to it
// (docs/rights-rules.md#purposes-and-legal-bases). Its last four fields are the modifiers of the
// matrix (docs/rights-rules.md#modifiers).
type Purpose struct {
	ID         string     `json:"id" validate:"required,register_id"`
	Name       Text       `json:"name"`
	LegalBasis LegalBasis `json:"legal_basis"`
	// BasisLaw is the law that lays the basis down; required for Art 6(1)(c) and (e) (Art 6(3)).
	BasisLaw        []Provision              `json:"basis_law,omitempty" validate:"omitempty,max=10,dive"`
	SpecialCategory SpecialCategoryCondition `json:"special_category"`
	// Automated reports that the processing is carried out by automated means (Art 20(1)(b)).
	Automated bool `json:"automated"`
	// ProvidedBySubject lists the ids of the data categories the subject provided, given or
	// observed and not inferred: what portability covers (Art 20(1)).
	ProvidedBySubject  []string           `json:"provided_by_subject,omitempty" validate:"omitempty,max=50"`
	AutomatedDecisions AutomatedDecisions `json:"automated_decisions"`
	Exclusions         []Exclusion        `json:"exclusions,omitempty" validate:"omitempty,max=20,dive"`
	DataCategories     []DataCategory     `json:"data_categories" validate:"required,min=1,max=50,dive"`
	Retention          []Retention        `json:"retention" validate:"required,min=1,max=50,dive"`
	Recipients         []Recipient        `json:"recipients,omitempty" validate:"omitempty,max=50,dive"`
	// Source is where the data come from (Art 14(2)(f), 15(1)(g)).
	Source Text `json:"source"`
	// ResearchOrStatistics: the purpose is scientific or historical research or statistics
	// (Art 17(3)(d), 21(6), 89; Data Protection Act 1050/2018 s. 31).
	ResearchOrStatistics bool `json:"research_or_statistics,omitempty"`
	// Archiving: the purpose is archiving in the public interest (Art 17(3)(d), 89; Data
	// Protection Act 1050/2018 s. 32).
	Archiving bool `json:"archiving,omitempty"`
	// LegalClaims: the data are kept for the establishment, exercise or defence of legal claims
	// (Art 17(3)(e)).
	LegalClaims bool `json:"legal_claims,omitempty"`
	// DirectMarketing: the purpose is direct marketing, to which an objection is absolute (Art 21(2)-(3)).
	DirectMarketing bool `json:"direct_marketing,omitempty"`
}

// DatasetState is what became of a closed dataset.
type DatasetState string

const (
	DatasetDeleted  DatasetState = "deleted"
	DatasetRetained DatasetState = "retained"
)

// DatasetStates lists every state.
var DatasetStates = []DatasetState{DatasetDeleted, DatasetRetained}

// Valid reports whether s is a known state.
func (s DatasetState) Valid() bool { return slices.Contains(DatasetStates, s) }

// ClosedDataset is a dataset that no longer grows, such as the IP addresses that Kela's broken cookie
// bar collected from 28 March to 19 April 2022.
type ClosedDataset struct {
	ID          string `json:"id" validate:"required,register_id"`
	Name        Text   `json:"name"`
	Description Text   `json:"description"`
	// CollectedFrom and CollectedTo are dates, "2006-01-02".
	CollectedFrom string       `json:"collected_from" validate:"required"`
	CollectedTo   string       `json:"collected_to" validate:"required"`
	State         DatasetState `json:"state"`
	// DeletedOn is the date of deletion, where known.
	DeletedOn string `json:"deleted_on,omitempty"`
}

// Category returns the purpose's data category with the id.
func (p *Purpose) Category(id string) (DataCategory, bool) {
	i := slices.IndexFunc(p.DataCategories, func(c DataCategory) bool { return c.ID == id })
	if i < 0 {
		return DataCategory{}, false
	}
	return p.DataCategories[i], true
}

// IdentifierTypes lists every identifier type by which the register can find data: those it
// matches routinely, then those a subject may add. The platform sends a register no others.
func (d *Declaration) IdentifierTypes() []IdentifierType {
	var out []IdentifierType
	for _, list := range [][]IdentifierMatch{d.Identifiers, d.Identification.Additional} {
		for _, m := range list {
			if !slices.Contains(out, m.Type) {
				out = append(out, m.Type)
			}
		}
	}
	return out
}

// Supports reports whether the register carries out op.
func (d *Declaration) Supports(op Operation) bool { return slices.Contains(d.Operations, op) }

// Digest is "sha256:" and the hex SHA-256 of the declaration's JSON. encoding/json writes struct
// fields in declaration order and no maps occur, so equal declarations always give equal digests,
// however their JSON was spelled when it arrived.
func (d *Declaration) Digest() string {
	raw, err := json.Marshal(d)
	if err != nil {
		// A Declaration holds only strings, booleans and slices of them: Marshal cannot fail.
		panic("contracts: marshal declaration: " + err.Error())
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}
