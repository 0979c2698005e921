package contracts

import "testing"

func TestACitationIsWrittenTheWayEachLanguageWritesIt(t *testing.T) {
	dpa := Text{FI: "tietosuojalaki", SV: "dataskyddslagen", EN: "Data Protection Act"}
	for _, c := range []struct {
		ref        string
		name       Text
		fi, sv, en string
	}{
		{"GDPR Art 17(3)(b)", Text{}, "EU:n yleisen tietosuoja-asetuksen 17 artiklan 3 kohdan b alakohta", "artikel 17.3 b i dataskyddsförordningen", "Article 17(3)(b) GDPR"},
		{"GDPR Art 12(3)", Text{}, "EU:n yleisen tietosuoja-asetuksen 12 artiklan 3 kohta", "artikel 12.3 i dataskyddsförordningen", "Article 12(3) GDPR"},
		{"GDPR Art 16", Text{}, "EU:n yleisen tietosuoja-asetuksen 16 artikla", "artikel 16 i dataskyddsförordningen", "Article 16 GDPR"},
		{"GDPR Recital 26", Text{}, "EU:n yleisen tietosuoja-asetuksen johdanto-osan 26 kappale", "skäl 26 i dataskyddsförordningen", "Recital 26 GDPR"},
		{"Act 1050/2018 s. 34", dpa, "tietosuojalaki (1050/2018) 34 §", "dataskyddslagen (1050/2018) 34 §", "Data Protection Act (1050/2018), section 34"},
		{"Act 1227/2016 s. 43a-43i", Text{}, "laki 1227/2016 43a–43i §", "lag 1227/2016 43a–43i §", "Act 1227/2016, sections 43a–43i"},
		{"GDPR Art 16; Act 703/2023", Text{}, "EU:n yleisen tietosuoja-asetuksen 16 artikla; laki 703/2023", "artikel 16 i dataskyddsförordningen; lag 703/2023", "Article 16 GDPR; Act 703/2023"},
	} {
		for l, want := range map[Language]string{Finnish: c.fi, Swedish: c.sv, English: c.en} {
			if got := CitationIn(c.ref, l, c.name); got != want {
				t.Errorf("%s in %s: %q, want %q", c.ref, l, got, want)
			}
		}
		if _, ok := ParseCitations(c.ref); !ok {
			t.Errorf("%s does not parse", c.ref)
		}
	}
	for _, bad := range []string{"", "Art 16", "GDPR Article 16", "Communicable Diseases Act 1227/2016 s. 43c", "GDPR Art 16;Act 703/2023"} {
		if _, ok := ParseCitations(bad); ok {
			t.Errorf("%q parses as a citation", bad)
		}
	}
}

func TestAValueIsCheckedForItsFieldsFormat(t *testing.T) {
	for _, c := range []struct {
		format     FieldFormat
		typed      string
		want, rule string
	}{
		{FormatPhone, "+358 40 123 4567", "+358401234567", ""},
		{FormatPhone, "Puhelinnumero", "", "e164"},
		{FormatEmail, " Aino@Example.FI ", "aino@example.fi", ""},
		{FormatEmail, "aino at example", "", "email"},
		{FormatDate, "20.3.2026", "2026-03-20", ""},
		{FormatDate, "2026-03-20", "2026-03-20", ""},
		{FormatDate, "tomorrow", "", "date"},
		{FormatText, "  ", "", "required"},
		{FormatText, "Aino Virtanen", "Aino Virtanen", ""},
		{FormatNumber, "1 234,5", "1234.5", ""},
	} {
		got, rule := NormalizeValue(c.format, c.typed)
		if rule != c.rule || (rule == "" && got != c.want) {
			t.Errorf("%s %q: %q, rule %q; want %q, rule %q", c.format, c.typed, got, rule, c.want, c.rule)
		}
	}
}
