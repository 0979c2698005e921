package rules

import (
	"fmt"
	"strconv"
	"strings"

	"kirjaamo.dev/contracts"
)

// Helpers that build contracts.Text in Finnish, Swedish and English at once, so that a message is
// written once, with its three translations side by side.

func tx(fi, sv, en string) contracts.Text { return contracts.Text{FI: fi, SV: sv, EN: en} }

func byLanguage(f func(l contracts.Language) string) contracts.Text {
	return contracts.Text{FI: f(contracts.Finnish), SV: f(contracts.Swedish), EN: f(contracts.English)}
}

// format fills each language of pattern with args; an argument that is a contracts.Text is taken in
// the same language.
func format(pattern contracts.Text, args ...any) contracts.Text {
	return byLanguage(func(l contracts.Language) string {
		in := make([]any, len(args))
		for i, a := range args {
			if t, ok := a.(contracts.Text); ok {
				in[i] = t.In(l)
			} else {
				in[i] = a
			}
		}
		return fmt.Sprintf(pattern.In(l), in...)
	})
}

// join joins the non-empty parts with sep, language by language. It sizes the result first: the
// engine joins long texts for every register, and growing a builder was most of its cost.
func join(sep string, parts ...contracts.Text) contracts.Text {
	return byLanguage(func(l contracts.Language) string {
		size, count, last := 0, 0, ""
		for _, p := range parts {
			if s := p.In(l); s != "" {
				size, count, last = size+len(s), count+1, s
			}
		}
		if count < 2 {
			return last
		}
		var b strings.Builder
		b.Grow(size + len(sep)*(count-1))
		for _, p := range parts {
			s := p.In(l)
			if s == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(sep)
			}
			b.WriteString(s)
		}
		return b.String()
	})
}

// list joins texts as a list: "a, b or c" in each language.
func list(items []contracts.Text, or contracts.Text) contracts.Text {
	return byLanguage(func(l contracts.Language) string {
		words := make([]string, len(items))
		for i, it := range items {
			words[i] = it.In(l)
		}
		if len(words) < 2 {
			return strings.Join(words, "")
		}
		return strings.Join(words[:len(words)-1], ", ") + " " + or.In(l) + " " + words[len(words)-1]
	})
}

var (
	or  = tx("tai", "eller", "or")
	and = tx("ja", "och", "and")
)

var identifierNames = map[contracts.IdentifierType]contracts.Text{
	contracts.IdentifierPersonalIdentityCode: tx("henkilötunnus", "personbeteckning", "personal identity code"),
	contracts.IdentifierEmail:                tx("sähköpostiosoite", "e-postadress", "e-mail address"),
	contracts.IdentifierPhone:                tx("puhelinnumero", "telefonnummer", "phone number"),
}

func identifierList(types []contracts.IdentifierType) contracts.Text {
	names := make([]contracts.Text, len(types))
	for i, t := range types {
		names[i] = identifierNames[t]
	}
	return list(names, or)
}

var rightNames = map[contracts.Right]contracts.Text{
	contracts.RightAccess:        tx("oikeus saada pääsy tietoihin", "rätten till tillgång", "right of access"),
	contracts.RightRectification: tx("oikeus tietojen oikaisemiseen", "rätten till rättelse", "right to rectification"),
	contracts.RightErasure:       tx("oikeus tietojen poistamiseen", "rätten till radering", "right to erasure"),
	contracts.RightRestriction:   tx("oikeus käsittelyn rajoittamiseen", "rätten till begränsning av behandlingen", "right to restriction of processing"),
	contracts.RightPortability:   tx("oikeus siirtää tiedot järjestelmästä toiseen", "rätten till dataportabilitet", "right to data portability"),
	contracts.RightObjection:     tx("oikeus vastustaa käsittelyä", "rätten att göra invändningar", "right to object"),
}

// RightName is the name of a right in the three languages.
func RightName(r contracts.Right) contracts.Text { return rightNames[r] }

var codeNames = map[OutcomeCode]contracts.Text{
	CodeOutOfScope:             tx("Ei tietosuoja-asetuksen piirissä", "Utanför dataskyddsförordningens tillämpningsområde", "Outside the scope of the GDPR"),
	CodeNotDataSubject:         tx("Pyytäjä ei ole rekisteröity eikä tämän valtuutettu edustaja", "Den som begär är inte den registrerade eller dennes ombud", "Not the data subject or an authorised representative"),
	CodeNoPersonalData:         tx("Rekisterissä ei ole henkilötietoja", "Registret innehåller inga personuppgifter", "The register holds no personal data"),
	CodeIdentityNotEstablished: tx("Henkilöllisyyttä ei voitu varmistaa", "Identiteten kunde inte fastställas", "Identity not established"),
	CodeWaitingForIdentity:     tx("Odottaa henkilöllisyyden varmistamista", "Väntar på att identiteten bekräftas", "Waiting for identity"),
	CodeCannotIdentify:         tx("Rekisterinpitäjä ei pysty tunnistamaan rekisteröityä", "Den personuppgiftsansvarige kan inte identifiera den registrerade", "The controller cannot identify the data subject"),
	CodeRestrictedByLaw:        tx("Oikeutta on rajoitettu lailla", "Rättigheten är begränsad genom lag", "Restricted by law"),
	CodePartiallyRestricted:    tx("Oikeutta on rajoitettu lailla osittain", "Rättigheten är delvis begränsad genom lag", "Partially restricted by law"),
	CodeNotApplicable:          tx("Oikeutta ei sovelleta", "Rättigheten är inte tillämplig", "The right does not apply"),
	CodeRefusedException:       tx("Evätty asetuksen poikkeuksen perusteella", "Avslås med stöd av ett undantag i förordningen", "Refused under an exception"),
	CodePartiallyApplicable:    tx("Oikeus koskee osaa tiedoista", "Rättigheten gäller en del av uppgifterna", "The right applies to part of the data"),
	CodeDispatch:               tx("Välitetty rekisterille", "Skickad till registret", "Sent to the register"),
	CodeReferToController:      tx("Siirretty rekisterinpitäjän käsiteltäväksi", "Överlämnad till den personuppgiftsansvarige", "Referred to the controller"),
	CodeGranted:                tx("Toteutettu", "Beviljad", "Granted"),
	CodePartiallyGranted:       tx("Toteutettu osittain", "Delvis beviljad", "Partially granted"),
	CodeNoDataHeld:             tx("Tietoja ei ole", "Inga uppgifter finns", "No data held"),
	CodeApplied:                tx("Toteutettu rekisterissä", "Genomförd i registret", "Carried out"),
	CodeRefusedByRegister:      tx("Rekisterinpitäjä epäsi pyynnön", "Den personuppgiftsansvarige avslog begäran", "Refused by the controller"),
	CodePending:                tx("Odottaa rekisterin vastausta", "Väntar på registrets svar", "Waiting for the register's answer"),
}

// CodeName is the name of an outcome code in the three languages.
func CodeName(c OutcomeCode) contracts.Text { return codeNames[c] }

// remedies is the part of the Art 12(4) notice that follows the reasons: where to complain, and the
// right to go to court.
var remedies = tx(
	"Jos katsot, että henkilötietojesi käsittelyssä rikotaan tietosuoja-asetusta, voit tehdä valituksen valvontaviranomaiselle, Suomessa tietosuojavaltuutetulle (77 artikla), ja hakea muutosta tuomioistuimelta (79 artikla). (Tietosuoja-asetuksen 12 artiklan 4 kohta)",
	"Om du anser att behandlingen av dina personuppgifter strider mot dataskyddsförordningen kan du lämna in ett klagomål till tillsynsmyndigheten, i Finland dataombudsmannen (artikel 77), och söka rättslig prövning i domstol (artikel 79). (Dataskyddsförordningen artikel 12.4)",
	"If you consider that the processing of your personal data infringes the GDPR, you may lodge a complaint with the supervisory authority, in Finland the Data Protection Ombudsman (Art 77), and seek a judicial remedy before a court (Art 79). (GDPR Art 12(4))")

// newNotice is a copy of the remedies for one outcome, so that no caller can change another's.
func newNotice() *contracts.Text {
	n := remedies
	return &n
}

var basisPhrases = map[contracts.LegalBasis]contracts.Text{
	contracts.BasisConsent:             tx("suostumukseesi", "ditt samtycke", "your consent"),
	contracts.BasisContract:            tx("sopimukseen", "ett avtal", "a contract"),
	contracts.BasisLegalObligation:     tx("lakisääteiseen velvoitteeseen", "en rättslig förpliktelse", "a legal obligation"),
	contracts.BasisVitalInterests:      tx("elintärkeiden etujen suojaamiseen", "grundläggande intressen", "vital interests"),
	contracts.BasisPublicTask:          tx("yleisen edun mukaiseen tehtävään", "en uppgift av allmänt intresse", "a task in the public interest"),
	contracts.BasisLegitimateInterests: tx("oikeutettuun etuun", "berättigade intressen", "legitimate interests"),
}

var (
	researchPhrase  = tx("tieteellinen tai historiallinen tutkimus tai tilastointi", "vetenskapliga eller historiska forskningsändamål eller statistiska ändamål", "scientific or historical research or statistics")
	archivingPhrase = tx("yleisen edun mukainen arkistointi", "arkivändamål av allmänt intresse", "archiving in the public interest")
)

// lawList names the acts a purpose's basis is laid down in: "Act on Electronic Prescriptions
// (Act 61/2007)".
func lawList(laws []contracts.Provision) contracts.Text {
	items := make([]contracts.Text, len(laws))
	for i, p := range laws {
		items[i] = format(tx("%s (%s)", "%s (%s)", "%s (%s)"), p.Name, provisionRef(p))
	}
	return list(items, and)
}

// provisionRef cites a provision as each language writes it: "1050/2018, 34 §" in Finnish and
// Swedish, "Act 1050/2018 s. 34" (Provision.Ref) in English.
func provisionRef(p contracts.Provision) contracts.Text {
	nordic := p.Act
	if p.Section != "" {
		nordic += ", " + p.Section + " §"
	}
	return tx(nordic, nordic, p.Ref())
}

// retentionList says how long each category of a purpose is kept.
func retentionList(p *contracts.Purpose) contracts.Text {
	items := make([]contracts.Text, 0, len(p.Retention))
	for _, r := range p.Retention {
		name := tx(r.Category, r.Category, r.Category)
		if c, ok := p.Category(r.Category); ok {
			name = c.Name
		}
		period := durationText(r.Period)
		if r.Period == "" && r.Criteria != nil {
			period = *r.Criteria
		}
		items = append(items, format(tx("%s: %s (alkaen: %s)", "%s: %s (räknat från: %s)", "%s: %s (from: %s)"), name, period, r.Trigger))
	}
	return join("; ", items...)
}

var durationUnits = []struct {
	unit                                        byte
	fiOne, fiMany, svOne, svMany, enOne, enMany string
}{
	{'Y', "vuosi", "vuotta", "år", "år", "year", "years"},
	{'M', "kuukausi", "kuukautta", "månad", "månader", "month", "months"},
	{'W', "viikko", "viikkoa", "vecka", "veckor", "week", "weeks"},
	{'D', "päivä", "päivää", "dag", "dagar", "day", "days"},
}

// durationText renders a validated ISO 8601 duration, or "permanent", in words.
func durationText(period string) contracts.Text {
	if period == contracts.RetentionPermanent {
		return tx("pysyvästi", "permanent", "permanently")
	}
	rest := strings.TrimPrefix(period, "P")
	var fi, sv, en []string
	for _, u := range durationUnits {
		i := strings.IndexByte(rest, u.unit)
		if i < 0 {
			continue
		}
		n, _ := strconv.Atoi(rest[:i])
		rest = rest[i+1:]
		one := n == 1
		fi = append(fi, strconv.Itoa(n)+" "+pick(one, u.fiOne, u.fiMany))
		sv = append(sv, strconv.Itoa(n)+" "+pick(one, u.svOne, u.svMany))
		en = append(en, strconv.Itoa(n)+" "+pick(one, u.enOne, u.enMany))
	}
	return tx(strings.Join(fi, " "), strings.Join(sv, " "), strings.Join(en, " "))
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}
