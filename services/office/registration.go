package office

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// Registration is a request received by post or at a service point, as a clerk registers it: the
// subject as the letter or the visitor states them, not verified. The workflow records it and waits
// for a clerk to verify the identity (Art 12(6)) or to refuse to act for want of it (Art 12(2)).
type Registration struct {
	// IdempotencyKey lets the form or a client register the same letter again safely.
	IdempotencyKey string          `json:"idempotency_key,omitempty" validate:"omitempty,uuid"`
	Right          contracts.Right `json:"right"`
	Language       string          `json:"language"`
	// Name and PersonalIdentityCode are as the subject stated them.
	Name                 string                 `json:"name" validate:"required,text,max=200"`
	PersonalIdentityCode string                 `json:"personal_identity_code" validate:"required,hetu"`
	ContactEmail         string                 `json:"contact_email,omitempty"`
	Details              string                 `json:"details,omitempty"`
	Rectification        []contracts.Correction `json:"rectification,omitempty"`
	// Channel is mail or service_point.
	Channel request.Channel `json:"channel" validate:"required,oneof=mail service_point"`
	// ReceivedOn is the day the request was received (YYYY-MM-DD, Finnish time): today if empty, never
	// in the future, at most 31 days ago. The deadline runs from it (Art 12(3)).
	ReceivedOn string `json:"received_on,omitempty"`
}

// maxReceivedDaysAgo bounds how late a paper request may be registered.
const maxReceivedDaysAgo = 31

// check normalizes and validates a registration, and returns the request it makes and when it was
// received; a *contracts.ValidationError names each bad field.
func (g *Registration) check(now time.Time) (contracts.SubmitRequest, time.Time, error) {
	g.Name = contracts.NormalizeText(g.Name)
	g.PersonalIdentityCode = contracts.Normalize(contracts.IdentifierPersonalIdentityCode, g.PersonalIdentityCode)
	g.Channel = request.Channel(strings.TrimSpace(string(g.Channel)))
	req := contracts.SubmitRequest{IdempotencyKey: g.IdempotencyKey, Right: g.Right, Language: g.Language,
		ContactEmail: g.ContactEmail, Details: g.Details, Rectification: g.Rectification}
	req.Normalize()
	ve := &contracts.ValidationError{}
	for _, err := range []error{req.Validate(), contracts.Validate(g)} {
		if err == nil {
			continue
		}
		inner, ok := contracts.AsValidationError(err)
		if !ok {
			return req, time.Time{}, err
		}
		for _, f := range inner.Fields {
			if !hasField(ve, f.Field) {
				ve.Fields = append(ve.Fields, f)
			}
		}
	}
	received := now.UTC()
	today := deadline.Date(now)
	if day := strings.TrimSpace(g.ReceivedOn); day != "" {
		d, err := time.ParseInLocation(time.DateOnly, day, deadline.Helsinki)
		switch {
		case err != nil:
			ve.Add("received_on", "datetime", "must be a date, YYYY-MM-DD")
		case d.After(today):
			ve.Add("received_on", "lte", "must not be in the future")
		case d.Before(today.AddDate(0, 0, -maxReceivedDaysAgo)):
			ve.Add("received_on", "gte", fmt.Sprintf("must be at most %d days ago", maxReceivedDaysAgo))
		case d.Before(today):
			received = d.UTC() // the start of the day of receipt: the deadline runs from that day
		}
	}
	return req, received, ve.OrNil()
}

func hasField(ve *contracts.ValidationError, field string) bool {
	for _, f := range ve.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

var registrationNamespace = uuid.MustParse("2b0c8d4e-58a1-4c3b-a7e6-5d0f9e3c1b72")

// register starts the workflow of a request a clerk registers. The subject's only identifier is the
// identity code as stated; the identity level is unverified and the method empty until a clerk
// verifies it. The request id comes from the clerk and the idempotency key, so registering the same
// letter again lands on the same request.
func (o *office) register(r *http.Request, clerk *oidclogin.Identity, g Registration) (string, error) {
	req, received, err := g.check(time.Now())
	if err != nil {
		return "", err
	}
	requestID := uuid.NewString()
	if g.IdempotencyKey != "" {
		requestID = uuid.NewSHA1(registrationNamespace, []byte(clerk.Subject+"\x00"+g.IdempotencyKey)).String()
	}
	in := request.Input{RequestID: requestID, ReceivedAt: received, Channel: g.Channel, Request: req, RegisteredBy: staffName(clerk),
		Subject: request.Subject{
			// No sign-in names this subject: the request is its own subject id, so it never joins another's.
			ID: "office:" + requestID, Name: g.Name, IdentityLevel: request.IdentityUnverified,
			Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: g.PersonalIdentityCode}}}}
	if err = o.deps.Requests.Start(r.Context(), in); err != nil {
		if refused, ok := request.AsRefused(err); ok && len(refused.Fields) > 0 {
			return "", &contracts.ValidationError{Fields: refused.Fields}
		}
		return "", err
	}
	return requestID, nil
}

// apiRegister registers a request received by post or at a service point (clerk only).
func (o *office) apiRegister(w http.ResponseWriter, r *http.Request) {
	id, _, ok := o.apiStaff(w, r)
	if !ok {
		return
	}
	if !hasRole(id, RoleClerk) {
		web.WriteProblem(w, http.StatusForbidden, "Forbidden", "only a clerk can register a request", nil)
		return
	}
	var g Registration
	if !web.ReadJSON(w, r, 64<<10, &g, false) {
		return
	}
	requestID, err := o.register(r, id, g)
	if ve, ok := contracts.AsValidationError(err); ok {
		web.WriteProblem(w, http.StatusUnprocessableEntity, "Invalid registration", "", ve.Fields)
		return
	}
	if err != nil {
		o.deps.Log.Error("register request", "error", err)
		web.WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "the request could not be registered; retry with the same idempotency_key", nil)
		return
	}
	w.Header().Set("Location", "/api/v1/cases/"+requestID)
	web.WriteJSON(w, http.StatusAccepted, map[string]string{"request_id": requestID, "status": string(request.StatusAwaitingIdentity)})
}

// registrationForm is the office's form for a request received by post or at a service point.
type registrationForm struct {
	Registration
	Rights   []contracts.Right
	Today    string
	Earliest string
	Errors   map[string]string
}

func newRegistrationForm(g Registration) registrationForm {
	today := deadline.Date(time.Now())
	if g.IdempotencyKey == "" {
		g.IdempotencyKey = uuid.NewString()
	}
	if g.ReceivedOn == "" {
		g.ReceivedOn = today.Format(time.DateOnly)
	}
	return registrationForm{Registration: g, Rights: contracts.Rights, Today: today.Format(time.DateOnly),
		Earliest: today.AddDate(0, 0, -maxReceivedDaysAgo).Format(time.DateOnly)}
}

func (o *office) showRegistration(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staff(w, r)
	if !ok {
		return
	}
	if !hasRole(sess.Identity, RoleClerk) {
		o.fail(w, http.StatusForbidden, "Only a clerk can register a request.")
		return
	}
	o.render(w, http.StatusOK, "register-request", sess, newRegistrationForm(Registration{Channel: request.ChannelMail, Language: "fi"}))
}

func (o *office) registerRequest(w http.ResponseWriter, r *http.Request) {
	sess, ok := o.staffForm(w, r, RoleClerk, "Only a clerk can register a request.")
	if !ok {
		return
	}
	f := r.PostForm
	g := Registration{IdempotencyKey: f.Get("idempotency_key"), Right: contracts.Right(f.Get("right")), Language: f.Get("language"),
		Name: f.Get("name"), PersonalIdentityCode: f.Get("personal_identity_code"), ContactEmail: strings.TrimSpace(f.Get("contact_email")),
		Details: f.Get("details"), Channel: request.Channel(f.Get("channel")), ReceivedOn: f.Get("received_on")}
	if field, value := f.Get("rectify_field"), f.Get("rectify_value"); field != "" || value != "" {
		g.Rectification = []contracts.Correction{{Field: field, NewValue: value}}
	}
	requestID, err := o.register(r, sess.Identity, g)
	if ve, ok := contracts.AsValidationError(err); ok {
		form := newRegistrationForm(g)
		form.Errors = map[string]string{}
		for _, fe := range ve.Fields {
			field := fe.Field
			if strings.HasPrefix(field, "rectification") {
				field = "rectification"
			}
			form.Errors[field] = fe.Message
		}
		o.render(w, http.StatusUnprocessableEntity, "register-request", sess, form)
		return
	}
	if err != nil {
		o.deps.Log.Error("register request", "error", err)
		o.fail(w, http.StatusServiceUnavailable, "The request could not be registered right now. Send the form again.")
		return
	}
	sess.Notice = "The request was registered. The deadline runs from the day it was received; confirm the subject's identity before anything is sent to the registers."
	_ = o.sessions.Save(r.Context(), w, sess)
	http.Redirect(w, r, "/cases/"+requestID, http.StatusSeeOther)
}
