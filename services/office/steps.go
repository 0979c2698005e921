package office

import (
	"net/http"

	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/workflows/request"
)

// statusTexts say where a case stands, for staff.
var statusTexts = map[request.Status]string{
	request.StatusReceived:            "Received",
	request.StatusAwaitingInformation: "Awaiting information from the subject: some registers could be searched with an identifier the subject has not given (Art 11(2), 12(6))",
	request.StatusDispatched:          "Dispatched to the registers",
	request.StatusInReview:            "In review",
	request.StatusReplied:             "Replied",
	request.StatusRestricted:          "Restricted",
	request.StatusLiftNoticeSent:      "Lift notice sent (Art 18(3))",
	request.StatusLifted:              "Restriction lifted",
	request.StatusWithdrawn:           "Withdrawn by the subject: closed",
	request.StatusAwaitingIdentity:    "Awaiting identity: received by post or at a service point; confirm the subject's identity before anything is sent to the registers (Art 12(6)). The deadline runs from receipt",
	request.StatusIdentityNotVerified: "Identity not verified: the subject's identity could not be established and the subject was told why (Art 12(2), 12(4)): closed",
}

// subjectSteps adds to the case page what the subject did on the request: the identifiers they
// supplied (unverified), the registers still waiting for one, the registers re-evaluated with one,
// and the tasks cancelled by a withdrawal.
func (o *office) subjectSteps(r *http.Request, v *caseView) error {
	k := v.File.Case
	v.StatusText = statusTexts[k.Status]
	v.Supplied = k.SuppliedIdentifiers()
	rows, err := o.deps.Cases.Registers(r.Context(), k.RequestID)
	if err != nil {
		return err
	}
	planned, err := cases.PlannedOf(rows)
	if err != nil {
		return err
	}
	v.Waiting = request.Waiting(k.Status, planned)
	v.Cancelled, v.Replanned = map[string]bool{}, map[string]bool{}
	for _, row := range rows {
		v.Cancelled[row.RegisterID] = row.CancelledAt != nil
		v.Replanned[row.RegisterID] = row.ReplannedAt != nil
	}
	return nil
}
