package contracts

// SubmitRequest is what a citizen submits through the portal's form or its JSON API. The subject's
// identity does not come from here: it comes from the signed-in session.
type SubmitRequest struct {
	// IdempotencyKey lets a client resubmit safely; the form carries one so that a double click or a
	// retried POST lands on the same request. It becomes the request id.
	IdempotencyKey string `json:"idempotency_key,omitempty" validate:"omitempty,uuid"`
	// Right is the right invoked. One request invokes one right, so that the task a register gets
	// for it (request id + register id) asks for one thing; a person who wants two rights makes two
	// requests, which the portal can submit together.
	Right Right `json:"right" validate:"required,right"`
	// Phone is a phone number the subject adds so that registers which can only link data to a
	// phone number (Art 11) can find theirs.
	Phone string `json:"phone,omitempty" validate:"omitempty,e164"`
	// ContactEmail is where the subject wants to be told that the reply is ready.
	ContactEmail string `json:"contact_email,omitempty" validate:"omitempty,email,max=254"`
	Language     string `json:"language" validate:"required,language"`
	// Rectification lists the corrections asked for under Art 16.
	Rectification []Correction `json:"rectification,omitempty" validate:"omitempty,max=50,dive"`
	// Details is free text: what the request is about, grounds for an objection or restriction.
	Details string `json:"details,omitempty" validate:"text,max=4000"`
}

// Normalize puts the identifiers of a request in canonical form, and its typed texts in the form
// that validation accepts (NormalizeText), before validation.
func (r *SubmitRequest) Normalize() {
	r.Details = NormalizeText(r.Details)
	for i := range r.Rectification {
		r.Rectification[i].Field = NormalizeText(r.Rectification[i].Field)
		r.Rectification[i].NewValue = NormalizeText(r.Rectification[i].NewValue)
	}
	if r.Phone != "" {
		r.Phone = Normalize(IdentifierPhone, r.Phone)
	}
	if r.ContactEmail != "" {
		r.ContactEmail = Normalize(IdentifierEmail, r.ContactEmail)
	}
}

// Validate checks the request, including that rectification is asked with its corrections.
func (r *SubmitRequest) Validate() error {
	err := Validate(r)
	ve, _ := AsValidationError(err)
	if err != nil && ve == nil {
		return err
	}
	if ve == nil {
		ve = &ValidationError{}
	}
	if r.Right == RightRectification && len(r.Rectification) == 0 {
		ve.Add("rectification", "required_with", "is required when rectification is asked for")
	}
	return ve.OrNil()
}
