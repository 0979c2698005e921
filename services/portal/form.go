package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/texts"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The request form, one question per page as GOV.UK and Suomi.fi forms ask: which right (each
// explained, none chosen beforehand), the details that right needs (for rectification, which of the
// registers' correctable fields and its correct value), how to reach the person, and then a page to
// check the answers before anything is sent. What was answered so far is the session's draft, so
// that Back and the check page's Change links find the answers there; the check page sends them
// all, with the draft's idempotency key, to POST /{lang}/requests, which the API's clients and a
// form without the steps may also use. Sending clears the draft, so going Back and sending again
// lands on the same request rather than a second one.

// draft is the form in progress.
type draft struct {
	Key      string `json:"key"`
	Right    string `json:"right,omitempty"`
	Field    string `json:"field,omitempty"`
	NewValue string `json:"new_value,omitempty"`
	Details  string `json:"details,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Email    string `json:"email,omitempty"`
	// Answered are the steps the person has answered, so that the check page is reached only with
	// each answered.
	Answered []string `json:"answered,omitempty"`
}

// The form's steps, in order.
const (
	stepRight   = "right"
	stepDetails = "details"
	stepContact = "contact"
)

var steps = []string{stepRight, stepDetails, stepContact}

// stepPath is where a step's page is.
func stepPath(lang contracts.Language, step string) string {
	if step == stepRight {
		return "/" + string(lang) + "/requests/new"
	}
	return "/" + string(lang) + "/requests/new/" + step
}

func draftOf(sess *web.Session) draft {
	var d draft
	if len(sess.Draft) > 0 {
		_ = json.Unmarshal(sess.Draft, &d)
	}
	if d.Key == "" {
		d.Key = uuid.NewString()
	}
	return d
}

func (p *portal) saveDraft(w http.ResponseWriter, r *http.Request, sess *web.Session, d draft) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	sess.Draft = raw
	return p.sessions.Save(r.Context(), w, sess)
}

// stepView is a step's page: the draft, what it offers, and the step's own facts.
type stepView struct {
	Draft  draft
	Rights []contracts.Right
	// Fields are the correctable fields of the registers in force, for rectification.
	Fields []correctable
	// Check is the check page's account of an erasure: which registers would act at once.
	Erasure *erasurePreview
	// Return: the step was opened from the check page, and goes back to it.
	Return bool
}

// correctable is a field that some register lets a subject correct, as the form offers it.
type correctable struct {
	Name      string
	Label     string
	Format    contracts.FieldFormat
	Registers []string
}

// formStep shows a step of the form, or the first step not yet answered before it.
func (p *portal) formStep(step string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := p.signedIn(w, r)
		if !ok {
			return
		}
		d := draftOf(sess)
		if sess.Identity.Email != "" && !slices.Contains(d.Answered, stepContact) {
			d.Email = sess.Identity.Email
		}
		if missing := firstUnanswered(d, step); missing != "" {
			http.Redirect(w, r, stepPath(langOf(r), missing), http.StatusSeeOther)
			return
		}
		if err := p.saveDraft(w, r, sess, d); err != nil {
			p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
			return
		}
		p.showStep(w, r, http.StatusOK, step, sess, d, nil)
	}
}

// firstUnanswered is the first step before step that the draft has not answered, or "".
func firstUnanswered(d draft, step string) string {
	for _, s := range steps {
		if s == step {
			return ""
		}
		if !slices.Contains(d.Answered, s) {
			return s
		}
	}
	return "" // the check page: every step answered
}

func (p *portal) showStep(w http.ResponseWriter, r *http.Request, status int, step string, sess *web.Session, d draft, errs []formError) {
	v := stepView{Draft: d, Rights: contracts.Rights, Return: r.FormValue("return") == "check"}
	var err error
	if d.Right == string(contracts.RightRectification) {
		v.Fields, err = p.correctableFields(r.Context(), langOf(r))
	}
	if step == "check" && d.Right == string(contracts.RightErasure) && err == nil {
		v.Erasure, err = p.previewErasure(r.Context(), sess, langOf(r))
	}
	if err != nil {
		p.deps.Log.Error("form step", "step", step, "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	p.render(w, r, status, "form_"+step, sess, v, errs...)
}

// answerStep takes a step's answers, checks them, and goes on to the next step, or shows the step
// again with what was wrong.
func (p *portal) answerStep(step string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := p.signedInForm(w, r)
		if !ok {
			return
		}
		lang := langOf(r)
		t := texts.In(lang)
		d := draftOf(sess)
		var errs []formError
		next := "check"
		switch step {
		case stepRight:
			was := d.Right
			d.Right = r.PostFormValue("right")
			if !contracts.Right(d.Right).Valid() {
				errs = append(errs, formError{Field: "right", Input: "right-" + string(contracts.Rights[0]), Message: t.T("error.right.required")})
			}
			if was != "" && was != d.Right {
				// Another right asks other details: they are asked again.
				d.Answered = slices.DeleteFunc(d.Answered, func(s string) bool { return s == stepDetails })
				d.Field, d.NewValue = "", ""
			}
			next = stepDetails
		case stepDetails:
			d.Details = contracts.NormalizeText(r.PostFormValue("details"))
			d.Field, d.NewValue = r.PostFormValue("rectify_field"), r.PostFormValue("rectify_value")
			if d.Right == string(contracts.RightRectification) {
				errs = append(errs, p.correctionErrors(r.Context(), t, &d)...)
			} else {
				d.Field, d.NewValue = "", ""
			}
			if rule := contracts.TextRule(d.Details, 4000); rule != "" {
				errs = append(errs, formError{Field: "details", Input: "details", Message: fieldMessage(t, "details", contracts.FieldError{Rule: rule})})
			}
			next = stepContact
		case stepContact:
			d.Phone, d.Email = strings.TrimSpace(r.PostFormValue("phone")), strings.TrimSpace(r.PostFormValue("contact_email"))
			if d.Phone != "" {
				if v, rule := contracts.NormalizeValue(contracts.FormatPhone, d.Phone); rule != "" {
					errs = append(errs, formError{Field: "phone", Input: "phone", Message: fieldMessage(t, "phone", contracts.FieldError{Rule: rule})})
				} else {
					d.Phone = v
				}
			}
			if d.Email != "" {
				if v, rule := contracts.NormalizeValue(contracts.FormatEmail, d.Email); rule != "" {
					errs = append(errs, formError{Field: "contact_email", Input: "contact_email", Message: fieldMessage(t, "contact_email", contracts.FieldError{Rule: rule})})
				} else {
					d.Email = v
				}
			}
		}
		if len(errs) == 0 && !slices.Contains(d.Answered, step) {
			d.Answered = append(d.Answered, step)
		}
		if err := p.saveDraft(w, r, sess, d); err != nil {
			p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
			return
		}
		if len(errs) > 0 {
			p.showStep(w, r, http.StatusUnprocessableEntity, step, sess, d, errs)
			return
		}
		// A change made from the check page goes back to it, which asks first for any step the
		// change left unanswered.
		if r.PostFormValue("return") == "check" {
			next = "check"
		}
		http.Redirect(w, r, stepPath(lang, next), http.StatusSeeOther)
	}
}

// correctionErrors checks the field and the value of a rectification against the registers'
// declared correctable fields, normalizing the value as its format keeps it.
func (p *portal) correctionErrors(ctx context.Context, t texts.Catalog, d *draft) []formError {
	fields, err := p.correctableFields(ctx, t.Language())
	if err != nil {
		return []formError{{Field: "rectify_field", Input: "rectify_field", Message: t.T("portal.try_again")}}
	}
	i := slices.IndexFunc(fields, func(f correctable) bool { return f.Name == d.Field })
	if i < 0 {
		return []formError{{Field: "rectify_field", Input: "rectify_field", Message: t.T("error.rectify_field.required")}}
	}
	v, rule := contracts.NormalizeValue(fields[i].Format, d.NewValue)
	if rule != "" {
		return []formError{{Field: "rectify_value", Input: "rectify_value", Message: valueMessage(t, fields[i].Format, rule)}}
	}
	d.NewValue = v
	return nil
}

// checkCorrections refuses, field by field, a correction of a field no register in force lets a
// subject correct, or a value not in the field's format: the form offers only those fields, and an
// API client is told as precisely.
func (p *portal) checkCorrections(ctx context.Context, list []contracts.Correction) *contracts.ValidationError {
	if len(list) == 0 {
		return nil
	}
	fields, err := p.correctableFields(ctx, contracts.English)
	if err != nil {
		return nil // the registers decide; a register refuses a field it does not have
	}
	ve := &contracts.ValidationError{}
	for i, c := range list {
		j := slices.IndexFunc(fields, func(f correctable) bool { return f.Name == c.Field })
		if j < 0 {
			ve.Add(fmt.Sprintf("rectification[%d].field", i), "correctable", "no register lets this field be corrected")
			continue
		}
		if v, rule := contracts.NormalizeValue(fields[j].Format, c.NewValue); rule != "" {
			ve.Add(fmt.Sprintf("rectification[%d].new_value", i), rule, "is not a valid "+string(fields[j].Format))
		} else {
			list[i].NewValue = v
		}
	}
	if len(ve.Fields) == 0 {
		return nil
	}
	return ve
}

// correctableFields are the fields the registers in force let a subject correct, each named once,
// with the label of the first register that declares it and every register that does.
func (p *portal) correctableFields(ctx context.Context, lang contracts.Language) ([]correctable, error) {
	declared, err := p.deps.Catalogue.InForce(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	var out []correctable
	for _, d := range declared {
		for _, f := range d.Declaration.Correctable() {
			i := slices.IndexFunc(out, func(c correctable) bool { return c.Name == f.Name })
			if i < 0 {
				out = append(out, correctable{Name: f.Name, Label: f.Label.In(lang), Format: f.Format})
				i = len(out) - 1
			}
			out[i].Registers = append(out[i].Registers, d.Declaration.Name.In(lang))
		}
	}
	return out, nil
}

// erasurePreview is what the check page says of an erasure: the registers that would erase the
// person's data at once if they hold any, and those that would not, with the rules' short reason.
type erasurePreview struct {
	AtOnce []string
	Not    []notErasing
}

type notErasing struct {
	Register, Why string
}

// previewErasure asks the rules, under the declarations in force now, which registers an erasure by
// this person would reach: the same evaluation intake makes once the request is sent.
func (p *portal) previewErasure(ctx context.Context, sess *web.Session, lang contracts.Language) (*erasurePreview, error) {
	declared, err := p.deps.Catalogue.InForce(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	in := request.Input{Request: contracts.SubmitRequest{Right: contracts.RightErasure}, Subject: SubjectOf(sess.Identity), ReceivedAt: time.Now()}
	req := request.RulesRequest(in, nil)
	t := texts.In(lang)
	out := &erasurePreview{}
	for i := range declared {
		d := &declared[i].Declaration
		o, err := rules.Evaluate(req, d)
		if err != nil {
			continue // a declaration the rules cannot read: intake names it to the office
		}
		if o.Dispatch && o.Operation == contracts.OpErase {
			out.AtOnce = append(out.AtOnce, d.Name.In(lang))
			continue
		}
		out.Not = append(out.Not, notErasing{Register: d.Name.In(lang), Why: t.Of("outcome", o.Code)})
	}
	return out, nil
}

// sendRequest takes the check page's form (or a whole form posted at once) and sends the request.
func (p *portal) sendRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := p.signedInForm(w, r)
	if !ok {
		return
	}
	lang := langOf(r)
	t := texts.In(lang)
	d := draft{Key: r.PostFormValue("idempotency_key"), Right: r.PostFormValue("right"), Phone: r.PostFormValue("phone"),
		Email: r.PostFormValue("contact_email"), Details: r.PostFormValue("details"), Field: r.PostFormValue("rectify_field"),
		NewValue: r.PostFormValue("rectify_value"), Answered: steps}
	req := contracts.SubmitRequest{IdempotencyKey: d.Key, Right: contracts.Right(d.Right), Phone: d.Phone,
		ContactEmail: d.Email, Language: string(lang), Details: d.Details}
	if d.Field != "" || d.NewValue != "" {
		req.Rectification = []contracts.Correction{{Field: d.Field, NewValue: d.NewValue}}
	}
	err := p.validate(r.Context(), &req)
	// The same form sent again (Back, then Send; a double click): the request was sent already.
	if _, invalid := contracts.AsValidationError(err); !invalid && d.Key != "" {
		if id := requestIDOf(sess.Identity, d.Key); slices.Contains(sess.Submitted, id) {
			p.flash(w, r, sess, "portal.already_sent")
			http.Redirect(w, r, "/"+string(lang)+"/requests/"+id, http.StatusSeeOther)
			return
		}
	}
	var id string
	var challenge *challenges.Challenge
	var codesSpent bool
	if err == nil {
		id, challenge, codesSpent, err = p.submit(r, sess.Identity, req, request.ChannelWeb)
	}
	if p.refusedByLimit(w, r, err) {
		return
	}
	if ve, ok := contracts.AsValidationError(err); ok {
		errs := make([]formError, 0, len(ve.Fields))
		step := ""
		for _, fe := range ve.Fields {
			field := formField(fe.Field)
			errs = append(errs, formError{Field: field, Input: inputOf(field), Message: fieldMessage(t, field, fe)})
			if s := stepOf(field); step == "" || slices.Index(steps, s) < slices.Index(steps, step) {
				step = s
			}
		}
		// Shown on the step that asks for the first field in error, with that step's errors only.
		errs = slices.DeleteFunc(errs, func(e formError) bool { return stepOf(e.Field) != step })
		d.Answered = steps[:slices.Index(steps, step)]
		_ = p.saveDraft(w, r, sess, d)
		p.showStep(w, r, http.StatusUnprocessableEntity, step, sess, d, errs)
		return
	}
	if err != nil {
		p.deps.Log.Error("submit request", "error", err)
		p.fail(w, r, http.StatusServiceUnavailable, "portal.try_again")
		return
	}
	rememberSubmitted(sess, id)
	sess.Draft = nil
	notice := "portal.sent"
	switch {
	case challenge != nil:
		notice = "portal.sent_code"
	case codesSpent:
		notice = "portal.sent_no_code"
	}
	p.flash(w, r, sess, notice) // saves the session, with the request it now remembers
	http.Redirect(w, r, "/"+string(lang)+"/requests/"+id, http.StatusSeeOther)
}

// formField maps a contract's field path to the form field that shows its error.
func formField(path string) string {
	switch {
	case strings.HasSuffix(path, ".new_value"):
		return "rectify_value"
	case strings.HasPrefix(path, "rectification"):
		return "rectify_field"
	case path == "contact_email", path == "phone", path == "right", path == "details":
		return path
	}
	return "form"
}

// stepOf is the step that asks for a form field.
func stepOf(field string) string {
	switch field {
	case "right":
		return stepRight
	case "phone", "contact_email":
		return stepContact
	case "form":
		return stepRight // a broken form starts again
	}
	return stepDetails
}

// inputOf is the element an error summary's link for a field goes to.
func inputOf(field string) string {
	switch field {
	case "right":
		return "right-" + string(contracts.Rights[0])
	case "form":
		return "main"
	}
	return field
}

// fieldMessage is what a person reads about a field's error, in their language, never the
// validators' English: at the form's own fields a text that says what to enter there, elsewhere the
// text of the rule the value broke.
func fieldMessage(t texts.Catalog, field string, fe contracts.FieldError) string {
	switch fe.Rule {
	case "utf8", "control", "nfc":
		return ruleMessage(t, fe)
	}
	switch field {
	case "right":
		return t.T("error.right.required")
	case "phone":
		return t.T("error.phone.e164")
	case "contact_email":
		return t.T("error.contact_email.email")
	case "details":
		if fe.Rule == "max" {
			return t.T("error.details.max")
		}
	case "rectify_field":
		return t.T("error.rectify_field.required")
	case "rectify_value":
		return t.T("error.rectify_value.required")
	case "value":
		if fe.Rule == "email" {
			return t.T("error.contact_email.email")
		}
		return t.T("error.phone.e164")
	case "type":
		return t.T("error.type.waited_for")
	}
	return ruleMessage(t, fe)
}

// ruleMessage is the text of the rule a value broke ("portal.invalid.<rule>"), with the limit of
// one too long; a rule without a text of its own reads as "other".
func ruleMessage(t texts.Catalog, fe contracts.FieldError) string {
	rule := fe.Rule
	if !slices.Contains(texts.Families["portal.invalid"], rule) || rule == "max" && fe.Param == "" {
		rule = "other"
	}
	if rule == "max" {
		return t.T("portal.invalid.max", fe.Param)
	}
	return t.Of("portal.invalid", rule)
}

// valueMessage is what a person reads about a correct value that is not in its field's format.
func valueMessage(t texts.Catalog, f contracts.FieldFormat, rule string) string {
	switch rule {
	case "required":
		return t.T("error.rectify_value.required")
	case "e164":
		return t.T("error.phone.e164")
	case "email":
		return t.T("error.contact_email.email")
	case "date":
		return t.T("error.rectify_value.date")
	case "number":
		return t.T("error.rectify_value.number")
	case "max":
		return t.T("error.rectify_value.max")
	}
	if f == contracts.FormatBoolean {
		return t.T("error.rectify_value.boolean")
	}
	return ruleMessage(t, contracts.FieldError{Rule: rule})
}
