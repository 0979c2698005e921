package portal

import (
	"errors"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
)

// Assurance levels of electronic identification (eIDAS, Art 8 of Regulation 910/2014), lowest first.
// Suomi.fi's strong identification is substantial (acr http://ftn.ficora.fi/2017/loa2) or high
// (…/loa3); a foreign eIDAS identification may be lower.
var assuranceLevels = []string{"basic", "substantial", "high"}

// identityLevel maps the acr an identity provider reports to its assurance level.
func identityLevel(acr string) string {
	switch {
	case strings.HasSuffix(acr, "loa3"), strings.Contains(acr, "high"):
		return "high"
	case strings.HasSuffix(acr, "loa2"), strings.Contains(acr, "substantial"):
		return "substantial"
	}
	return "basic"
}

// checkAssurance refuses a minimum level that is not one.
func checkAssurance(min string) error {
	if !slices.Contains(assuranceLevels, min) {
		return errors.New("_MIN_ASSURANCE must be one of: " + strings.Join(assuranceLevels, ", "))
	}
	return nil
}

// admit decides whether an identity may use the portal: only identification with a personal
// identity code, at the configured level of assurance or above, identifies a data subject here. It
// returns "" to admit, or why not.
func (p *portal) admit(id oidclogin.Identity) string {
	if !contracts.ValidPersonalIdentityCode(id.PersonalIdentityCode) {
		return "refused"
	}
	if slices.Index(assuranceLevels, identityLevel(id.ACR)) < slices.Index(assuranceLevels, p.cfg.MinAssurance) {
		return "assurance"
	}
	return ""
}
