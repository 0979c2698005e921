package casefile

import (
	"embed"
	"html/template"
	"io"
	"strings"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"kirjaamo.dev/services/internal/texts"
)

// The cover letter opens the access package: who holds what about the person, why, for how long,
// where it came from and to whom it went, what each register decided and what that means for them,
// and their rights. It is the same letter in HTML and in PDF, in the person's language.

//go:embed templates/cover.html
var coverFS embed.FS

var coverHTML = template.Must(template.ParseFS(coverFS, "templates/cover.html"))

// coverView is what the cover letter's template reads: the package, and the words of its language.
type coverView struct {
	texts.Catalog
	Package
}

// WriteHTML writes the cover letter as one HTML page that needs nothing else: no script, no
// stylesheet or font from elsewhere.
func (p Package) WriteHTML(w io.Writer) error {
	return coverHTML.Execute(w, coverView{Catalog: p.t, Package: p})
}

// WritePDF writes the cover letter as a PDF, in a font embedded in the file that has the Finnish
// and Swedish letters (the Go fonts), made in the process without anything outside it.
func (p Package) WritePDF(w io.Writer) error {
	t := p.t
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(t.T("cover.title")+" "+p.Reference, true)
	pdf.SetLang(string(p.Language))
	pdf.SetCreator("Kirjaamo", true)
	pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
	pdf.SetMargins(20, 20, 20)
	pdf.SetAutoPageBreak(true, 20)
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-14)
		pdf.SetFont("go", "", 8)
		pdf.CellFormat(0, 6, t.T("cover.page", pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()

	heading := func(size float64, s string) {
		pdf.Ln(2)
		pdf.SetFont("go", "B", size)
		pdf.MultiCell(0, size*0.5, s, "", "L", false)
		pdf.Ln(1)
	}
	para := func(s string) {
		pdf.SetFont("go", "", 10.5)
		pdf.MultiCell(0, 5.2, s, "", "L", false)
		pdf.Ln(1.5)
	}
	pair := func(label, value string) {
		pdf.SetFont("go", "B", 10.5)
		pdf.MultiCell(0, 5.2, label, "", "L", false)
		pdf.SetFont("go", "", 10.5)
		pdf.SetX(26)
		pdf.MultiCell(0, 5.2, value, "", "L", false)
		pdf.Ln(0.5)
	}

	heading(18, t.T("cover.title"))
	para(t.T("cover.intro"))
	pair(t.T("cover.reference"), p.Reference)
	pair(t.T("cover.right_asked"), p.RightName)
	pair(t.T("cover.received"), t.Date(p.ReceivedAt))
	if p.RepliedAt != nil {
		pair(t.T("cover.replied"), t.Date(*p.RepliedAt))
	}
	heading(14, t.T("cover.summary"))
	for _, r := range p.Registers {
		pair(r.Name, r.Headline)
	}
	for _, r := range p.Registers {
		pdf.Ln(3)
		heading(14, r.Name)
		contact := []string{t.T("cover.controller") + ": " + r.Controller}
		for _, c := range []string{r.Contact.Email, r.Contact.Phone, r.Contact.Address} {
			if c != "" {
				contact = append(contact, c)
			}
		}
		para(strings.Join(contact, ", "))
		pdf.SetFont("go", "B", 11)
		pdf.MultiCell(0, 5.5, r.Headline, "", "L", false)
		para(r.Meaning)
		if r.RecordCount > 0 {
			para(t.T("cover.records_in", r.RecordCount, r.File))
		}
		heading(11, t.T("cover.reasons"))
		para(r.Reasons)
		if len(r.Citations) > 0 {
			cites := make([]string, len(r.Citations))
			for i, c := range r.Citations {
				cites[i] = c.Text
				if c.Label != "" {
					cites[i] += " (" + c.Label + ")"
				}
			}
			para(t.T("cover.provisions") + ": " + strings.Join(cites, "; "))
		}
		if r.Notice != "" {
			para(r.Notice)
		}
		for _, pu := range r.Purposes {
			heading(11, t.T("cover.purpose")+": "+pu.Name)
			pair(t.T("cover.basis"), strings.Join(append([]string{pu.Basis}, pu.BasisLaws...), "; "))
			pair(t.T("cover.categories"), strings.Join(pu.Categories, "; "))
			recipients := t.T("cover.no_recipients")
			if len(pu.Recipients) > 0 {
				recipients = strings.Join(pu.Recipients, "; ")
			}
			pair(t.T("cover.recipients"), recipients)
			pair(t.T("cover.retention"), strings.Join(pu.Retention, "; "))
			if pu.Source != "" {
				pair(t.T("cover.source"), pu.Source)
			}
			pair(t.T("cover.automated"), pu.Automated)
		}
	}
	pdf.Ln(3)
	heading(14, t.T("cover.your_rights"))
	for _, r := range p.Rights {
		para("• " + r)
	}
	para(p.Complaint)
	heading(14, t.T("cover.files"))
	para(t.T("cover.files_help"))
	return pdf.Output(w)
}
