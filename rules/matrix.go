package rules

import (
	"kirjaamo.dev/contracts"
)

// verdict is the decision for one purpose of a register: gates 5 (statutory restriction) and 6 (the
// right × basis matrix with its modifiers) of docs/rights-rules.md#gates-in-order.
type verdict struct {
	purpose *contracts.Purpose
	applies bool
	// partial: a statutory exclusion holds back part of the data the right otherwise reaches.
	partial bool
	// code is why the right does not reach the purpose's data, when it does not.
	code      OutcomeCode
	citations []Citation
	reason    contracts.Text
	flags     []Flag
}

func yes(citations []Citation, reason contracts.Text) verdict {
	return verdict{applies: true, citations: citations, reason: reason}
}

func no(code OutcomeCode, citations []Citation, reason contracts.Text) verdict {
	return verdict{code: code, citations: citations, reason: reason}
}

// judgePurpose decides whether the request's right reaches the data of one purpose: a statutory
// exclusion first (docs/rights-rules.md#gate-5-statutory-restriction), then the matrix.
func judgePurpose(req *Request, p *contracts.Purpose) verdict {
	ex := exclusionOf(p, req.Right)
	if ex != nil && ex.Scope == contracts.ExclusionWhole {
		v := no(CodeRestrictedByLaw, restrictionCitations(ex), restrictionReason(req.Right, ex, false))
		v.purpose = p
		return v
	}
	v := matrix(req, p)
	v.purpose = p
	if v.applies {
		if ex != nil {
			v.partial = true
			v.citations = addCitations(restrictionCitations(ex), v.citations...)
			v.reason = join(" ", v.reason, restrictionReason(req.Right, ex, true))
		}
		v.flags = derogationFlags(req.Right, p)
	}
	return v
}

func exclusionOf(p *contracts.Purpose, right contracts.Right) *contracts.Exclusion {
	for i := range p.Exclusions {
		if p.Exclusions[i].Right == right {
			return &p.Exclusions[i]
		}
	}
	return nil
}

func restrictionCitations(ex *contracts.Exclusion) []Citation {
	return []Citation{national(ex.Provision), gdpr(string(ex.Ground))}
}

func restrictionReason(right contracts.Right, ex *contracts.Exclusion, partial bool) contracts.Text {
	ground := gdprLabels[string(ex.Ground)]
	if partial {
		return format(tx(
			"Kansallinen laki rajoittaa tätä oikeutta (%s) osan tiedoista osalta: %s (%s). Rajoituksella turvataan seuraavaa: %s (23 artiklan 1 kohta). %s Muiden tietojen osalta pyyntö käsitellään.",
			"Nationell lag begränsar denna rättighet (%s) för en del av uppgifterna: %s (%s). Begränsningen skyddar följande: %s (artikel 23.1). %s Begäran behandlas för övriga uppgifter.",
			"National law restricts this right (%s) for part of the data: %s (%s). The restriction safeguards the following: %s (Art 23(1)). %s The rest of the data is handled."),
			rightNames[right], ex.Provision.Name, provisionRef(ex.Provision), ground, ex.Reason)
	}
	return format(tx(
		"Kansallinen laki rajoittaa tätä oikeutta (%s) näiden tietojen osalta: %s (%s). Rajoituksella turvataan seuraavaa: %s (23 artiklan 1 kohta). %s",
		"Nationell lag begränsar denna rättighet (%s) för dessa uppgifter: %s (%s). Begränsningen skyddar följande: %s (artikel 23.1). %s",
		"National law restricts this right (%s) for this data: %s (%s). The restriction safeguards the following: %s (Art 23(1)). %s"),
		rightNames[right], ex.Provision.Name, provisionRef(ex.Provision), ground, ex.Reason)
}

// matrix is the right by the purpose's legal basis, with the modifiers: docs/rights-rules.md#the-matrix.
func matrix(req *Request, p *contracts.Purpose) verdict {
	switch req.Right {
	case contracts.RightAccess:
		return accessVerdict(p)
	case contracts.RightRectification:
		return yes(gdprAll("16", "19"), tx(
			"Sinulla on oikeus saada virheelliset tietosi oikaistuiksi ja puutteelliset tietosi täydennetyiksi (16 artikla). Tietojen vastaanottajille ilmoitetaan oikaisusta (19 artikla).",
			"Du har rätt att få felaktiga uppgifter rättade och ofullständiga uppgifter kompletterade (artikel 16). De som har fått uppgifterna underrättas om rättelsen (artikel 19).",
			"You have the right to have inaccurate data corrected and incomplete data completed (Art 16). Those who received the data are told of the correction (Art 19)."))
	case contracts.RightErasure:
		return erasureVerdict(req, p)
	case contracts.RightRestriction:
		return restrictionVerdict(p)
	case contracts.RightPortability:
		return portabilityVerdict(p)
	case contracts.RightObjection:
		return objectionVerdict(req, p)
	default:
		panic(unvalidated("right", req.Right))
	}
}

// accessVerdict: docs/rights-rules.md#access.
func accessVerdict(p *contracts.Purpose) verdict {
	citations := append(make([]Citation, 0, 5), gdpr("15(1)"), gdpr("15(3)"))
	reason := tx(
		"Sinulla on oikeus saada tietää, käsitelläänkö tietojasi, ja saada niistä jäljennös sekä tiedot käsittelyn tarkoituksista, tietoryhmistä, vastaanottajista, säilytysajoista, tietolähteistä ja muista oikeuksistasi (15 artiklan 1–3 kohta). Ensimmäinen jäljennös on maksuton.",
		"Du har rätt att få veta om dina uppgifter behandlas och att få en kopia av dem, tillsammans med uppgifter om ändamål, kategorier, mottagare, lagringstid, källa och dina övriga rättigheter (artikel 15.1–15.3). Den första kopian är kostnadsfri.",
		"You have the right to know whether your data are processed and to get a copy, with the purposes, categories, recipients, retention, source and your other rights (Art 15(1)-(3)). The first copy is free of charge.")
	if len(p.Recipients) > 0 {
		citations = append(citations, gdpr("15(1)(c)"))
	}
	for _, r := range p.Recipients {
		if r.ThirdCountry != "" {
			citations = append(citations, gdpr("15(2)"))
			break
		}
	}
	if p.AutomatedDecisions.Exception.Valid() && p.AutomatedDecisions.Exception != contracts.AutomatedDecisionsNone {
		citations = append(citations, gdpr("15(1)(h)"))
		reason = join(" ", reason, tx(
			"Vastauksessa kerrotaan myös automaattisista päätöksistä ja niiden logiikasta (15 artiklan 1 kohdan h alakohta).",
			"Svaret förklarar också de automatiserade besluten och logiken bakom dem (artikel 15.1 h).",
			"The reply also explains the solely automated decisions made and their logic (Art 15(1)(h))."))
	}
	return yes(citations, reason)
}

var legalClaimsReason = tx(
	"Tiedot säilytetään oikeudellisen vaateen laatimista, esittämistä tai puolustamista varten, joten niitä ei poisteta (17 artiklan 3 kohdan e alakohta). Voit sen sijaan pyytää niiden käsittelyn rajoittamista (18 artikla).",
	"Uppgifterna bevaras för att fastställa, göra gällande eller försvara rättsliga anspråk och raderas därför inte (artikel 17.3 e). Du kan i stället begära att behandlingen begränsas (artikel 18).",
	"The data are kept for the establishment, exercise or defence of legal claims, so they are not erased (Art 17(3)(e)). You may instead ask for their processing to be restricted (Art 18).")

// erasureVerdict: docs/rights-rules.md#erasure, with docs/rights-rules.md#unlawful-processing and
// docs/rights-rules.md#direct-marketing across the columns.
func erasureVerdict(req *Request, p *contracts.Purpose) verdict {
	// Unlawful processing opens erasure whatever the basis: no legal duty or task can require
	// processing that the law does not allow. Only the controller's legal claims may still keep it.
	if req.Unlawful {
		if p.LegalClaims {
			return no(CodeRefusedException, gdprAll("17(1)(d)", "17(3)(e)", "18(1)"), legalClaimsReason)
		}
		return yes(gdprAll("17(1)(d)"), tx(
			"Lainvastaisesti käsitellyt tiedot on poistettava (17 artiklan 1 kohdan d alakohta).",
			"Uppgifter som behandlats olagligt ska raderas (artikel 17.1 d).",
			"Data processed unlawfully must be erased (Art 17(1)(d))."))
	}
	if req.DirectMarketing && p.DirectMarketing {
		return yes(gdprAll("17(1)(c)", "21(2)", "21(3)"), tx(
			"Olet vastustanut suoramarkkinointia, mikä lopettaa käsittelyn tähän tarkoitukseen poikkeuksetta, joten tiedot poistetaan (17 artiklan 1 kohdan c alakohta, 21 artiklan 3 kohta).",
			"Du har invänt mot direktmarknadsföring, vilket utan undantag avslutar behandlingen för det ändamålet, och därför raderas uppgifterna (artikel 17.1 c, 21.3).",
			"You have objected to direct marketing, which ends the processing for that purpose without exception, so the data are erased (Art 17(1)(c), 21(3))."))
	}
	var v verdict
	switch p.LegalBasis {
	case contracts.BasisConsent:
		v = yes(gdprAll("17(1)(b)", "7(3)"), tx(
			"Käsittely perustuu suostumukseesi. Poistopyyntö peruuttaa suostumuksen, ja tiedot poistetaan (17 artiklan 1 kohdan b alakohta, 7 artiklan 3 kohta).",
			"Behandlingen grundar sig på ditt samtycke. En begäran om radering återkallar samtycket, och uppgifterna raderas (artikel 17.1 b, 7.3).",
			"The processing rests on your consent. Asking for erasure withdraws it, and the data are erased (Art 17(1)(b), 7(3))."))
	case contracts.BasisContract, contracts.BasisVitalInterests:
		v = yes(gdprAll("17(1)(a)"), tx(
			"Tiedot poistetaan, kun niitä ei enää tarvita siihen tarkoitukseen, jota varten ne kerättiin (17 artiklan 1 kohdan a alakohta); rekisteri tarkistaa, tarvitaanko niitä yhä.",
			"Uppgifterna raderas när de inte längre behövs för det ändamål för vilket de samlades in (artikel 17.1 a); registret kontrollerar om de fortfarande behövs.",
			"The data are erased once they are no longer needed for the purpose they were collected for (Art 17(1)(a)); the register checks whether they still are."))
	case contracts.BasisLegitimateInterests:
		if req.Objection {
			v = yes(gdprAll("17(1)(c)", "21(1)"), tx(
				"Olet vastustanut käsittelyä, ja tiedot poistetaan, ellei rekisterinpitäjä osoita, että käsittelyyn on huomattavan tärkeä ja perusteltu syy, joka syrjäyttää etusi (17 artiklan 1 kohdan c alakohta, 21 artiklan 1 kohta).",
				"Du har invänt mot behandlingen, och uppgifterna raderas om inte den personuppgiftsansvarige visar tvingande berättigade skäl som väger tyngre än dina intressen (artikel 17.1 c, 21.1).",
				"You have objected to the processing, and the data are erased unless the controller demonstrates compelling legitimate grounds that override your interests (Art 17(1)(c), 21(1))."))
		} else {
			// An erasure request against processing based on legitimate interests is read as an
			// objection too: the subject plainly opposes the processing, and Art 12(2) asks the
			// controller to facilitate, not to demand the right form.
			v = yes(gdprAll("17(1)(a)", "17(1)(c)", "21(1)"), tx(
				"Käsittely perustuu rekisterinpitäjän oikeutettuun etuun. Pyyntösi käsitellään myös vastustamisena: tiedot poistetaan, jos niitä ei enää tarvita tai ellei rekisterinpitäjä osoita käsittelyyn huomattavan tärkeää ja perusteltua syytä, joka syrjäyttää etusi (17 artiklan 1 kohdan a ja c alakohta, 21 artiklan 1 kohta).",
				"Behandlingen grundar sig på den personuppgiftsansvariges berättigade intresse. Din begäran behandlas också som en invändning: uppgifterna raderas om de inte längre behövs, eller om inte den personuppgiftsansvarige visar tvingande berättigade skäl som väger tyngre än dina intressen (artikel 17.1 a, 17.1 c, 21.1).",
				"The processing rests on the controller's legitimate interests. Your request is handled as an objection too: the data are erased if they are no longer needed, or unless the controller demonstrates compelling legitimate grounds that override your interests (Art 17(1)(a), 17(1)(c), 21(1))."))
		}
	case contracts.BasisLegalObligation, contracts.BasisPublicTask: // 17(3)(b)
		citations := gdprAll("17(3)(b)", string(p.LegalBasis))
		for _, law := range p.BasisLaw {
			citations = append(citations, national(law))
		}
		intro := tx(
			"Tietoja käsitellään rekisterinpitäjän lakisääteisen velvoitteen noudattamiseksi, josta säädetään seuraavissa laeissa: %s. Niin kauan kuin laki edellyttää tietojen säilyttämistä, niitä ei poisteta (17 artiklan 3 kohdan b alakohta).",
			"Uppgifterna behandlas för att fullgöra en rättslig förpliktelse som föreskrivs i följande lagar: %s. Så länge lagen kräver att de bevaras raderas de inte (artikel 17.3 b).",
			"The data are processed to comply with a legal obligation laid down in: %s. While the law requires them to be kept, they are not erased (Art 17(3)(b)).")
		if p.LegalBasis == contracts.BasisPublicTask {
			intro = tx(
				"Tietoja käsitellään yleisen edun mukaisen tehtävän hoitamiseksi, josta säädetään seuraavissa laeissa: %s. Niin kauan kuin tietoja tarvitaan tehtävän hoitamiseen, niitä ei poisteta (17 artiklan 3 kohdan b alakohta).",
				"Uppgifterna behandlas för att utföra en uppgift av allmänt intresse som föreskrivs i följande lagar: %s. Så länge de behövs för uppgiften raderas de inte (artikel 17.3 b).",
				"The data are processed to perform a task in the public interest laid down in: %s. While they are needed for that task, they are not erased (Art 17(3)(b)).")
		}
		reason := join(" ", format(intro, lawList(p.BasisLaw)),
			format(tx("Säilytysajat: %s.", "Lagringstider: %s.", "Retention: %s."), retentionList(p)))
		// The modifiers add their own grounds to a cell that already says no.
		extra := erasureExceptions(p)
		return no(CodeNotApplicable, addCitations(citations, extra.citations...), join(" ", reason, extra.reason))
	default:
		panic(unvalidated("legal basis", p.LegalBasis))
	}
	if extra := erasureExceptions(p); len(extra.citations) > 0 {
		return no(CodeRefusedException, extra.citations, extra.reason)
	}
	return v
}

// erasureExceptions are the exceptions of Art 17(3)(c)-(e) that a purpose's modifiers raise
// (docs/rights-rules.md#modifiers).
func erasureExceptions(p *contracts.Purpose) verdict {
	var v verdict
	switch p.SpecialCategory {
	case contracts.SpecialCategoryHealthCare, contracts.SpecialCategoryPublicHealth:
		v.citations = append(v.citations, gdpr("17(3)(c)"))
		v.reason = join(" ", v.reason, tx(
			"Tietoja tarvitaan terveydenhuollon tai kansanterveyteen liittyvän yleisen edun vuoksi (9 artiklan 2 kohdan h tai i alakohta), joten niitä ei poisteta niin kauan kuin tarve jatkuu (17 artiklan 3 kohdan c alakohta).",
			"Uppgifterna behövs för hälso- och sjukvård eller av skäl av allmänt intresse på folkhälsoområdet (artikel 9.2 h eller i), och därför raderas de inte så länge behovet kvarstår (artikel 17.3 c).",
			"The data are needed for health care or for reasons of public interest in the area of public health (Art 9(2)(h) or (i)), so they are not erased while that need lasts (Art 17(3)(c))."))
	case contracts.SpecialCategoryNone, contracts.SpecialCategoryExplicitConsent, contracts.SpecialCategoryEmployment,
		contracts.SpecialCategoryVitalInterests, contracts.SpecialCategoryNotForProfit, contracts.SpecialCategoryMadePublic,
		contracts.SpecialCategoryLegalClaims, contracts.SpecialCategorySubstantialPublicInterest,
		contracts.SpecialCategoryArchivingResearch:
		// Art 17(3)(c) names points (h) and (i) of Art 9(2) only.
	default:
		panic(unvalidated("special category condition", p.SpecialCategory))
	}
	if p.ResearchOrStatistics || p.Archiving {
		purpose := researchPhrase
		if !p.ResearchOrStatistics {
			purpose = archivingPhrase
		}
		v.citations = append(v.citations, gdpr("17(3)(d)"))
		v.reason = join(" ", v.reason, format(tx(
			"Käsittelyn tarkoitus on %s, ja tietojen poistaminen estäisi tämän tarkoituksen tai vaikeuttaisi sitä vakavasti, joten niitä ei poisteta (17 artiklan 3 kohdan d alakohta).",
			"Uppgifterna behandlas för %s, och att radera dem skulle göra det ändamålet omöjligt eller allvarligt försvåra det, och därför raderas de inte (artikel 17.3 d).",
			"The data are processed for %s, and erasing them would make that purpose impossible or seriously impair it, so they are not erased (Art 17(3)(d))."), purpose))
	}
	if p.LegalClaims {
		v.citations = append(v.citations, gdpr("17(3)(e)"), gdpr("18(1)"))
		v.reason = join(" ", v.reason, legalClaimsReason)
	}
	return v
}

// restrictionVerdict: docs/rights-rules.md#restriction.
func restrictionVerdict(p *contracts.Purpose) verdict {
	citations := gdprAll("18(1)", "18(2)", "18(3)", "19")
	extra := tx("", "", "")
	// Ground (d), an objection pending verification, exists only where one can object (Art 21(1)).
	if p.LegalBasis == contracts.BasisPublicTask || p.LegalBasis == contracts.BasisLegitimateInterests {
		citations = append(citations, gdpr("18(1)(d)"))
		extra = tx(", tai sillä aikaa kun vastustamistasi selvitetään", ", eller medan din invändning prövas", ", or while your objection is being verified")
	}
	return yes(citations, format(tx(
		"Voit saada käsittelyn rajoitetuksi, jos kiistät tietojen paikkansapitävyyden, käsittely on lainvastaista tai rekisterinpitäjä ei enää tarvitse tietoja mutta sinä tarvitset niitä oikeudellista vaatimusta varten%s (18 artiklan 1 kohta). Rajoituksen aikana tiedot ainoastaan säilytetään, ja sinulle ilmoitetaan ennen rajoituksen poistamista (18 artiklan 2 ja 3 kohta).",
		"Du kan få behandlingen begränsad om du bestrider uppgifternas riktighet, behandlingen är olaglig eller den personuppgiftsansvarige inte längre behöver uppgifterna men du behöver dem för ett rättsligt anspråk%s (artikel 18.1). Under begränsningen lagras uppgifterna endast, och du underrättas innan begränsningen hävs (artikel 18.2–18.3).",
		"You can have the processing restricted if you contest the accuracy of the data, the processing is unlawful, or the controller no longer needs the data but you need them for a legal claim%s (Art 18(1)). While restricted, the data are only stored, and you are told before the restriction is lifted (Art 18(2)-(3))."), extra))
}

// portabilityVerdict: docs/rights-rules.md#portability.
func portabilityVerdict(p *contracts.Purpose) verdict {
	switch p.LegalBasis {
	case contracts.BasisConsent, contracts.BasisContract:
		if !p.Automated {
			return no(CodeNotApplicable, gdprAll("20(1)(b)"), tx(
				"Oikeus siirtää tiedot koskee vain automaattisesti suoritettavaa käsittelyä, eikä tämä käsittely ole sellaista (20 artiklan 1 kohdan b alakohta).",
				"Rätten till dataportabilitet gäller endast automatiserad behandling, vilket denna behandling inte är (artikel 20.1 b).",
				"Portability covers only processing carried out by automated means, which this processing is not (Art 20(1)(b))."))
		}
		if len(p.ProvidedBySubject) == 0 {
			return no(CodeNotApplicable, gdprAll("20(1)"), tx(
				"Oikeus siirtää tiedot koskee vain tietoja, jotka olet itse toimittanut, eikä tähän tarkoitukseen käsitellä sellaisia (20 artiklan 1 kohta).",
				"Rätten till dataportabilitet gäller endast uppgifter som du själv har lämnat, och inga sådana behandlas för detta ändamål (artikel 20.1).",
				"Portability covers only data you provided yourself, and this purpose holds none (Art 20(1))."))
		}
		provided := make([]contracts.Text, 0, len(p.ProvidedBySubject))
		for _, id := range p.ProvidedBySubject {
			if c, ok := p.Category(id); ok {
				provided = append(provided, c.Name)
			}
		}
		return yes(gdprAll("20(1)", "20(1)(b)"), format(tx(
			"Käsittely perustuu %s ja on automaattista, joten voit saada antamasi tiedot jäsennellyssä, koneluettavassa muodossa ja siirtää ne toiselle rekisterinpitäjälle (20 artiklan 1 kohta). Tämä koskee seuraavia tietoja: %s.",
			"Behandlingen grundar sig på %s och är automatiserad, så du kan få de uppgifter du har lämnat i ett strukturerat, maskinläsbart format och få dem överförda till en annan personuppgiftsansvarig (artikel 20.1). Detta gäller: %s.",
			"The processing rests on %s and is automated, so you can get the data you provided in a structured, machine-readable format and have them sent to another controller (Art 20(1)). This covers: %s."),
			basisPhrases[p.LegalBasis], join("; ", provided...)))
	case contracts.BasisPublicTask:
		return no(CodeNotApplicable, gdprAll("20(3)", "6(1)(e)"), tx(
			"Oikeutta siirtää tiedot ei sovelleta käsittelyyn, joka on tarpeen yleisen edun mukaisen tehtävän suorittamiseksi tai julkisen vallan käyttämiseksi (20 artiklan 3 kohta).",
			"Rätten till dataportabilitet gäller inte behandling som är nödvändig för att utföra en uppgift av allmänt intresse eller som ett led i myndighetsutövning (artikel 20.3).",
			"Portability does not apply to processing necessary for a task carried out in the public interest or in the exercise of official authority (Art 20(3))."))
	case contracts.BasisLegalObligation, contracts.BasisVitalInterests, contracts.BasisLegitimateInterests:
		return no(CodeNotApplicable, gdprAll("20(1)", string(p.LegalBasis)), format(tx(
			"Oikeus siirtää tiedot koskee vain suostumukseen tai sopimukseen perustuvaa käsittelyä; tämä käsittely perustuu %s (20 artiklan 1 kohta).",
			"Rätten till dataportabilitet gäller endast behandling som grundar sig på samtycke eller avtal; denna behandling grundar sig på %s (artikel 20.1).",
			"Portability applies only to processing based on consent or a contract; this processing rests on %s (Art 20(1))."),
			basisPhrases[p.LegalBasis]))
	default:
		panic(unvalidated("legal basis", p.LegalBasis))
	}
}

// objectionVerdict: docs/rights-rules.md#objection and docs/rights-rules.md#direct-marketing.
func objectionVerdict(req *Request, p *contracts.Purpose) verdict {
	if req.DirectMarketing && p.DirectMarketing {
		return yes(gdprAll("21(2)", "21(3)"), tx(
			"Vastustat suoramarkkinointia: käsittely tähän tarkoitukseen lopetetaan poikkeuksetta (21 artiklan 2 ja 3 kohta).",
			"Du invänder mot direktmarknadsföring: behandlingen för det ändamålet upphör utan undantag (artikel 21.2–21.3).",
			"You object to direct marketing: the processing for it ends, without exception (Art 21(2)-(3))."))
	}
	switch p.LegalBasis {
	case contracts.BasisConsent:
		return no(CodeNotApplicable, gdprAll("21(1)", "7(3)"), tx(
			"Käsittely perustuu suostumukseesi, jonka voit sen sijaan peruuttaa milloin tahansa; käsittely päättyy silloin (7 artiklan 3 kohta). Vastustamisoikeus koskee yleisen edun mukaiseen tehtävään tai oikeutettuun etuun perustuvaa käsittelyä (21 artiklan 1 kohta).",
			"Behandlingen grundar sig på ditt samtycke, som du i stället när som helst kan återkalla; behandlingen upphör då (artikel 7.3). Rätten att göra invändningar gäller behandling som grundar sig på en uppgift av allmänt intresse eller på berättigade intressen (artikel 21.1).",
			"The processing rests on your consent, which you can withdraw at any time instead; the processing then ends (Art 7(3)). The right to object covers processing based on a task in the public interest or on legitimate interests (Art 21(1))."))
	case contracts.BasisPublicTask, contracts.BasisLegitimateInterests:
		if p.ResearchOrStatistics && p.LegalBasis == contracts.BasisPublicTask {
			return no(CodeRefusedException, gdprAll("21(6)", "6(1)(e)"), format(tx(
				"Käsittelyn tarkoitus on %s, ja käsittely on tarpeen yleisen edun mukaisen tehtävän suorittamiseksi, joten vastustamisoikeutta ei sovelleta (21 artiklan 6 kohta).",
				"Uppgifterna behandlas för %s, och behandlingen är nödvändig för att utföra en uppgift av allmänt intresse, och därför gäller inte rätten att göra invändningar (artikel 21.6).",
				"The data are processed for %s, and the processing is necessary for a task carried out in the public interest, so the right to object does not apply (Art 21(6))."), researchPhrase))
		}
		citations := gdprAll("21(1)")
		if p.ResearchOrStatistics {
			citations = append(citations, gdpr("21(6)"))
		}
		return yes(citations, tx(
			"Voit vastustaa käsittelyä erityiseen tilanteeseesi liittyvällä perusteella. Käsittely lopetetaan, ellei rekisterinpitäjä osoita, että käsittelyyn on huomattavan tärkeä ja perusteltu syy, joka syrjäyttää etusi, oikeutesi ja vapautesi, tai että tietoja tarvitaan oikeudellisen vaateen vuoksi (21 artiklan 1 kohta).",
			"Du kan invända mot behandlingen av skäl som har samband med din specifika situation. Behandlingen upphör om inte den personuppgiftsansvarige visar tvingande berättigade skäl som väger tyngre än dina intressen, rättigheter och friheter, eller behöver uppgifterna för rättsliga anspråk (artikel 21.1).",
			"You can object to the processing on grounds relating to your particular situation. The processing ends unless the controller demonstrates compelling legitimate grounds that override your interests, rights and freedoms, or needs the data for legal claims (Art 21(1))."))
	case contracts.BasisContract, contracts.BasisLegalObligation, contracts.BasisVitalInterests:
		return no(CodeNotApplicable, gdprAll("21(1)", string(p.LegalBasis)), format(tx(
			"Vastustamisoikeus koskee vain yleisen edun mukaiseen tehtävään tai oikeutettuun etuun perustuvaa käsittelyä; tämä käsittely perustuu %s (21 artiklan 1 kohta).",
			"Rätten att göra invändningar gäller endast behandling som grundar sig på en uppgift av allmänt intresse eller på berättigade intressen; denna behandling grundar sig på %s (artikel 21.1).",
			"The right to object covers only processing based on a task in the public interest or on legitimate interests; this processing rests on %s (Art 21(1))."),
			basisPhrases[p.LegalBasis]))
	default:
		panic(unvalidated("legal basis", p.LegalBasis))
	}
}

// derogationFlags points the office to the national derogations for research and statistics
// (Art 89(2): Arts 15, 16, 18, 21; Data Protection Act s. 31) and for archiving (Art 89(3): also
// Art 20; s. 32). They apply only where the right would defeat the purpose, which is a judgement
// on the case, so they are flags and never outcomes. See docs/rights-rules.md#research-and-statistics.
func derogationFlags(right contracts.Right, p *contracts.Purpose) []Flag {
	var flags []Flag
	add := func(article string, section contracts.Provision, purpose contracts.Text) {
		cited := tx("89 artiklan "+article[3:4]+" kohta", "artikel 89."+article[3:4], "Art "+article)
		flags = append(flags, Flag{Code: FlagDerogationPossible, Citations: []Citation{gdpr(article), national(section)},
			Evidence: format(tx(
				"Käsittelyn tarkoitus on %s. Kansallinen laki (%s) sallii poiketa tästä oikeudesta, jos se estäisi tarkoituksen tai vaikeuttaisi sitä vakavasti ja suojatoimet ovat käytössä (%s); kirjaamo arvioi asian tapauskohtaisesti. Merkintä ei ratkaise mitään.",
				"Behandlingen sker för %s. Nationell lag (%s) tillåter undantag från denna rättighet om den skulle göra ändamålet omöjligt eller allvarligt försvåra det och skyddsåtgärder finns (%s); registratorskontoret bedömer fallet. Markeringen avgör ingenting.",
				"The purpose is %s. National law (%s) allows derogating from this right where it would make the purpose impossible or seriously impair it and safeguards are in place (%s); the office assesses the case. This flag decides nothing."),
				purpose, provisionRef(section), cited)})
	}
	switch right {
	case contracts.RightAccess, contracts.RightRectification, contracts.RightRestriction, contracts.RightObjection:
		if p.ResearchOrStatistics {
			add("89(2)", researchSection, researchPhrase)
		}
		if p.Archiving {
			add("89(3)", archivingSection, archivingPhrase)
		}
	case contracts.RightPortability:
		if p.Archiving {
			add("89(3)", archivingSection, archivingPhrase)
		}
	case contracts.RightErasure:
		// Art 89 leaves erasure to Art 17(3)(d), which refuses it for these purposes outright
		// (erasureExceptions): no derogation is left to flag.
	default:
		panic(unvalidated("right", right))
	}
	return flags
}
