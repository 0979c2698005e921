package casefile

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/texts"
)

// PackageFormat names the access package's JSON document; its schema is access-package.v2.schema.json.
const PackageFormat = "kirjaamo.access-package/v2"

// Package is the access package in the subject's language: the copy of their data (Art 15(3)) and
// the reply that goes with it. Its formats carry the same content: a cover letter in HTML and PDF
// for people, one CSV per register with the records, and one JSON document for machines.
type Package struct {
	PackageHeader
	Registers []PackageRegister `json:"registers"`
}

// PackageHeader is what the package says about the request, and the rights the person has.
type PackageHeader struct {
	Format      string             `json:"format"`
	Language    contracts.Language `json:"language"`
	RequestID   string             `json:"request_id"`
	Reference   string             `json:"reference"`
	Right       contracts.Right    `json:"right"`
	RightName   string             `json:"right_name"`
	ReceivedAt  time.Time          `json:"received_at"`
	RepliedAt   *time.Time         `json:"replied_at,omitempty"`
	GeneratedAt time.Time          `json:"generated_at"`
	// Rights are the rights the person still has (Art 15(1)(e)), and Complaint the route to
	// complain and seek a remedy (Art 15(1)(f), 77, 79).
	Rights    []string `json:"rights"`
	Complaint string   `json:"complaint"`
	t         texts.Catalog
}

// PackageRegister is one register's part of the package: its reply, and its records. Records come
// last, so that a register's package can be streamed into it.
type PackageRegister struct {
	RegisterReply
	// File is the register's CSV file in the ZIP, "" if it has no records.
	File    string       `json:"file,omitempty"`
	Package *PackageFile `json:"package,omitempty"`
	// Columns are the CSV's columns: the record's category, then each field by its label.
	Columns []Column           `json:"columns,omitempty"`
	Records []contracts.Record `json:"records"`
	decl    *contracts.Declaration
}

// Column is a field of the register's records as the CSV and the cover letter name it.
type Column struct {
	Field  string                `json:"field"`
	Label  string                `json:"label"`
	Format contracts.FieldFormat `json:"format"`
}

// PackageFile is a register's records that came as a package, rather than inline.
type PackageFile struct {
	Format  string `json:"format"`
	Records int64  `json:"records"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	ref     contracts.PackageRef
}

// Opener streams a register's package, checked: the platform's package store.
type Opener func(ctx context.Context, registerID string, ref contracts.PackageRef) (io.ReadCloser, error)

// Package builds the access package of a replied case, in a language.
func (f *File) Package(now time.Time, lang contracts.Language) Package {
	t := texts.In(lang)
	p := Package{PackageHeader: PackageHeader{Format: PackageFormat, Language: lang, RequestID: f.Case.RequestID,
		Reference: Reference(f.Case.RequestID), Right: f.Case.Right, RightName: t.Of("right", f.Case.Right),
		ReceivedAt: f.Case.ReceivedAt, RepliedAt: f.Case.RepliedAt, GeneratedAt: now.UTC(), t: t,
		Rights: []string{t.T("cover.right_access"), t.T("cover.right_rectification"), t.T("cover.right_erasure"),
			t.T("cover.right_restriction"), t.T("cover.right_objection"), t.T("cover.right_portability")},
		Complaint: t.T("cover.complaint")}}
	replies := f.Reply(t)
	used := map[string]bool{}
	for i, r := range f.Registers {
		recs := r.Data
		if recs == nil {
			recs = []contracts.Record{}
		}
		pr := PackageRegister{RegisterReply: replies[i], Records: recs, decl: r.Declaration}
		if r.Package != nil {
			pr.Package = &PackageFile{Format: r.Package.Format, Records: r.Package.Records, Size: r.Package.Size, SHA256: r.Package.SHA256, ref: *r.Package}
		}
		if r.Records > 0 {
			pr.File = uniqueName(slug(pr.Name)+".csv", used)
			pr.Columns = columns(t, r.Declaration, recs, r.Package != nil)
		}
		p.Registers = append(p.Registers, pr)
	}
	return p
}

// Reference is a request's reference as people read and say it: the first eight characters of its
// id, in capitals.
func Reference(id string) string { return strings.ToUpper(id[:min(8, len(id))]) }

// FileName is the download's name without its extension.
func (p Package) FileName() string { return "kirjaamo-" + strings.ToLower(p.Reference) }

// CoverName is the cover letter's file name in the ZIP, without its extension, in the language.
func (p Package) CoverName() string { return p.t.T("cover.file") }

// otherField is the column of the fields a register's declaration does not describe, for records
// streamed from a package, whose fields are not known before the CSV's header is written.
const otherField = "*"

// columns are a register's CSV columns: the category, every field its declaration describes, and
// the fields of the inline records it does not, by their own names; for a package, whose records
// are not read before the header, one column holds any field not described.
func columns(t texts.Catalog, d *contracts.Declaration, recs []contracts.Record, packaged bool) []Column {
	out := []Column{{Field: "", Label: t.T("cover.category"), Format: contracts.FormatText}}
	has := func(name string) bool {
		return slices.ContainsFunc(out, func(c Column) bool { return c.Field == name })
	}
	if d != nil {
		for _, rt := range d.Records {
			for _, f := range rt.Fields {
				if !has(f.Name) {
					out = append(out, Column{Field: f.Name, Label: f.Label.In(t.Language()), Format: f.Format})
				}
			}
		}
	}
	if packaged {
		return append(out, Column{Field: otherField, Label: t.T("cover.other_fields"), Format: contracts.FormatText})
	}
	var extra []string
	for _, r := range recs {
		for k := range r.Fields {
			if !has(k) && !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, Column{Field: k, Label: k, Format: contracts.FormatText})
	}
	return out
}

// WriteJSON writes the package as one JSON document, with every register's records in it: those
// delivered as packages are streamed in from open, line by line.
func (p Package) WriteJSON(ctx context.Context, w io.Writer, open Opener) error {
	return p.writeJSON(ctx, w, open)
}

// writeJSON writes the document; with open nil, a register whose records came as a package keeps
// only its reference and its file, the CSV that holds them.
func (p Package) writeJSON(ctx context.Context, w io.Writer, open Opener) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := json.Marshal(p.PackageHeader)
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"registers":[`)
	for i, r := range p.Registers {
		if i > 0 {
			bw.WriteString(",\n")
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if r.Package == nil || open == nil {
			bw.Write(b)
			continue
		}
		// Records is the last field and empty: leave its "[]}" open and stream the records in.
		bw.Write(b[:len(b)-2])
		if err := eachRecord(ctx, open, r, func(line []byte, first bool) error {
			if !first {
				bw.WriteByte(',')
			}
			_, err := bw.Write(line)
			return err
		}); err != nil {
			return err
		}
		bw.WriteString("]}")
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// eachRecord hands each record of a register's package to fn as its JSON line. Each line must be a
// JSON object, so that what is made of it stays valid whatever a register sent.
func eachRecord(ctx context.Context, open Opener, r PackageRegister, fn func(line []byte, first bool) error) error {
	if open == nil {
		return errors.New("casefile: a register's records came as a package, and nothing opens packages")
	}
	rc, err := open(ctx, r.RegisterID, r.Package.ref)
	if err != nil {
		return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 2<<20) // a record has at most 100 fields of 10,000 characters
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || !json.Valid(line) {
			return fmt.Errorf("casefile: package of %s: a line is not a JSON record", r.RegisterID)
		}
		if err := fn(line, first); err != nil {
			return err
		}
		first = false
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
	}
	return nil
}

// WriteZIP writes the package as a ZIP: the cover letter in HTML and PDF, the JSON document, and one
// CSV per register with records. A register's records that came as a package (they may be
// gigabytes) are streamed from open into its CSV alone, read once: the JSON document in the ZIP
// names that file instead of repeating them, while the JSON download carries them inline.
func (p Package) WriteZIP(ctx context.Context, w io.Writer, open Opener) error {
	zw := zip.NewWriter(w)
	cover := p.CoverName()
	fw, err := zw.Create(cover + ".html")
	if err != nil {
		return err
	}
	if err := p.WriteHTML(fw); err != nil {
		return err
	}
	if fw, err = zw.Create(cover + ".pdf"); err != nil {
		return err
	}
	if err := p.WritePDF(fw); err != nil {
		return err
	}
	if fw, err = zw.Create(p.t.T("cover.json_file")); err != nil {
		return err
	}
	if err := p.writeJSON(ctx, fw, nil); err != nil {
		return err
	}
	for _, r := range p.Registers {
		if r.File == "" {
			continue
		}
		fw, err := zw.Create(r.File)
		if err != nil {
			return err
		}
		if err := p.writeCSV(ctx, fw, open, r); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeCSV writes a register's records as CSV in the package's language: headers by the declared
// labels, dates and times as the language writes them in Finnish time, yes and no in words, and the
// list separator spreadsheets expect there (a semicolon where the decimal separator is a comma). A
// byte order mark lets a spreadsheet read it as UTF-8.
func (p Package) writeCSV(ctx context.Context, w io.Writer, open Opener, r PackageRegister) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("\ufeff")
	cw := csv.NewWriter(bw)
	if p.Language != contracts.English {
		cw.Comma = ';'
	}
	header := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		header[i] = c.Label
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	row := func(rec contracts.Record) error {
		out := make([]string, len(r.Columns))
		for i, c := range r.Columns {
			switch c.Field {
			case "":
				out[i] = p.categoryName(r, rec.Category)
			case otherField:
				out[i] = p.otherFields(r, rec)
			default:
				out[i] = p.value(c.Format, rec.Fields[c.Field])
			}
		}
		return cw.Write(out)
	}
	if r.Package == nil {
		for _, rec := range r.Records {
			if err := row(rec); err != nil {
				return err
			}
		}
	} else if err := eachRecord(ctx, open, r, func(line []byte, _ bool) error {
		var rec contracts.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
		}
		return row(rec)
	}); err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// categoryName is a record category's declared name in the language, or the category as it came.
func (p Package) categoryName(r PackageRegister, category string) string {
	if r.decl != nil {
		if rt, ok := r.decl.RecordType(category); ok {
			return rt.Name.In(p.Language)
		}
	}
	return category
}

// otherFields are a packaged record's fields that its register does not describe, "name: value".
func (p Package) otherFields(r PackageRegister, rec contracts.Record) string {
	var out []string
	for k, v := range rec.Fields {
		if !slices.ContainsFunc(r.Columns, func(c Column) bool { return c.Field == k }) {
			out = append(out, k+": "+v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// value writes a field's value as the language reads it: a date or a time in Finnish time, a yes
// or a no; anything else as it is.
func (p Package) value(f contracts.FieldFormat, v string) string {
	switch f {
	case contracts.FormatDate, contracts.FormatDateTime:
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if d, err := time.ParseInLocation("2006-01-02", v, texts.Helsinki); err == nil {
				return p.t.ShortDate(d)
			}
			return v
		}
		if f == contracts.FormatDate {
			// A date stored as midnight UTC is that day, whatever the zone.
			return p.t.ShortDate(time.Date(at.Year(), at.Month(), at.Day(), 12, 0, 0, 0, texts.Helsinki))
		}
		return p.t.ShortDateTime(at)
	case contracts.FormatBoolean:
		switch v {
		case "true":
			return p.t.T("cover.yes")
		case "false":
			return p.t.T("cover.no")
		}
	case contracts.FormatText, contracts.FormatEmail, contracts.FormatPhone, contracts.FormatNumber, contracts.FormatCode:
	}
	return v
}

// slug is a file name made of a name: lower case ASCII letters and digits, words joined by hyphens.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFD.String(strings.ToLower(name)) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// the diaeresis of ä and ö, the ring of å
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if len(s) > 60 {
		s = strings.TrimSuffix(s[:60], "-")
	}
	if s == "" {
		s = "register"
	}
	return s
}

func uniqueName(name string, used map[string]bool) string {
	base, ext := strings.TrimSuffix(name, ".csv"), ".csv"
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
	used[name] = true
	return name
}
