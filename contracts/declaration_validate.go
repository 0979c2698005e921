package contracts

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// isStatuteNumber reports whether s is a statute number: a Finnish act "1050/2018" or a Union act
// "(EU) 2016/679". Hand-written rather than a regexp because the engine checks it on every evaluation.
func isStatuteNumber(s string) bool {
	for _, prefix := range []string{"(EU) ", "(EC) ", "(EEC) "} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s = rest
			break
		}
	}
	number, year, ok := strings.Cut(s, "/")
	return ok && digitsBetween(number, 1, 5) && digitsBetween(year, 2, 4)
}

// isDuration reports whether s is an ISO 8601 duration in whole years, months, weeks and days, in
// that order, such as "P10Y" or "P21D".
func isDuration(s string) bool {
	_, ok := ParsePeriod(s)
	return ok
}

func digitsBetween(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const dateLayout = "2006-01-02"

// Validate checks the declaration's structure (its field tags) and then CheckRules, so that a DPO never
// approves rules that cannot be right (docs/rights-rules.md#checks-before-approval). It returns a
// *ValidationError naming each field and why.
func (d *Declaration) Validate() error {
	ve := &ValidationError{}
	if err := Validate(d); err != nil {
		tagged, ok := AsValidationError(err)
		if !ok {
			return err
		}
		ve.Fields = append(ve.Fields, tagged.Fields...)
	}
	d.checkRules(ve)
	d.checkRecords(ve)
	return ve.OrNil()
}

// checkRecords: each category and, within it, each field is declared once; a register without
// personal data returns no records, and only a register that rectifies has fields to correct.
func (d *Declaration) checkRecords(ve *ValidationError) {
	if d.NoPersonalData && len(d.Records) > 0 {
		ve.Add("records", "no_personal_data", "a register that holds no personal data returns no records about a person")
	}
	for i, t := range d.Records {
		if slices.ContainsFunc(d.Records[:i], func(o RecordType) bool { return o.Category == t.Category }) {
			ve.Add(fmt.Sprintf("records[%d].category", i), "unique", "declares the category "+t.Category+" twice")
		}
		for j, f := range t.Fields {
			if slices.ContainsFunc(t.Fields[:j], func(o RecordField) bool { return o.Name == f.Name }) {
				ve.Add(fmt.Sprintf("records[%d].fields[%d].name", i, j), "unique", "declares the field "+f.Name+" twice")
			}
			if f.Correctable && !d.Supports(OpRectify) {
				ve.Add(fmt.Sprintf("records[%d].fields[%d].correctable", i, j), "operation",
					"a field can be corrected only in a register that declares the operation rectify")
			}
		}
	}
}

// CheckRules runs the checks of Validate that concern the legal facts: the articles named, the Art 11
// position, cited statutes, retention and cross-references, but not lengths and formats of fields.
// The rules engine runs it on every evaluation, so that it never applies rules that would wrongly deny
// a right, and it is cheap enough for that: the tag-driven checks cost some 50 µs a declaration and
// run once, when the catalogue accepts a version. It returns a *ValidationError or nil.
func (d *Declaration) CheckRules() error {
	ve := &ValidationError{}
	d.checkRules(ve)
	return ve.OrNil()
}

func (d *Declaration) checkRules(ve *ValidationError) {
	d.checkContact(ve)
	if d.NoPersonalData {
		d.checkAnonymous(ve)
	} else {
		d.checkIdentification(ve)
		d.checkPurposes(ve)
	}
	d.checkClosedDatasets(ve)
	d.checkProcessing(ve)
}

func (d *Declaration) checkContact(ve *ValidationError) {
	c := d.Controller.Contact
	if c.Email == "" && c.Phone == "" && c.Address == "" {
		ve.Add("controller.contact", "required_one", "needs an e-mail address, a phone number or an address: the subject must be able to reach the controller (Art 13(1)(a))")
	}
}

// checkAnonymous refuses a register that claims to hold no personal data while declaring what only
// personal data would need.
func (d *Declaration) checkAnonymous(ve *ValidationError) {
	const why = "a register that holds no personal data declares none: "
	if len(d.Identifiers) > 0 {
		ve.Add("identifiers", "no_personal_data", why+"a register that can find a person's data by an identifier holds personal data")
	}
	if d.Identification.Level != "" || len(d.Identification.Additional) > 0 {
		ve.Add("identification", "no_personal_data", why+"identification only concerns personal data")
	}
	if len(d.Purposes) > 0 {
		ve.Add("purposes", "no_personal_data", why+"purposes, legal bases and retention concern personal data; anonymous information is outside the GDPR (Recital 26)")
	}
	for i, ds := range d.ClosedDatasets {
		if ds.State == DatasetRetained {
			ve.Add(fmt.Sprintf("closed_datasets[%d].state", i), "no_personal_data",
				"a retained dataset of personal data contradicts no_personal_data: declare its purpose, or declare it deleted")
		}
	}
}

func (d *Declaration) checkIdentification(ve *ValidationError) {
	level := d.Identification.Level
	if !level.Valid() {
		ve.Add("identification.level", "identification", MustBeOneOf(IdentificationLevels))
	}
	lists := [][]IdentifierMatch{d.Identifiers, d.Identification.Additional}
	names := []string{"identifiers", "identification.additional_identifiers"}
	for l, list := range lists {
		for i, m := range list {
			if !m.Form.Valid() {
				ve.Add(fmt.Sprintf("%s[%d].form", names[l], i), "identifier_form", MustBeOneOf(IdentifierForms))
			}
			if repeatsType(lists, l, i) {
				ve.Add(fmt.Sprintf("%s[%d].type", names[l], i), "unique", "repeats an identifier type declared before it")
			}
		}
	}
	switch level {
	case RegisterIdentified, RegisterLinkable:
		if len(d.Identifiers) == 0 {
			ve.Add("identifiers", "required", "an "+string(level)+" register needs at least one identifier to find a person's data by")
		}
		if len(d.Identification.Additional) > 0 {
			ve.Add("identification.additional_identifiers", "unlinkable_only",
				"only an unlinkable register has identifiers that a subject may add (Art 11(2)); list them under identifiers")
		}
	case RegisterUnlinkable:
		d.checkUnlinkable(ve)
	}
	if !d.Supports(OpLookup) {
		ve.Add("operations", "lookup_required", "must include lookup: the right of access (Art 15) applies to every register that holds personal data")
	}
}

// repeatsType reports whether lists[l][i] has the type of an identifier listed before it.
func repeatsType(lists [][]IdentifierMatch, l, i int) bool {
	t := lists[l][i].Type
	for pl := 0; pl <= l; pl++ {
		until := len(lists[pl])
		if pl == l {
			until = i
		}
		for _, m := range lists[pl][:until] {
			if m.Type == t {
				return true
			}
		}
	}
	return false
}

// checkUnlinkable refuses the Art 11 claim of a register that can in fact link its data to a person.
// The reasoning is that of the Swedish IMY's decision on Kry (IMY-2022-3822): an unsalted hash of an
// e-mail address or phone number is pseudonymised personal data, because the additional information
// that identifies the person is the identifier itself. The platform verifies exactly those
// identifiers, so an adapter that stores them, plainly or hashed, can always recompute and search.
// See docs/rights-rules.md#checks-before-approval.
func (d *Declaration) checkUnlinkable(ve *ValidationError) {
	if d.Identification.Reason == nil {
		ve.Add("identification.reason", "required", "is required: the subject is told why the register cannot identify them (Art 11(2), 12(2))")
	}
	if len(d.Identifiers) > 0 {
		matched := make([]string, len(d.Identifiers))
		for i, m := range d.Identifiers {
			matched[i] = fmt.Sprintf("identifiers[%d] (%s, %s)", i, m.Type, m.Form)
		}
		ve.Add("identification.level", "art11_unlinkable", "cannot be unlinkable: the register matches "+
			strings.Join(matched, ", ")+", an identifier the platform verifies. The adapter recomputes the value, "+
			"or its unsalted SHA-256 hash, from the verified identifier and searches, so the controller is in a position "+
			"to identify the data subject and Art 11(2) does not apply. Hashing is pseudonymisation, not anonymisation: "+
			"the Swedish IMY held in its decision on Kry International AB (IMY-2022-3822, 19 December 2024) that hashed "+
			"e-mail addresses and phone numbers are personal data, since the person is identified with the very "+
			"information the hash was made from. Declare the register linkable")
	}
	for i, m := range d.Identification.Additional {
		if m.Form == FormSHA256 {
			ve.Add(fmt.Sprintf("identification.additional_identifiers[%d].form", i), "art11_hashed",
				"an unlinkable register cannot key its data on an unsalted hash of "+string(m.Type)+": every record is then "+
					"linkable from that identifier (IMY-2022-3822, Kry). Declare the register linkable and list the identifier under identifiers")
		}
	}
}

func (d *Declaration) checkPurposes(ve *ValidationError) {
	if len(d.Purposes) == 0 {
		ve.Add("purposes", "required", "a register that holds personal data declares at least one purpose with its legal basis (Art 5(1)(b), 6(1))")
	}
	for i := range d.Purposes {
		p := &d.Purposes[i]
		for _, earlier := range d.Purposes[:i] {
			if earlier.ID == p.ID {
				ve.Add(fmt.Sprintf("purposes[%d].id", i), "unique", "repeats the id of another purpose")
			}
		}
		p.check(ve, i)
	}
}

// check adds the purpose's problems; paths are formatted only for a problem found, since the engine
// runs this on every evaluation.
func (p *Purpose) check(ve *ValidationError, i int) {
	at := func(format string, args ...any) string {
		return fmt.Sprintf("purposes[%d].", i) + fmt.Sprintf(format, args...)
	}
	if !p.LegalBasis.Valid() {
		ve.Add(at("legal_basis"), "article", "unknown article: "+MustBeOneOf(LegalBases))
	}
	if p.LegalBasis.NeedsLaw() && len(p.BasisLaw) == 0 {
		ve.Add(at("basis_law"), "art6_3", "is required: a basis under Art 6(1)(c) or (e) must be laid down by law (Art 6(3)); cite the act")
	}
	for j, law := range p.BasisLaw {
		if !isStatuteNumber(law.Act) {
			ve.Add(at("basis_law[%d].act", j), "statute", "must be a statute number, e.g. 703/2023 or (EU) 2016/679")
		}
	}
	if !p.SpecialCategory.Valid() {
		ve.Add(at("special_category"), "article", "unknown article: must be none or one of 9(2)(a) to 9(2)(j)")
	}
	p.checkAutomatedDecisions(ve, at)

	for j, c := range p.DataCategories {
		if slices.ContainsFunc(p.DataCategories[:j], func(e DataCategory) bool { return e.ID == c.ID }) {
			ve.Add(at("data_categories[%d].id", j), "unique", "repeats the id of another category")
		}
		if !p.retains(c.ID) {
			ve.Add(at("data_categories[%d]", j), "retention", "has no retention: every category needs a period or its criteria (Art 5(1)(e), 13(2)(a))")
		}
	}
	for j, id := range p.ProvidedBySubject {
		if _, ok := p.Category(id); !ok {
			ve.Add(at("provided_by_subject[%d]", j), "category", "is not the id of a data category of this purpose")
		}
	}
	for j, r := range p.Retention {
		if _, ok := p.Category(r.Category); !ok {
			ve.Add(at("retention[%d].category", j), "category", "is not the id of a data category of this purpose")
		}
		switch {
		case r.Period == "" && r.Criteria == nil:
			ve.Add(at("retention[%d].period", j), "required", "give a period or the criteria that determine it (Art 13(2)(a))")
		case r.Period != "" && r.Period != RetentionPermanent && !isDuration(r.Period):
			ve.Add(at("retention[%d].period", j), "duration", `must be an ISO 8601 duration such as P10Y, P6M or P21D, or "permanent"`)
		}
		if r.Statutory && r.Provision == nil {
			ve.Add(at("retention[%d].provision", j), "required", "is required: a statutory retention cites the law that sets it")
		}
		if r.Provision != nil && !isStatuteNumber(r.Provision.Act) {
			ve.Add(at("retention[%d].provision.act", j), "statute", "must be a statute number, e.g. 1227/2016")
		}
	}
	for j, r := range p.Recipients {
		if r.ThirdCountry != "" && r.Safeguard == "" {
			ve.Add(at("recipients[%d].safeguard", j), "required",
				"is required with a third country: the subject has the right to be told of the safeguards (Art 15(2), 46)")
		}
	}
	p.checkExclusions(ve, at)
}

func (p *Purpose) retains(category string) bool {
	return slices.ContainsFunc(p.Retention, func(r Retention) bool { return r.Category == category })
}

func (p *Purpose) checkAutomatedDecisions(ve *ValidationError, at func(string, ...any) string) {
	ad := p.AutomatedDecisions
	if !ad.Exception.Valid() {
		ve.Add(at("automated_decisions.exception"), "article", "unknown article: "+MustBeOneOf(AutomatedDecisionExceptions))
		return
	}
	if ad.Exception == AutomatedLaw && ad.Law == nil {
		ve.Add(at("automated_decisions.law"), "required", "is required: decisions under Art 22(2)(b) must be authorised by a law, which is cited")
	}
	if ad.Law != nil && !isStatuteNumber(ad.Law.Act) {
		ve.Add(at("automated_decisions.law.act"), "statute", "must be a statute number, e.g. 1050/2018")
	}
	if ad.Exception != AutomatedDecisionsNone && ad.Logic == nil {
		ve.Add(at("automated_decisions.logic"), "required", "is required: the subject is owed meaningful information about the logic involved (Art 15(1)(h))")
	}
}

func (p *Purpose) checkExclusions(ve *ValidationError, at func(string, ...any) string) {
	for j, ex := range p.Exclusions {
		if slices.ContainsFunc(p.Exclusions[:j], func(e Exclusion) bool { return e.Right == ex.Right }) {
			ve.Add(at("exclusions[%d].right", j), "unique", "the right is excluded twice in one purpose; state the exclusion once")
		}
		switch {
		case ex.Provision.Act == "":
			msg := "is required: a right is restricted only by a legislative measure (Art 23(1)); cite the statute and section"
			if ex.Right == RightPortability && p.Automated && (p.LegalBasis == BasisConsent || p.LegalBasis == BasisContract) {
				msg = "is required: portability applies to an automated purpose based on consent or contract " +
					"(Art 20(1)), so it can be excluded only by citing the statute that restricts it (Art 23(1))"
			}
			ve.Add(at("exclusions[%d].provision.act", j), "provision_required", msg)
		case !isStatuteNumber(ex.Provision.Act):
			ve.Add(at("exclusions[%d].provision.act", j), "statute", "must be a statute number, e.g. 1050/2018")
		}
		if !ex.Ground.Valid() {
			ve.Add(at("exclusions[%d].ground", j), "article", "unknown article: must be one of 23(1)(a) to 23(1)(j), the objective the restriction safeguards")
		}
		if !ex.Scope.Valid() {
			ve.Add(at("exclusions[%d].scope", j), "scope", MustBeOneOf(ExclusionScopes))
		}
	}
}

func (d *Declaration) checkClosedDatasets(ve *ValidationError) {
	for i, ds := range d.ClosedDatasets {
		at := func(field string) string { return fmt.Sprintf("closed_datasets[%d].%s", i, field) }
		if slices.ContainsFunc(d.ClosedDatasets[:i], func(e ClosedDataset) bool { return e.ID == ds.ID }) {
			ve.Add(at("id"), "unique", "repeats the id of another dataset")
		}
		if !ds.State.Valid() {
			ve.Add(at("state"), "state", MustBeOneOf(DatasetStates))
		}
		from, errFrom := time.Parse(dateLayout, ds.CollectedFrom)
		to, errTo := time.Parse(dateLayout, ds.CollectedTo)
		if errFrom != nil {
			ve.Add(at("collected_from"), "date", "must be a date, YYYY-MM-DD")
		}
		if errTo != nil {
			ve.Add(at("collected_to"), "date", "must be a date, YYYY-MM-DD")
		}
		if errFrom == nil && errTo == nil && to.Before(from) {
			ve.Add(at("collected_to"), "gtefield", "must not be before collected_from")
		}
		if ds.DeletedOn == "" {
			continue
		}
		if ds.State != DatasetDeleted {
			ve.Add(at("deleted_on"), "state", "is only given for a deleted dataset")
		}
		deleted, err := time.Parse(dateLayout, ds.DeletedOn)
		if err != nil {
			ve.Add(at("deleted_on"), "date", "must be a date, YYYY-MM-DD")
		} else if errTo == nil && deleted.Before(to) {
			ve.Add(at("deleted_on"), "gtefield", "must not be before collected_to")
		}
	}
}
