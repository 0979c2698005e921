package contracts

import (
	"regexp"
	"strings"
)

// A citation names the provisions an outcome or a register's refusal rests on, in one form that
// machines read: "GDPR Art 17(3)(b)", "GDPR Recital 26", "Act 1050/2018 s. 34" or "Act 703/2023",
// several separated by "; ". The platform writes each out the way the subject's language writes it
// (Cite.In): Finnish "EU:n yleisen tietosuoja-asetuksen 17 artiklan 3 kohdan b alakohta", Swedish
// "artikel 17.3 b i dataskyddsförordningen", English "Article 17(3)(b) GDPR".

// Cite is one provision of a citation.
type Cite struct {
	// Recital is true for a recital of the GDPR; Article is then the recital's number.
	Recital bool
	// Article is the GDPR article with its paragraph and point, "17(3)(b)", for a GDPR provision.
	Article string
	// Act is a statute's number, "1050/2018", and Section its section or sections, "34" or "43a-43i".
	Act, Section string
}

var (
	gdprArticlePattern = regexp.MustCompile(`^GDPR Art ([0-9]{1,2}(?:\([0-9]{1,2}\))?(?:\([a-z]\))?)$`)
	gdprRecitalPattern = regexp.MustCompile(`^GDPR Recital ([0-9]{1,3})$`)
	actPattern         = regexp.MustCompile(`^Act ([0-9]{1,5}/[0-9]{4})(?: s\. ([0-9]{1,4}[a-z]?(?:-[0-9]{1,4}[a-z]?)?))?$`)
	articlePartPattern = regexp.MustCompile(`^([0-9]+)(?:\(([0-9]+)\))?(?:\(([a-z])\))?$`)
)

// ParseCitation reads one provision; false if it is not in the form above.
func ParseCitation(ref string) (Cite, bool) {
	if m := gdprArticlePattern.FindStringSubmatch(ref); m != nil {
		return Cite{Article: m[1]}, true
	}
	if m := gdprRecitalPattern.FindStringSubmatch(ref); m != nil {
		return Cite{Recital: true, Article: m[1]}, true
	}
	if m := actPattern.FindStringSubmatch(ref); m != nil {
		return Cite{Act: m[1], Section: m[2]}, true
	}
	return Cite{}, false
}

// ParseCitations reads a citation of one or more provisions separated by "; "; false if any part is
// not a provision in the form above.
func ParseCitations(s string) ([]Cite, bool) {
	if s == "" {
		return nil, false
	}
	var out []Cite
	for part := range strings.SplitSeq(s, "; ") {
		c, ok := ParseCitation(part)
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// In writes the provision the way the language writes it. name is a statute's name, where known
// (the zero Text if not); a GDPR provision needs none.
func (c Cite) In(l Language, name Text) string {
	if c.Act != "" {
		return actIn(c, l, name)
	}
	if c.Recital {
		switch l {
		case Finnish:
			return "EU:n yleisen tietosuoja-asetuksen johdanto-osan " + c.Article + " kappale"
		case Swedish:
			return "skäl " + c.Article + " i dataskyddsförordningen"
		case English:
		}
		return "Recital " + c.Article + " GDPR"
	}
	m := articlePartPattern.FindStringSubmatch(c.Article)
	article, paragraph, point := m[1], m[2], m[3]
	switch l {
	case Finnish:
		// "17 artikla", "17 artiklan 3 kohta", "17 artiklan 3 kohdan b alakohta".
		s := "EU:n yleisen tietosuoja-asetuksen " + article
		switch {
		case point != "" && paragraph != "":
			return s + " artiklan " + paragraph + " kohdan " + point + " alakohta"
		case paragraph != "":
			return s + " artiklan " + paragraph + " kohta"
		case point != "":
			return s + " artiklan " + point + " alakohta"
		}
		return s + " artikla"
	case Swedish:
		// "artikel 17", "artikel 17.3", "artikel 17.3 b".
		s := "artikel " + article
		if paragraph != "" {
			s += "." + paragraph
		}
		if point != "" {
			s += " " + point
		}
		return s + " i dataskyddsförordningen"
	case English:
	}
	return "Article " + c.Article + " GDPR"
}

func actIn(c Cite, l Language, name Text) string {
	section := strings.ReplaceAll(c.Section, "-", "–")
	n := name.In(l)
	switch l {
	case Finnish, Swedish:
		// "tietosuojalaki (1050/2018) 34 §", or "laki 703/2023" without a name.
		s := c.Act
		if n != "" {
			s = n + " (" + c.Act + ")"
		} else if l == Finnish {
			s = "laki " + c.Act
		} else {
			s = "lag " + c.Act
		}
		if section != "" {
			s += " " + section + " §"
		}
		return s
	case English:
	}
	s := "Act " + c.Act
	if n != "" {
		s = n + " (" + c.Act + ")"
	}
	if section != "" {
		if strings.Contains(section, "–") {
			return s + ", sections " + section
		}
		return s + ", section " + section
	}
	return s
}

// CitationIn writes a citation out in the language, each provision as Cite.In does, with name for
// a statute; a part that is not in the machine form is given as it is.
func CitationIn(ref string, l Language, name Text) string {
	if c, ok := ParseCitation(ref); ok {
		return c.In(l, name)
	}
	parts := strings.Split(ref, "; ")
	if len(parts) == 1 {
		return ref
	}
	for i, p := range parts {
		parts[i] = CitationIn(p, l, name)
	}
	return strings.Join(parts, "; ")
}
