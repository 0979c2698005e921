package rules

import (
	"fmt"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
)

// gdprLabels are the short labels of the GDPR provisions the engine cites, keyed as cited:
// "17(3)(b)" is Article 17(3)(b), "Recital 27" a recital.
var gdprLabels = map[string]contracts.Text{
	"Recital 26": {FI: "Anonyymit tiedot eivät ole henkilötietoja", SV: "Anonyma uppgifter är inte personuppgifter", EN: "Anonymous information is not personal data"},
	"Recital 27": {FI: "Asetusta ei sovelleta kuolleisiin", SV: "Förordningen gäller inte avlidna", EN: "The Regulation does not apply to deceased persons"},
	"Recital 63": {FI: "Tarkastusoikeus kohtuullisin väliajoin", SV: "Rätt till tillgång med rimliga mellanrum", EN: "Access at reasonable intervals"},
	"Recital 64": {FI: "Henkilöllisyyden kohtuullinen varmistaminen", SV: "Rimliga åtgärder för att kontrollera identiteten", EN: "Reasonable measures to verify identity"},
	"4(1)":       {FI: "Henkilötiedot ja rekisteröity", SV: "Personuppgifter och den registrerade", EN: "Personal data and the data subject"},
	"6(1)(a)":    {FI: "Oikeusperuste: suostumus", SV: "Rättslig grund: samtycke", EN: "Legal basis: consent"},
	"6(1)(b)":    {FI: "Oikeusperuste: sopimus", SV: "Rättslig grund: avtal", EN: "Legal basis: contract"},
	"6(1)(c)":    {FI: "Oikeusperuste: lakisääteinen velvoite", SV: "Rättslig grund: rättslig förpliktelse", EN: "Legal basis: legal obligation"},
	"6(1)(d)":    {FI: "Oikeusperuste: elintärkeät edut", SV: "Rättslig grund: grundläggande intressen", EN: "Legal basis: vital interests"},
	"6(1)(e)":    {FI: "Oikeusperuste: yleisen edun mukainen tehtävä tai julkisen vallan käyttö", SV: "Rättslig grund: uppgift av allmänt intresse eller myndighetsutövning", EN: "Legal basis: public task"},
	"6(1)(f)":    {FI: "Oikeusperuste: oikeutettu etu", SV: "Rättslig grund: berättigat intresse", EN: "Legal basis: legitimate interests"},
	"7(3)":       {FI: "Suostumuksen peruuttaminen", SV: "Återkallande av samtycke", EN: "Withdrawal of consent"},
	"11(1)":      {FI: "Lisätietoja ei tarvitse hankkia pelkästään tunnistamista varten", SV: "Ingen skyldighet att skaffa ytterligare uppgifter enbart för identifiering", EN: "No duty to acquire information solely to identify"},
	"11(2)":      {FI: "Käsittely, joka ei edellytä tunnistamista", SV: "Behandling som inte kräver identifiering", EN: "Processing that does not require identification"},
	"12(2)":      {FI: "Oikeuksien käytön helpottaminen", SV: "Underlätta utövandet av rättigheterna", EN: "Facilitating the exercise of rights"},
	"12(3)":      {FI: "Vastaus kuukauden kuluessa", SV: "Svar inom en månad", EN: "Reply within one month"},
	"12(4)":      {FI: "Ilmoitus, kun pyyntöä ei toteuteta", SV: "Underrättelse när begäran inte verkställs", EN: "Notice when no action is taken"},
	"12(5)":      {FI: "Ilmeisen perusteettomat tai kohtuuttomat pyynnöt", SV: "Uppenbart ogrundade eller orimliga begäranden", EN: "Manifestly unfounded or excessive requests"},
	"12(6)":      {FI: "Henkilöllisyyden vahvistaminen", SV: "Bekräftelse av identitet", EN: "Confirming identity"},
	"15(1)":      {FI: "Oikeus saada pääsy tietoihin", SV: "Rätt till tillgång", EN: "Right of access"},
	"15(1)(c)":   {FI: "Tiedot vastaanottajista", SV: "Uppgift om mottagare", EN: "Information on recipients"},
	"15(1)(h)":   {FI: "Tiedot automaattisista päätöksistä", SV: "Uppgift om automatiserat beslutsfattande", EN: "Information on automated decisions"},
	"15(2)":      {FI: "Siirrot kolmansiin maihin", SV: "Överföring till tredjeland", EN: "Transfers to third countries"},
	"15(3)":      {FI: "Jäljennös tiedoista", SV: "Kopia av uppgifterna", EN: "Copy of the data"},
	"15(4)":      {FI: "Muiden oikeudet ja vapaudet", SV: "Andras rättigheter och friheter", EN: "Rights and freedoms of others"},
	"16":         {FI: "Oikeus tietojen oikaisemiseen", SV: "Rätt till rättelse", EN: "Right to rectification"},
	"17(1)(a)":   {FI: "Poisto: tietoja ei enää tarvita", SV: "Radering: uppgifterna behövs inte längre", EN: "Erasure: no longer necessary"},
	"17(1)(b)":   {FI: "Poisto: suostumus peruutettu", SV: "Radering: samtycket återkallat", EN: "Erasure: consent withdrawn"},
	"17(1)(c)":   {FI: "Poisto: käsittelyä vastustettu", SV: "Radering: invändning mot behandlingen", EN: "Erasure: objection to the processing"},
	"17(1)(d)":   {FI: "Poisto: lainvastainen käsittely", SV: "Radering: olaglig behandling", EN: "Erasure: unlawful processing"},
	"17(3)(b)":   {FI: "Poikkeus: lakisääteinen velvoite tai yleisen edun mukainen tehtävä", SV: "Undantag: rättslig förpliktelse eller uppgift av allmänt intresse", EN: "Exception: legal obligation or public task"},
	"17(3)(c)":   {FI: "Poikkeus: kansanterveyteen liittyvä yleinen etu", SV: "Undantag: allmänt intresse på folkhälsoområdet", EN: "Exception: public interest in public health"},
	"17(3)(d)":   {FI: "Poikkeus: arkistointi, tutkimus tai tilastointi", SV: "Undantag: arkivering, forskning eller statistik", EN: "Exception: archiving, research or statistics"},
	"17(3)(e)":   {FI: "Poikkeus: oikeudelliset vaateet", SV: "Undantag: rättsliga anspråk", EN: "Exception: legal claims"},
	"18(1)":      {FI: "Oikeus käsittelyn rajoittamiseen", SV: "Rätt till begränsning av behandling", EN: "Right to restriction of processing"},
	"18(1)(d)":   {FI: "Rajoitus vastustamisen selvittämisen ajaksi", SV: "Begränsning medan en invändning prövas", EN: "Restriction while an objection is verified"},
	"18(2)":      {FI: "Rajoitettujen tietojen käsittely", SV: "Behandling av begränsade uppgifter", EN: "Processing of restricted data"},
	"18(3)":      {FI: "Ilmoitus ennen rajoituksen poistamista", SV: "Underrättelse innan begränsningen hävs", EN: "Notice before a restriction is lifted"},
	"19":         {FI: "Ilmoitus vastaanottajille", SV: "Underrättelse till mottagare", EN: "Notifying recipients"},
	"20(1)":      {FI: "Oikeus siirtää tiedot järjestelmästä toiseen", SV: "Rätt till dataportabilitet", EN: "Right to data portability"},
	"20(1)(b)":   {FI: "Siirto-oikeus: automaattinen käsittely", SV: "Dataportabilitet: automatiserad behandling", EN: "Portability: automated processing"},
	"20(3)":      {FI: "Siirto-oikeus ei koske yleisen edun mukaista tehtävää", SV: "Dataportabilitet gäller inte uppgift av allmänt intresse", EN: "No portability for a public task"},
	"21(1)":      {FI: "Oikeus vastustaa käsittelyä", SV: "Rätt att göra invändningar", EN: "Right to object"},
	"21(2)":      {FI: "Suoramarkkinoinnin vastustaminen", SV: "Invändning mot direktmarknadsföring", EN: "Objection to direct marketing"},
	"21(3)":      {FI: "Suoramarkkinointi lopetetaan", SV: "Direktmarknadsföringen upphör", EN: "Direct marketing ends"},
	"21(6)":      {FI: "Vastustaminen: tutkimus ja tilastointi", SV: "Invändning: forskning och statistik", EN: "Objection: research and statistics"},
	"23(1)(a)":   {FI: "Rajoitusperuste: kansallinen turvallisuus", SV: "Begränsningsgrund: nationell säkerhet", EN: "Restriction ground: national security"},
	"23(1)(b)":   {FI: "Rajoitusperuste: puolustus", SV: "Begränsningsgrund: försvar", EN: "Restriction ground: defence"},
	"23(1)(c)":   {FI: "Rajoitusperuste: yleinen turvallisuus", SV: "Begränsningsgrund: allmän säkerhet", EN: "Restriction ground: public security"},
	"23(1)(d)":   {FI: "Rajoitusperuste: rikosten torjunta ja tutkinta", SV: "Begränsningsgrund: förebyggande och utredning av brott", EN: "Restriction ground: criminal offences"},
	"23(1)(e)":   {FI: "Rajoitusperuste: tärkeä yleinen etu, kuten kansanterveys ja sosiaaliturva", SV: "Begränsningsgrund: viktigt allmänt intresse, såsom folkhälsa och social trygghet", EN: "Restriction ground: important public interest, such as public health and social security"},
	"23(1)(f)":   {FI: "Rajoitusperuste: oikeuslaitoksen riippumattomuus ja oikeudenkäynnit", SV: "Begränsningsgrund: rättsväsendets oberoende och rättsliga förfaranden", EN: "Restriction ground: judicial independence and proceedings"},
	"23(1)(g)":   {FI: "Rajoitusperuste: säänneltyjen ammattien eettiset säännöt", SV: "Begränsningsgrund: etiska regler för reglerade yrken", EN: "Restriction ground: ethics of regulated professions"},
	"23(1)(h)":   {FI: "Rajoitusperuste: valvonta-, tarkastus- ja sääntelytehtävät", SV: "Begränsningsgrund: övervakning, inspektion och reglering", EN: "Restriction ground: monitoring, inspection and regulation"},
	"23(1)(i)":   {FI: "Rajoitusperuste: rekisteröidyn suojelu tai muiden oikeudet", SV: "Begränsningsgrund: skydd av den registrerade eller andras rättigheter", EN: "Restriction ground: protection of the subject or the rights of others"},
	"23(1)(j)":   {FI: "Rajoitusperuste: yksityisoikeudellisten vaatimusten täytäntöönpano", SV: "Begränsningsgrund: verkställighet av civilrättsliga anspråk", EN: "Restriction ground: enforcement of civil law claims"},
	"77":         {FI: "Oikeus tehdä valitus tietosuojavaltuutetulle", SV: "Rätt att lämna in klagomål till dataombudsmannen", EN: "Right to complain to the Data Protection Ombudsman"},
	"79":         {FI: "Oikeus tehokkaisiin oikeussuojakeinoihin", SV: "Rätt till ett effektivt rättsmedel", EN: "Right to an effective judicial remedy"},
	"89(2)":      {FI: "Poikkeukset tutkimusta ja tilastointia varten", SV: "Undantag för forskning och statistik", EN: "Derogations for research and statistics"},
	"89(3)":      {FI: "Poikkeukset arkistointia varten", SV: "Undantag för arkivering", EN: "Derogations for archiving"},
}

// gdpr cites a GDPR provision by its key in gdprLabels. An unknown key is a bug in the engine, which
// the tests would catch, so it panics rather than cite nothing.
func gdpr(key string) Citation {
	label, ok := gdprLabels[key]
	if !ok {
		panic(fmt.Sprintf("rules: no label for GDPR %s", key))
	}
	if strings.HasPrefix(key, "Recital") {
		return Citation{Ref: "GDPR " + key, Label: label}
	}
	return Citation{Ref: "GDPR Art " + key, Label: label}
}

func gdprAll(keys ...string) []Citation {
	out := make([]Citation, len(keys))
	for i, k := range keys {
		out[i] = gdpr(k)
	}
	return out
}

// national cites a provision of national law as the declaration states it.
func national(p contracts.Provision) Citation { return Citation{Ref: p.Ref(), Label: p.Name} }

// The Data Protection Act's derogations for research and statistics (s. 31) and for archiving in
// the public interest (s. 32), which a flag points the office to (docs/rights-rules.md#modifiers).
var (
	dataProtectionAct = contracts.Text{FI: "Tietosuojalaki", SV: "Dataskyddslag", EN: "Data Protection Act"}
	researchSection   = contracts.Provision{Act: "1050/2018", Section: "31", Name: dataProtectionAct}
	archivingSection  = contracts.Provision{Act: "1050/2018", Section: "32", Name: dataProtectionAct}
)

// addCitations appends citations not already in list, keeping the order of first mention.
func addCitations(list []Citation, more ...Citation) []Citation {
	for _, c := range more {
		if !hasCitation(list, c.Ref) {
			list = append(list, c)
		}
	}
	return list
}

func hasCitation(list []Citation, ref string) bool {
	return slices.ContainsFunc(list, func(c Citation) bool { return c.Ref == ref })
}
