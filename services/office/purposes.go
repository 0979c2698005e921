package office

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
)

// Purposes are the purposes a staff member may state for opening a case, by role: a clerk handles
// requests, a DPO supervises, an auditor audits. A purpose opens a case to those whose roles state
// it, and no one else: an auditor does not "handle the request". The record keeps the purpose
// chosen, and any words added to it, with every view and every decision.
type Purposes map[string][]string

// DefaultPurposes is KIRJAAMO_OFFICE_PURPOSES unless set otherwise.
const DefaultPurposes = "clerk=handling the request|reviewing register outcomes;dpo=supervision by the DPO;auditor=audit"

// maxPurpose bounds a configured purpose, and the words added to one, in characters.
const maxPurpose, maxPurposeDetail = 200, 500

// UnmarshalText reads "role=purpose|purpose;role=purpose": each role one of the office's, each
// purpose a text.
func (p *Purposes) UnmarshalText(b []byte) error {
	out := Purposes{}
	var errs []error
	for _, part := range strings.Split(string(b), ";") {
		role, list, ok := strings.Cut(strings.TrimSpace(part), "=")
		role = strings.TrimSpace(role)
		if !ok || !slices.Contains(Roles, role) {
			errs = append(errs, fmt.Errorf("%q: want role=purpose|purpose, the role one of %s", part, strings.Join(Roles, ", ")))
			continue
		}
		for _, purpose := range strings.Split(list, "|") {
			purpose = contracts.NormalizeText(purpose)
			if contracts.TextRule(purpose, maxPurpose) != "" || purpose == "" {
				errs = append(errs, fmt.Errorf("the %s's purpose %q: want a text of 1 to %d characters", role, purpose, maxPurpose))
				continue
			}
			out[role] = append(out[role], purpose)
		}
	}
	if len(errs) == 0 && len(out) == 0 {
		errs = append(errs, errors.New("no purpose for any role"))
	}
	*p = out
	return errors.Join(errs...)
}

// String writes the purposes as UnmarshalText reads them.
func (p Purposes) String() string {
	var parts []string
	for _, role := range Roles {
		if len(p[role]) > 0 {
			parts = append(parts, role+"="+strings.Join(p[role], "|"))
		}
	}
	return strings.Join(parts, ";")
}

// For is the purposes a staff member may state, in the order configured, over all their roles.
func (p Purposes) For(id *oidclogin.Identity) []string {
	var out []string
	for _, role := range Roles {
		if hasRole(id, role) {
			for _, purpose := range p[role] {
				if !slices.Contains(out, purpose) {
					out = append(out, purpose)
				}
			}
		}
	}
	return out
}

// State checks a purpose stated by a staff member, with the words they add, and returns it as the
// record keeps it: "purpose" or "purpose: detail".
func (p Purposes) State(id *oidclogin.Identity, purpose, detail string) (string, []contracts.FieldError) {
	purpose, detail = contracts.NormalizeText(purpose), contracts.NormalizeText(detail)
	ve := &contracts.ValidationError{}
	allowed := p.For(id)
	if !slices.Contains(allowed, purpose) {
		msg := "your roles state no purpose here"
		if len(allowed) > 0 {
			msg = "choose why you open this case: one of " + strings.Join(allowed, ", ")
		}
		ve.Add("purpose", "oneof", msg)
	}
	contracts.CheckText(ve, "purpose_detail", detail, maxPurposeDetail, false)
	if len(ve.Fields) > 0 {
		return "", ve.Fields
	}
	if detail != "" {
		purpose += ": " + detail
	}
	return purpose, nil
}
