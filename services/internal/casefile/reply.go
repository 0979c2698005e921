package casefile

import (
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/texts"
)

// The reply as the subject reads it, in one language: each register's outcome in plain words and
// what it means for them, the reasons and the provisions written the way the language writes them,
// and for access the Art 15(1) information of each purpose. The portal's reply page and every
// format of the access package (cover letter in HTML and PDF, CSV, JSON) are made from this one
// account, so that they all say the same.

// RegisterReply is one register's part of the reply.
type RegisterReply struct {
	RegisterID string            `json:"register_id"`
	Name       string            `json:"name"`
	Controller string            `json:"controller"`
	Contact    contracts.Contact `json:"contact"`
	// Outcome is the rules' outcome code; Headline says it in plain words and Meaning what it means
	// for the person; Reasons are the rules' own reasons.
	Outcome   string     `json:"outcome"`
	Headline  string     `json:"headline"`
	Meaning   string     `json:"meaning"`
	Reasons   string     `json:"reasons"`
	Citations []Citation `json:"citations"`
	// Notice is, when the Art 12(4) notice is due, its statement of remedies.
	Notice      string    `json:"notice,omitempty"`
	RecordCount int       `json:"record_count"`
	Purposes    []Purpose `json:"purposes,omitempty"`
}

// Citation is a provision as cited (Ref, the machine form), as the language writes it (Text), and
// what it is about (Label).
type Citation struct {
	Ref   string `json:"ref"`
	Text  string `json:"text"`
	Label string `json:"label,omitempty"`
}

// Purpose is the Art 15(1)(a)-(h) information of one purpose, from the register's declaration:
// why (a) and on what basis, which data (b), to whom (c) and to which countries (Art 15(2)), for
// how long (d), from where (g), and whether decisions are made by machine alone (h). The rights (e)
// and the complaint route (f) are the same for every register: Rights.
type Purpose struct {
	Name       string   `json:"name"`
	LegalBasis string   `json:"legal_basis"`
	Basis      string   `json:"basis"`
	BasisLaws  []string `json:"basis_laws,omitempty"`
	Categories []string `json:"categories"`
	Recipients []string `json:"recipients,omitempty"`
	Retention  []string `json:"retention"`
	Source     string   `json:"source,omitempty"`
	Automated  string   `json:"automated"`
}

// CitationsIn writes an outcome's citations out in a language: a statute by its name and number, a
// GDPR provision with its label.
func CitationsIn(cited []rules.Citation, t texts.Catalog) []Citation {
	out := make([]Citation, 0, len(cited))
	for _, c := range cited {
		cite, ok := contracts.ParseCitation(c.Ref)
		switch {
		case ok && cite.Act != "":
			out = append(out, Citation{Ref: c.Ref, Text: t.Citation(c.Ref, c.Label)})
		default:
			out = append(out, Citation{Ref: c.Ref, Text: t.Citation(c.Ref, contracts.Text{}), Label: c.Label.In(t.Language())})
		}
	}
	return out
}

// PurposesIn is the Art 15(1) information of a declaration's purposes, in a language.
func PurposesIn(d *contracts.Declaration, t texts.Catalog) []Purpose {
	if d == nil {
		return nil
	}
	lang := t.Language()
	out := make([]Purpose, 0, len(d.Purposes))
	for _, p := range d.Purposes {
		v := Purpose{Name: p.Name.In(lang), LegalBasis: string(p.LegalBasis), Basis: t.Of("basis", p.LegalBasis), Source: p.Source.In(lang)}
		for _, law := range p.BasisLaw {
			v.BasisLaws = append(v.BasisLaws, t.Citation(law.Ref(), law.Name))
		}
		names := map[string]string{}
		for _, c := range p.DataCategories {
			names[c.ID] = c.Name.In(lang)
			v.Categories = append(v.Categories, c.Name.In(lang))
		}
		for _, r := range p.Recipients {
			name := r.Name.In(lang)
			if r.ThirdCountry != "" {
				name = t.T("cover.recipient_abroad", name, r.ThirdCountry, r.Safeguard)
			}
			v.Recipients = append(v.Recipients, name)
		}
		for _, r := range p.Retention {
			how := t.Duration(r.Period)
			if r.Criteria != nil {
				how = r.Criteria.In(lang)
			}
			v.Retention = append(v.Retention, t.T("cover.retention_item", names[r.Category], how, r.Trigger.In(lang)))
		}
		v.Automated = t.T("cover.automated_none")
		if a := p.AutomatedDecisions; a.Exception != "" && a.Exception != contracts.AutomatedDecisionsNone {
			v.Automated = t.T("cover.automated_some")
			if a.Logic != nil {
				v.Automated += " " + a.Logic.In(lang)
			}
		}
		out = append(out, v)
	}
	return out
}

// Reply is each register's part of a replied case, in a language.
func (f *File) Reply(t texts.Catalog) []RegisterReply {
	lang := t.Language()
	out := make([]RegisterReply, 0, len(f.Registers))
	for _, reg := range f.Registers {
		v := RegisterReply{RegisterID: reg.ID, Name: reg.Name.In(lang), Controller: reg.Controller.In(lang), Outcome: reg.Code,
			Headline: t.Of("outcome", reg.Code), Meaning: t.Of("outcome_means", reg.Code), Reasons: reg.Explanation.In(lang),
			Citations: CitationsIn(reg.Cited, t), RecordCount: reg.Records}
		if reg.NoticeDue && reg.Notice != nil {
			v.Notice = reg.Notice.In(lang)
		}
		if reg.Declaration != nil {
			v.Contact = reg.Declaration.Controller.Contact
			// The Art 15(1) information goes with access, and with portability's copy.
			if f.Case.Right == contracts.RightAccess || f.Case.Right == contracts.RightPortability {
				v.Purposes = PurposesIn(reg.Declaration, t)
			}
		}
		out = append(out, v)
	}
	return out
}
