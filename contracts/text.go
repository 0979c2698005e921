package contracts

// Language is a language the platform answers in. Finnish and Swedish are the national languages;
// English is offered as well.
type Language string

const (
	Finnish Language = "fi"
	Swedish Language = "sv"
	English Language = "en"
)

// Languages lists the supported languages, the default first.
var Languages = []Language{Finnish, Swedish, English}

// ParseLanguage returns the language for a code, and false for an unsupported one.
func ParseLanguage(code string) (Language, bool) {
	for _, l := range Languages {
		if string(l) == code {
			return l, true
		}
	}
	return Finnish, false
}

// Text is a piece of text that the citizen or the office reads, in each supported language.
type Text struct {
	FI string `json:"fi" validate:"required,max=2000"`
	SV string `json:"sv" validate:"required,max=2000"`
	EN string `json:"en" validate:"required,max=2000"`
}

// In returns the text in the given language. A value that is not a supported language gets the
// default, Finnish, as ParseLanguage gives for an unsupported code.
func (t Text) In(l Language) string {
	switch l {
	case Finnish:
		return t.FI
	case Swedish:
		return t.SV
	case English:
		return t.EN
	}
	return t.FI
}
