package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules/deadline"
)

// Evaluate decides what happens to a request at one register, from the register's declaration alone.
// It returns an error only for invalid input: a *contracts.ValidationError naming the request's
// fields, or the declaration's under "declaration.". Any valid input gives a cited outcome.
func Evaluate(req Request, decl *contracts.Declaration) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	ve := &contracts.ValidationError{}
	checkDeclaration(ve, "declaration", decl)
	if err := ve.OrNil(); err != nil {
		return Outcome{}, err
	}
	return evaluate(&req, decl, excessiveFlags(&req)), nil
}

// EvaluateAll evaluates one request against many registers, in the order given. If any declaration
// is invalid it returns no outcomes and a *contracts.ValidationError naming "declarations[i]...".
func EvaluateAll(req Request, decls []contracts.Declaration) ([]Outcome, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ve := &contracts.ValidationError{}
	for i := range decls {
		checkDeclaration(ve, fmt.Sprintf("declarations[%d]", i), &decls[i])
	}
	if err := ve.OrNil(); err != nil {
		return nil, err
	}
	// The Art 12(5) flag depends on the request alone: judged once, shown at every register.
	flags := excessiveFlags(&req)
	out := make([]Outcome, len(decls))
	for i := range decls {
		out[i] = evaluate(&req, &decls[i], flags)
	}
	return out, nil
}

// checkDeclaration runs the declaration's legal checks (CheckRules), which are cheap enough for every
// evaluation; its structural checks ran when the catalogue accepted the version.
func checkDeclaration(ve *contracts.ValidationError, prefix string, decl *contracts.Declaration) {
	if decl == nil {
		ve.Add(prefix, "required", "is required")
		return
	}
	if decl.RegisterID == "" {
		ve.Add(prefix+".register_id", "required", "is required")
	}
	if err := decl.CheckRules(); err != nil {
		inner, _ := contracts.AsValidationError(err)
		for _, f := range inner.Fields {
			ve.Add(prefix+"."+f.Field, f.Rule, f.Message)
		}
	}
}

// unvalidated is the panic for a value that reached a gate without passing validation. Evaluate
// validates the request and the declaration before any gate runs, and every switch over their
// enumerations names each member (make exhaustive), so it marks a bug in the engine, never a
// request to judge.
func unvalidated(what string, value any) string {
	return fmt.Sprintf("rules: %s %q reached a gate unvalidated", what, value)
}

func evaluate(req *Request, decl *contracts.Declaration, flags []Flag) Outcome {
	out := decide(req, decl, flags)
	out.RegisterID, out.Right = decl.RegisterID, req.Right
	settleNotice(&out)
	return out
}

// decide runs the gates in order; the first that fails decides (docs/rights-rules.md#gates-in-order).
// The substance and follow-up gates come after the register answers, in Conclude.
func decide(req *Request, decl *contracts.Declaration, flags []Flag) Outcome {
	// Gate 1, scope: docs/rights-rules.md#gate-1-scope.
	if req.Requester.SubjectDeceased {
		return Outcome{Code: CodeOutOfScope, Citations: gdprAll("Recital 27", "4(1)"), Explanation: tx(
			"Tietosuoja-asetus suojaa vain elossa olevia henkilöitä (johdanto-osan 27 perustelukappale), joten kuolleen henkilön puolesta ei voi käyttää asetuksen mukaisia oikeuksia. Omaisten tiedonsaannista voidaan säätää muissa laeissa; kirjaamo neuvoo tarvittaessa.",
			"Dataskyddsförordningen skyddar endast levande personer (skäl 27), och rättigheterna enligt den kan inte utövas för en avliden person. Andra lagar kan ge anhöriga rätt att få vissa uppgifter; registratorskontoret ger råd vid behov.",
			"The GDPR protects living persons only (Recital 27), so its rights cannot be exercised for a deceased person. Other laws may give relatives access to some records; the registry office can advise.")}
	}
	if !req.Requester.actsForSubject(req.Right) {
		return Outcome{Code: CodeNotDataSubject, Citations: gdprAll("4(1)", "15(1)"), Explanation: tx(
			"Pyyntöä ei ole tehnyt rekisteröity itse eikä edustaja, jonka varmennettu valtuutus kattaa tämän oikeuden. Siksi emme vahvista emmekä kiistä, onko rekisterissä kenenkään tietoja. Edustaja voi osoittaa valtuutuksensa Suomi.fi-valtuuksilla.",
			"Begäran har inte gjorts av den registrerade själv eller av ett ombud vars verifierade fullmakt omfattar denna rättighet. Vi varken bekräftar eller förnekar därför att registret innehåller uppgifter om någon. Ett ombud kan visa sin fullmakt med Suomi.fi-fullmakter.",
			"The request was not made by the data subject, or by a representative whose verified mandate covers this right. We therefore neither confirm nor deny that the register holds data on anyone. A representative can show a mandate through Suomi.fi e-Authorizations.")}
	}
	// A register of anonymous information is answered before identity is asked for: saying that a
	// register holds no personal data tells nobody anything about a person
	// (docs/rights-rules.md#registers-without-personal-data).
	if decl.NoPersonalData {
		return noPersonalData(decl)
	}
	// Gate 2, identity: docs/rights-rules.md#gate-2-identity.
	if req.IdentityFailed {
		return Outcome{Code: CodeIdentityNotEstablished, Citations: gdprAll("12(6)", "12(2)"), Explanation: tx(
			"Henkilöllisyyttäsi ei voitu varmistaa, joten pyyntöä ei voida toteuttaa (12 artiklan 2 ja 6 kohta). Voit tehdä pyynnön uudelleen ja varmistaa henkilöllisyytesi.",
			"Din identitet kunde inte fastställas, och därför kan begäran inte verkställas (artikel 12.2 och 12.6). Du kan göra en ny begäran och bekräfta din identitet.",
			"Your identity could not be established, so the request cannot be acted on (Art 12(2), 12(6)). You may make the request again and confirm your identity.")}
	}
	if need := RequiredIdentity(decl); !req.IdentityLevel.AtLeast(need) {
		return waitingForIdentity(decl, need)
	}
	// Gate 3, abuse, was judged by the caller once per request: flags, never a refusal. They are
	// added below, copied, so that no two outcomes share them (docs/rights-rules.md#gate-3-abuse).
	// Gate 4, identifiability: docs/rights-rules.md#gate-4-identifiability-art-11.
	usable := usableIdentifiers(req.Supplied, decl)
	var out Outcome
	if len(usable) == 0 {
		out = identifiability(req, decl)
	} else {
		out = byPurpose(req, decl, usable)
	}
	if len(flags) > 0 {
		out.Flags = append(slices.Clone(flags), out.Flags...)
	}
	return out
}

func noPersonalData(decl *contracts.Declaration) Outcome {
	// Built in one join, so that the long description is copied once per language.
	parts := []contracts.Text{tx("Rekisteri ”", "Registret ”", "The register “"), decl.Name, tx(
		"” sisältää vain anonyymejä tietoja, jotka eivät ole henkilötietoja (johdanto-osan 26 perustelukappale). ",
		"” innehåller endast anonyma uppgifter, som inte är personuppgifter (skäl 26). ",
		"” holds only anonymous information, which is not personal data (Recital 26). "),
		decl.Description, tx(
			" Rekisteröidyn oikeuksilla ei siksi ole tässä rekisterissä kohdetta.",
			" Den registrerades rättigheter har därför inget att tillämpas på i detta register.",
			" The rights of data subjects therefore have nothing to act on in this register.")}
	for _, ds := range decl.ClosedDatasets {
		parts = append(parts, tx("\nAiempi aineisto – ", "\nTidigare dataset – ", "\nEarlier dataset – "), ds.Name, colon, ds.Description)
	}
	return Outcome{Code: CodeNoPersonalData, Citations: gdprAll("Recital 26", "4(1)"), Explanation: join("", parts...)}
}

var colon = tx(": ", ": ", ": ")

// waitingForIdentity asks for the identity level the register's data call for
// (docs/rights-rules.md#gate-2-identity).
func waitingForIdentity(decl *contracts.Declaration, need IdentityLevel) Outcome {
	out := Outcome{Code: CodeWaitingForIdentity, Citations: gdprAll("12(6)", "Recital 64")}
	if need == IdentityBasic {
		out.Explanation = tx(
			"Vahvista ensin henkilöllisyytesi: varmenna kertakoodilla sähköpostiosoite tai puhelinnumero, jolla rekisteri sinut tuntee (12 artiklan 6 kohta, johdanto-osan 64 perustelukappale).",
			"Bekräfta först din identitet: verifiera den e-postadress eller det telefonnummer som registret känner dig under med en engångskod (artikel 12.6, skäl 64).",
			"Confirm your identity first: verify the e-mail address or phone number the register knows you by with a one-time code (Art 12(6), Recital 64).")
		return out
	}
	holds := tx("henkilötunnuksella yksilöityjä tietoja", "uppgifter som identifieras med personbeteckning", "data kept under the personal identity code")
	for _, p := range decl.Purposes {
		if p.SpecialCategory.Special() {
			holds = tx("erityisiin henkilötietoryhmiin kuuluvia tietoja, kuten terveystietoja", "särskilda kategorier av personuppgifter, såsom hälsouppgifter", "special categories of data, such as health data")
			break
		}
	}
	out.Explanation = format(tx(
		"Rekisteri ”%s” sisältää %s, joten henkilöllisyytesi on ensin varmistettava vahvalla sähköisellä tunnistautumisella (12 artiklan 6 kohta, johdanto-osan 64 perustelukappale). Tunnistaudu verkkopankkitunnuksilla, mobiilivarmenteella tai henkilökortilla; muuta sinulta ei pyydetä.",
		"Registret ”%s” innehåller %s, och därför måste din identitet först bekräftas med stark elektronisk identifiering (artikel 12.6, skäl 64). Identifiera dig med nätbankskoder, mobilcertifikat eller id-kort; inget annat begärs av dig.",
		"The register “%s” holds %s, so your identity must first be confirmed by strong electronic identification (Art 12(6), Recital 64). Sign in with online banking codes, a mobile certificate or an identity card; nothing else is asked of you."),
		decl.Name, holds)
	return out
}

// usableIdentifiers are the verified identifiers of the request that the register can find data by.
func usableIdentifiers(supplied []contracts.IdentifierType, decl *contracts.Declaration) []contracts.IdentifierType {
	var out []contracts.IdentifierType
	for _, t := range decl.IdentifierTypes() {
		if slices.Contains(supplied, t) {
			out = append(out, t)
		}
	}
	return out
}

// identifiability is gate 4 when no supplied identifier lets the register search. Art 11(2) covers
// Art 15 to 20 only: an objection (Art 21) to an unlinkable register is not refused for it, but
// waits for an identifier like a request to any other register. See
// docs/rights-rules.md#gate-4-identifiability-art-11.
func identifiability(req *Request, decl *contracts.Declaration) Outcome {
	possible := decl.IdentifierTypes()
	reason := contracts.Text{}
	if decl.Identification.Reason != nil {
		reason = *decl.Identification.Reason
	}
	unlinkable := decl.Identification.Level == contracts.RegisterUnlinkable
	switch {
	case unlinkable && coveredByArticle11(req.Right):
		addable := tx(
			"Mikään lisäämäsi tieto ei auttaisi rekisterinpitäjää tunnistamaan sinua.",
			"Inget du kan lägga till skulle hjälpa den personuppgiftsansvarige att identifiera dig.",
			"Nothing you could add would let the controller identify you.")
		if len(possible) > 0 {
			addable = format(tx(
				"Jos lisäät ja varmennat seuraavan tunnisteen, rekisteristä voidaan hakea siihen liitetyt tiedot ja pyyntösi käsitellään: %s.",
				"Om du lägger till och verifierar följande kan registret söka uppgifter som är kopplade till det, och din begäran behandlas: %s.",
				"If you add and verify the following, the register can search for data linked to it, and your request will be handled: %s."),
				identifierList(possible))
		}
		return Outcome{Code: CodeCannotIdentify, Identifiers: possible, Citations: gdprAll("11(2)", "12(2)"), Explanation: join(" ", reason, tx(
			"Koska rekisterinpitäjä ei pysty tunnistamaan sinua, oikeutta saada pääsy tietoihin, oikaista tai poistaa niitä, rajoittaa niiden käsittelyä tai siirtää ne järjestelmästä toiseen (15–20 artikla) ei sovelleta (11 artiklan 2 kohta).",
			"Eftersom den personuppgiftsansvarige inte kan identifiera dig tillämpas inte rätten till tillgång, rättelse, radering, begränsning eller dataportabilitet (artiklarna 15–20) (artikel 11.2).",
			"Because the controller cannot identify you, the rights of access, rectification, erasure, restriction and portability (Art 15-20) do not apply (Art 11(2))."), addable)}
	case len(possible) == 0:
		return Outcome{Code: CodeCannotIdentify, Citations: gdprAll("11(1)", "21(1)"), Explanation: join(" ", reason, tx(
			"Tietosuoja-asetuksen 11 artiklan 2 kohta ei rajoita oikeutta vastustaa käsittelyä (21 artikla), mutta rekisterissä ei ole mitään, jonka avulla tietosi voitaisiin löytää, eikä mikään lisäämäsi tieto muuttaisi tätä (11 artiklan 1 kohta). Vastustukselle ei siksi ole kohdetta.",
			"Artikel 11.2 begränsar inte rätten att göra invändningar (artikel 21), men registret innehåller inget som dina uppgifter kan hittas med, och inget du kan lägga till skulle ändra det (artikel 11.1). Invändningen har därför inga uppgifter om dig att tillämpas på.",
			"Art 11(2) does not limit the right to object (Art 21), but the register holds nothing by which your data could be found, and nothing you could add would change that (Art 11(1)). The objection therefore has no data of yours to act on."))}
	}
	out := Outcome{Code: CodeWaitingForIdentity, Identifiers: possible, Citations: gdprAll("12(6)"), Explanation: format(tx(
		"Rekisteri ”%s” löytää tiedot vain seuraavalla tunnisteella: %s. Lisää ja varmenna se, niin rekisteristä haetaan tietosi; sinulta pyydetään vain sitä, mikä tarvitaan tietojen löytämiseen (12 artiklan 6 kohta).",
		"Registret ”%s” hittar uppgifter endast med följande: %s. Lägg till och verifiera det, så söks registret; endast det som behövs för att hitta dina uppgifter begärs (artikel 12.6).",
		"The register “%s” finds data only by the following: %s. Add and verify it, and the register will be searched; only what is needed to find your data is asked for (Art 12(6))."),
		decl.Name, identifierList(possible))}
	if unlinkable {
		out.Citations = append(out.Citations, gdpr("11(2)"), gdpr("21(1)"))
		out.Explanation = join(" ", reason, out.Explanation, tx(
			"Tietosuoja-asetuksen 11 artiklan 2 kohta ei rajoita oikeutta vastustaa käsittelyä (21 artikla), joten vastustus käsitellään, kun tietosi voidaan löytää.",
			"Artikel 11.2 begränsar inte rätten att göra invändningar (artikel 21), så invändningen behandlas när dina uppgifter kan hittas.",
			"Art 11(2) does not limit the right to object (Art 21), so the objection will be handled once your data can be found."))
	}
	return out
}

// coveredByArticle11 reports whether Art 11(2) lifts the right where the controller cannot identify
// the subject: it names Art 15 to 20, and not the right to object (Art 21).
func coveredByArticle11(right contracts.Right) bool {
	switch right {
	case contracts.RightAccess, contracts.RightRectification, contracts.RightErasure, contracts.RightRestriction,
		contracts.RightPortability:
		return true
	case contracts.RightObjection:
		return false
	default:
		panic(unvalidated("right", right))
	}
}

// byPurpose runs gates 5 and 6 for each purpose and combines them. A register's purposes keep
// different data for different reasons, so the right reaches each purpose's data on its own
// (docs/rights-rules.md#several-purposes):
//
//   - every purpose: dispatch (partially_restricted if national law holds part of it back);
//   - some purposes: partially_applicable, dispatched for those named in Outcome.Purposes, with the
//     reasons for the rest in the explanation and the Art 12(4) notice due for them;
//   - none: the code of the most specific ground any purpose gives, restricted_by_law before
//     refused_exception before not_applicable, with every purpose's citations and reasons.
func byPurpose(req *Request, decl *contracts.Declaration, usable []contracts.IdentifierType) Outcome {
	verdicts := make([]verdict, len(decl.Purposes))
	applying, partial := 0, false
	for i := range decl.Purposes {
		verdicts[i] = judgePurpose(req, &decl.Purposes[i])
		if verdicts[i].applies {
			applying++
			partial = partial || verdicts[i].partial
		}
	}
	size := 1 // room for the citation that settleNotice or a referral may add
	for _, v := range verdicts {
		size += len(v.citations)
	}
	out := Outcome{Citations: make([]Citation, 0, size)}
	for _, v := range verdicts {
		out.Citations = addCitations(out.Citations, v.citations...)
		out.Flags = addFlags(out.Flags, v.flags...)
	}
	out.Explanation = purposeReasons(verdicts)
	switch {
	case applying == len(verdicts) && partial:
		out.Code = CodePartiallyRestricted
	case applying == len(verdicts):
		out.Code = CodeDispatch
	case applying > 0:
		out.Code = CodePartiallyApplicable
		out.Explanation = join("\n", tx("Oikeus koskee osaa rekisterin tiedoista:", "Rättigheten gäller en del av registrets uppgifter:", "The right applies to part of the register's data:"), out.Explanation)
	default:
		out.Code = weightiest(verdicts)
	}
	if req.Right == contracts.RightErasure && out.Code != CodeDispatch {
		out.Explanation = join("\n", out.Explanation, tx(
			"Jos sinua koskevat tiedot ovat virheellisiä, voit pyytää niiden oikaisemista (16 artikla).",
			"Om uppgifter om dig är felaktiga kan du begära att de rättas (artikel 16).",
			"If data about you are inaccurate, you can ask for them to be rectified (Art 16)."))
	}
	if applying == 0 {
		return out
	}
	op, err := contracts.OperationFor(req.Right)
	if err != nil {
		panic(unvalidated("right", req.Right))
	}
	out.NoticeDue = out.Code != CodeDispatch
	out.Operation = op
	out.Identifiers = usable
	for _, v := range verdicts {
		if v.applies {
			out.Purposes = append(out.Purposes, v.purpose.ID)
		}
	}
	out.FollowUps = followUps(req.Right, decl, verdicts)
	// docs/rights-rules.md#referral-to-the-controller
	if !decl.Supports(out.Operation) {
		out.Code = CodeReferToController
		out.Citations = addCitations(out.Citations, gdpr("12(3)"))
		out.Explanation = join("\n", out.Explanation, format(tx(
			"Oikeus on sovellettavissa, mutta rekisteri ”%s” ei toteuta tätä toimenpidettä Kirjaamon kautta. Pyyntö on siirretty rekisterinpitäjän käsiteltäväksi, ja siihen vastataan samassa määräajassa (12 artiklan 3 kohta).",
			"Rättigheten gäller, men registret ”%s” utför inte denna åtgärd via Kirjaamo. Begäran har överlämnats till den personuppgiftsansvarige och besvaras inom samma tidsfrist (artikel 12.3).",
			"The right applies, but the register “%s” does not carry out this operation through Kirjaamo. The request has been referred to the controller and is answered within the same deadline (Art 12(3))."),
			decl.Name))
	}
	out.Dispatch = out.Code.dispatches()
	return out
}

// purposeReasons is each purpose's reason, prefixed with the purpose's name where the purposes'
// reasons differ; identical reasons are said once.
func purposeReasons(verdicts []verdict) contracts.Text {
	var unique []contracts.Text
	for _, v := range verdicts {
		if !slices.Contains(unique, v.reason) {
			unique = append(unique, v.reason)
		}
	}
	if len(unique) == 1 {
		return unique[0]
	}
	lines := make([]contracts.Text, len(verdicts))
	for i, v := range verdicts {
		lines[i] = format(tx("%s: %s", "%s: %s", "%s: %s"), v.purpose.Name, v.reason)
	}
	return join("\n", lines...)
}

func weightiest(verdicts []verdict) OutcomeCode {
	for _, code := range []OutcomeCode{CodeRestrictedByLaw, CodeRefusedException} {
		for _, v := range verdicts {
			if v.code == code {
				return code
			}
		}
	}
	return CodeNotApplicable
}

// followUps are the obligations that follow the effect (docs/rights-rules.md#follow-ups): Art 19
// covers rectification, erasure and restriction, and a restriction is lifted only after the
// Art 18(3) notice.
func followUps(right contracts.Right, decl *contracts.Declaration, verdicts []verdict) []FollowUp {
	switch right {
	case contracts.RightRectification, contracts.RightErasure:
		return notifyRecipients(decl, verdicts)
	case contracts.RightRestriction:
		return append(notifyRecipients(decl, verdicts), FollowUp{Kind: FollowUpLiftNotice, Citation: gdpr("18(3)")})
	case contracts.RightAccess, contracts.RightPortability, contracts.RightObjection:
		return nil
	default:
		panic(unvalidated("right", right))
	}
}

// notifyRecipients is the Art 19 follow-up, naming the recipients declared for the purposes the right
// reaches, when there are any or the register can list them.
func notifyRecipients(decl *contracts.Declaration, verdicts []verdict) []FollowUp {
	var recipients []contracts.Text
	for _, v := range verdicts {
		if !v.applies {
			continue
		}
		for _, r := range v.purpose.Recipients {
			if !slices.Contains(recipients, r.Name) {
				recipients = append(recipients, r.Name)
			}
		}
	}
	if len(recipients) == 0 && !decl.Supports(contracts.OpListRecipients) {
		return nil
	}
	return []FollowUp{{Kind: FollowUpNotifyRecipients, Citation: gdpr("19"), Recipients: recipients}}
}

// The Art 12(5) flag: a request is possibly excessive when the same subject asked for the same right
// ExcessiveCount or more times in the ExcessiveWindow before it, or at all in the RepeatWindow before
// it (while the earlier request is likely still open). Recital 63 speaks of "reasonable intervals";
// these thresholds only decide what a person looks at. See
// docs/procedure.md#repeated-and-excessive-requests.
const (
	ExcessiveWindow = 365 * 24 * time.Hour
	ExcessiveCount  = 3
	RepeatWindow    = 30 * 24 * time.Hour
)

func excessiveFlags(req *Request) []Flag {
	var earlier []string
	repeat := false
	for _, p := range req.History {
		if p.Right != req.Right || !p.ReceivedAt.Before(req.ReceivedAt) {
			continue
		}
		age := req.ReceivedAt.Sub(p.ReceivedAt)
		if age > ExcessiveWindow {
			continue
		}
		earlier = append(earlier, deadline.Date(p.ReceivedAt).Format(time.DateOnly))
		repeat = repeat || age <= RepeatWindow
	}
	if len(earlier) < ExcessiveCount && !repeat {
		return nil
	}
	slices.Sort(earlier)
	return []Flag{{Code: FlagPossiblyExcessive, Citations: gdprAll("12(5)", "Recital 63"), Evidence: format(tx(
		"Samaa oikeutta koskevia aiempia pyyntöjä 12 kuukauden aikana ennen tätä pyyntöä: %d (%s). Rekisterinpitäjän on osoitettava, että pyyntö on ilmeisen perusteeton tai kohtuuton, ennen kuin se perii maksun tai kieltäytyy, ja rekisteröityä varoitetaan ensin (12 artiklan 5 kohta, johdanto-osan 63 perustelukappale). Merkintä ei ratkaise mitään.",
		"Tidigare begäranden om samma rättighet under de 12 månaderna före denna: %d (%s). Den personuppgiftsansvarige måste visa att begäran är uppenbart ogrundad eller orimlig innan en avgift tas ut eller begäran avslås, och den registrerade varnas först (artikel 12.5, skäl 63). Markeringen avgör ingenting.",
		"Earlier requests for the same right in the 12 months before this one: %d (%s). The controller must show that the request is manifestly unfounded or excessive before charging a fee or refusing, and warns the subject first (Art 12(5), Recital 63). This flag decides nothing."),
		len(earlier), strings.Join(earlier, ", "))}}
}

func addFlags(list []Flag, more ...Flag) []Flag {
	for _, f := range more {
		if !slices.ContainsFunc(list, func(g Flag) bool { return g.Code == f.Code && g.Citations[0].Ref == f.Citations[0].Ref }) {
			list = append(list, f)
		}
	}
	return list
}

// settleNotice adds the Art 12(4) notice to every outcome that does not act on the request as asked;
// one that does carries it only if a part was held back, as the gate that held it back decided.
// See docs/rights-rules.md#the-no-action-notice.
func settleNotice(out *Outcome) {
	if !traits[out.Code].actsAsAsked {
		out.NoticeDue = true
	}
	if !out.NoticeDue {
		out.Notice = nil
		return
	}
	out.Citations = addCitations(out.Citations, gdpr("12(4)"))
	out.Notice = newNotice()
}
