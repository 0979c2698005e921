package rules

import (
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
)

// ResultSummary is what Conclude needs of a register's answer. The zero value means no answer.
type ResultSummary struct {
	// Status is what the register answered; empty if it has not answered.
	Status contracts.ResultStatus `json:"status,omitempty"`
	// Redacted reports that the office removed other people's data from the result (Art 15(4)).
	Redacted bool `json:"redacted,omitempty"`
	// Refusal is the register's own ground, with status refused.
	Refusal *contracts.Refusal `json:"refusal,omitempty"`
	// Recipients are those the register reports having disclosed the data to, for Art 19.
	Recipients []string `json:"recipients,omitempty"`
}

// Summarize is the summary of a register's result; nil, for a register that has not answered,
// gives the zero summary, which Conclude reads as pending.
func Summarize(r *contracts.Result) ResultSummary {
	if r == nil {
		return ResultSummary{}
	}
	return ResultSummary{Status: r.Status, Refusal: r.Refusal, Recipients: r.Recipients}
}

// Conclude is gate 7, substance, and the rest of gate 8, follow-up: it turns a provisional outcome
// (dispatch, partially restricted or applicable, referred to the controller) into the final one
// once the register has answered, or the deadline has come without an answer. Any other outcome is
// already final and is returned as it is.
//
//   - no answer, a failure, or a status the engine does not know: pending. Never "no data held" for
//     a register that did not answer.
//   - found or applied, for access or portability: granted, or partially granted when other
//     people's data were redacted (Art 15(4)) or a part was held back by the provisional outcome.
//   - found or applied, for the other rights: applied (or partially granted), with the Art 19
//     recipients to tell.
//   - no_data: no data held, on the data held at receipt.
//   - refused: refused by the register, citing the register's own ground.
//
// See docs/rights-rules.md#gate-7-substance and docs/procedure.md#partial-results.
func Conclude(pre Outcome, res ResultSummary) Outcome {
	if !pre.Code.provisional() {
		return pre
	}
	out := pre
	// The task was sent, or the controller asked; nothing more is to be sent for this outcome.
	out.Dispatch = false
	out.Citations = slices.Clone(pre.Citations)
	out.FollowUps = nil
	out.Notice = nil
	// A part held back stays held back whatever the register found, so its notice stays due.
	partial := pre.Code == CodePartiallyRestricted || pre.Code == CodePartiallyApplicable ||
		(pre.Code == CodeReferToController && pre.NoticeDue)
	out.NoticeDue = partial
	var result contracts.Text
	switch res.Status {
	case contracts.StatusFound, contracts.StatusApplied:
		result = concludeDone(&out, pre, res, partial)
	case contracts.StatusNoData:
		out.Code = CodeNoDataHeld
		result = tx(
			"Rekisterissä ei ole sinua koskevia tietoja. Vastaus koskee tietoja, jotka rekisterissä oli pyyntösi saapuessa.",
			"Registret innehåller inga uppgifter om dig. Svaret gäller de uppgifter som fanns när din begäran kom in.",
			"The register holds no data on you. This answer concerns the data held when your request was received.")
	case contracts.StatusRefused:
		out.Code = CodeRefusedByRegister
		result = refusalText(res.Refusal)
		if r := res.Refusal; r != nil && r.Citation != "" {
			out.Citations = addCitations(refusalCitations(r), out.Citations...)
		}
	case contracts.StatusFailed:
		result = join(" ", pending(&out), tx("Rekisteri ilmoitti teknisestä virheestä.", "Registret rapporterade ett tekniskt fel.", "The register reported a technical failure."))
	default:
		// No answer, or a status this engine does not know: nothing to conclude from.
		result = pending(&out)
	}
	out.Explanation = join("\n", pre.Explanation, result)
	settleNotice(&out)
	return out
}

// pending makes out the outcome of a register that has not answered, and says so: never "no data
// held" (docs/procedure.md#partial-results).
func pending(out *Outcome) contracts.Text {
	out.Code = CodePending
	out.Citations = addCitations(out.Citations, gdpr("12(3)"))
	return tx(
		"Rekisteri ei ole vastannut määräaikaan mennessä. Tämä ei tarkoita, ettei tietoja ole: vastauksessa kerrotaan, että rekisterin osuus on kesken ja miksi, ja saat sen osuuden heti, kun rekisteri vastaa (12 artiklan 3 kohta).",
		"Registret har inte svarat inom tidsfristen. Det betyder inte att inga uppgifter finns: svaret anger att registrets del väntar och varför, och du får dess del så snart registret svarar (artikel 12.3).",
		"The register has not answered by the deadline. This does not mean that no data are held: the reply says that the register's part is pending and why, and you will receive it as soon as the register answers (Art 12(3)).")
}

// concludeDone concludes a register that found data or carried out the effect: a copy granted for
// access and portability, an effect applied for the others. An outcome for a value that is not a
// right, which Evaluate never gives, is not concluded but left pending for the office, saying why.
func concludeDone(out *Outcome, pre Outcome, res ResultSummary, partial bool) contracts.Text {
	var result contracts.Text
	switch pre.Right {
	case contracts.RightAccess:
		result = granted(out, res, tx(
			"Rekisterissä on sinua koskevia tietoja. Jäljennös on liitteenä yhdessä 15 artiklan 1–3 kohdassa edellytettyjen tietojen kanssa.",
			"Registret innehåller uppgifter om dig. En kopia bifogas tillsammans med den information som krävs enligt artikel 15.1–15.3.",
			"The register holds data on you. A copy is enclosed with the information required by Art 15(1)-(3)."))
	case contracts.RightPortability:
		result = granted(out, res, tx(
			"Antamasi tiedot ovat liitteenä jäsennellyssä, koneluettavassa muodossa (20 artiklan 1 kohta).",
			"De uppgifter du har lämnat bifogas i ett strukturerat, maskinläsbart format (artikel 20.1).",
			"The data you provided are enclosed in a structured, machine-readable format (Art 20(1))."))
	case contracts.RightRectification:
		result = applied(out, pre, res, tx("Tiedot on oikaistu (16 artikla).", "Uppgifterna har rättats (artikel 16).", "The data have been rectified (Art 16)."))
	case contracts.RightErasure:
		result = applied(out, pre, res, tx("Tiedot on poistettu (17 artikla).", "Uppgifterna har raderats (artikel 17).", "The data have been erased (Art 17)."))
	case contracts.RightRestriction:
		result = applied(out, pre, res, tx(
			"Käsittelyä on rajoitettu: tiedot ainoastaan säilytetään, ja sinulle ilmoitetaan ennen rajoituksen poistamista (18 artiklan 2 ja 3 kohta).",
			"Behandlingen har begränsats: uppgifterna lagras endast, och du underrättas innan begränsningen hävs (artikel 18.2–18.3).",
			"The processing has been restricted: the data are only stored, and you will be told before the restriction is lifted (Art 18(2)-(3))."))
	case contracts.RightObjection:
		result = applied(out, pre, res, tx("Vastustamasi käsittely on lopetettu (21 artikla).", "Den behandling du invände mot har upphört (artikel 21).", "The processing you objected to has ended (Art 21)."))
	default:
		return join(" ", pending(out), format(tx(
			"Rekisterin vastausta ei voida ratkaista, koska pyydetty oikeus ”%s” ei ole tämän järjestelmän tuntema oikeus; kirjaamo ratkaisee sen.",
			"Registrets svar kan inte avgöras, eftersom den begärda rättigheten ”%s” inte är en rättighet som systemet känner till; registratorskontoret avgör det.",
			"The register's answer cannot be concluded, because the right asked for, “%s”, is not one this system knows; the office concludes it."),
			string(pre.Right)))
	}
	if partial {
		out.Code = CodePartiallyGranted
	}
	return result
}

// granted concludes a copy given: granted, or partially granted with other people's data redacted
// (Art 15(4)).
func granted(out *Outcome, res ResultSummary, result contracts.Text) contracts.Text {
	out.Code = CodeGranted
	if !res.Redacted {
		return result
	}
	out.Code = CodePartiallyGranted
	out.NoticeDue = true
	out.Citations = addCitations(out.Citations, gdpr("15(4)"))
	return join(" ", result, tx(
		"Muita henkilöitä koskevat tiedot on poistettu jäljennöksestä heidän oikeuksiensa suojaamiseksi; muilta osin tiedot annetaan (15 artiklan 4 kohta).",
		"Uppgifter om andra personer har tagits bort ur kopian för att skydda deras rättigheter; i övrigt lämnas uppgifterna ut (artikel 15.4).",
		"Data about other people have been removed from the copy to protect their rights; the rest is given (Art 15(4))."))
}

// applied concludes an effect carried out, with the Art 19 recipients to tell, those the register
// reported added to those declared.
func applied(out *Outcome, pre Outcome, res ResultSummary, result contracts.Text) contracts.Text {
	out.Code = CodeApplied
	out.FollowUps = slices.Clone(pre.FollowUps)
	if len(res.Recipients) > 0 {
		out.FollowUps = withReportedRecipients(out.FollowUps, res.Recipients)
	}
	if slices.ContainsFunc(out.FollowUps, func(f FollowUp) bool { return f.Kind == FollowUpNotifyRecipients }) {
		out.Citations = addCitations(out.Citations, gdpr("19"))
		result = join(" ", result, tx("Tietojen vastaanottajille ilmoitetaan (19 artikla).", "Mottagarna av uppgifterna underrättas (artikel 19).", "The recipients of the data are told (Art 19)."))
	}
	return result
}

// refusalText gives the register's own ground, in the words it used in each language, or says that
// it gave none, which the office must then ask for: a refusal without reasons cannot be sent (Art 12(4)).
func refusalText(r *contracts.Refusal) contracts.Text {
	if r == nil || r.Reason.FI == "" || r.Reason.SV == "" || r.Reason.EN == "" {
		return tx(
			"Rekisterinpitäjä epäsi pyynnön ilmoittamatta perustetta; kirjaamo pyytää perusteen ennen vastausta.",
			"Den personuppgiftsansvarige avslog begäran utan att ange skäl; registratorskontoret begär skälen innan svaret ges.",
			"The controller refused the request without stating a ground; the office asks for it before replying.")
	}
	return format(tx("Rekisterinpitäjä epäsi pyynnön. Peruste: %s", "Den personuppgiftsansvarige avslog begäran. Skäl: %s",
		"The controller refused the request. The ground: %s"), r.Reason)
}

// refusalCitations are the provisions a register's refusal cites, one citation each, labelled as
// the engine labels a GDPR provision and otherwise with the register's reason.
func refusalCitations(r *contracts.Refusal) []Citation {
	var out []Citation
	for _, ref := range strings.Split(r.Citation, "; ") {
		label := r.Reason
		if c, ok := contracts.ParseCitation(ref); ok && c.Act == "" && !c.Recital {
			if l, known := gdprLabels[c.Article]; known {
				label = l
			}
		}
		out = append(out, Citation{Ref: ref, Label: label})
	}
	return out
}

// withReportedRecipients adds the recipients a register reported to the Art 19 follow-up.
func withReportedRecipients(followUps []FollowUp, reported []string) []FollowUp {
	i := slices.IndexFunc(followUps, func(f FollowUp) bool { return f.Kind == FollowUpNotifyRecipients })
	if i < 0 {
		followUps = append(followUps, FollowUp{Kind: FollowUpNotifyRecipients, Citation: gdpr("19")})
		i = len(followUps) - 1
	}
	recipients := slices.Clone(followUps[i].Recipients)
	for _, name := range reported {
		t := tx(name, name, name)
		if !slices.Contains(recipients, t) {
			recipients = append(recipients, t)
		}
	}
	followUps[i].Recipients = recipients
	return followUps
}
