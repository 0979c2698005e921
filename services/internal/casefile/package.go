package casefile

import (
	"archive/zip"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"sort"
	"time"

	"kirjaamo.dev/contracts"
)

// Package is the access package: the copy of the subject's data (Art 15(3)) in a common
// machine-readable form, with each register's outcome and the articles it rests on.
type Package struct {
	Format      string            `json:"format"`
	RequestID   string            `json:"request_id"`
	Right       string            `json:"right"`
	ReceivedAt  time.Time         `json:"received_at"`
	RepliedAt   *time.Time        `json:"replied_at,omitempty"`
	GeneratedAt time.Time         `json:"generated_at"`
	Registers   []PackageRegister `json:"registers"`
}

// PackageRegister is one register's part of the package.
type PackageRegister struct {
	RegisterID  string                 `json:"register_id"`
	Name        contracts.Text         `json:"name"`
	Controller  contracts.Text         `json:"controller"`
	Outcome     string                 `json:"outcome"`
	Explanation contracts.Text         `json:"explanation"`
	Citations   []string               `json:"citations"`
	Declaration *contracts.Declaration `json:"declaration,omitempty"`
	Records     []contracts.Record     `json:"records"`
}

// Package builds the access package of a replied case.
func (f *File) Package(now time.Time) Package {
	p := Package{Format: "kirjaamo.access-package/v1", RequestID: f.Case.RequestID, Right: f.Case.Right,
		ReceivedAt: f.Case.ReceivedAt, RepliedAt: f.Case.RepliedAt, GeneratedAt: now.UTC()}
	for _, r := range f.Registers {
		recs := r.Data
		if recs == nil {
			recs = []contracts.Record{}
		}
		p.Registers = append(p.Registers, PackageRegister{RegisterID: r.ID, Name: r.Name, Controller: r.Controller,
			Outcome: r.Code, Explanation: r.Explanation, Citations: r.Citations, Declaration: r.Declaration, Records: recs})
	}
	return p
}

// WriteJSON writes the package as one JSON document.
func (p Package) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteZIP writes the package as a ZIP: package.json, plus one CSV per register and category,
// since the records are tabular.
func (p Package) WriteZIP(w io.Writer) error {
	zw := zip.NewWriter(w)
	jw, err := zw.Create("package.json")
	if err != nil {
		return err
	}
	if err := p.WriteJSON(jw); err != nil {
		return err
	}
	for _, r := range p.Registers {
		byCategory := map[string][]contracts.Record{}
		for _, rec := range r.Records {
			byCategory[rec.Category] = append(byCategory[rec.Category], rec)
		}
		categories := make([]string, 0, len(byCategory))
		for c := range byCategory {
			categories = append(categories, c)
		}
		sort.Strings(categories)
		for _, c := range categories {
			fw, err := zw.Create(r.RegisterID + "/" + safeName(c) + ".csv")
			if err != nil {
				return err
			}
			if err := writeCSV(fw, byCategory[c]); err != nil {
				return err
			}
		}
	}
	return zw.Close()
}

func writeCSV(w io.Writer, recs []contracts.Record) error {
	var cols []string
	for _, r := range recs {
		for k := range r.Fields {
			if !slices.Contains(cols, k) {
				cols = append(cols, k)
			}
		}
	}
	sort.Strings(cols)
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	for _, r := range recs {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = r.Fields[c]
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
