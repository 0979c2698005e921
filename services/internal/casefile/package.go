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
	"time"

	"kirjaamo.dev/contracts"
)

// Package is the access package: the copy of the subject's data (Art 15(3)) in a common
// machine-readable form, with each register's outcome and the articles it rests on.
type Package struct {
	PackageHeader
	Registers []PackageRegister `json:"registers"`
}

// PackageHeader is what the package says about the request.
type PackageHeader struct {
	Format      string          `json:"format"`
	RequestID   string          `json:"request_id"`
	Right       contracts.Right `json:"right"`
	ReceivedAt  time.Time       `json:"received_at"`
	RepliedAt   *time.Time      `json:"replied_at,omitempty"`
	GeneratedAt time.Time       `json:"generated_at"`
}

// PackageRegister is one register's part of the package. Records comes last, so that a register's
// package can be streamed into it.
type PackageRegister struct {
	RegisterID  string                 `json:"register_id"`
	Name        contracts.Text         `json:"name"`
	Controller  contracts.Text         `json:"controller"`
	Outcome     string                 `json:"outcome"`
	Explanation contracts.Text         `json:"explanation"`
	Citations   []string               `json:"citations"`
	Declaration *contracts.Declaration `json:"declaration,omitempty"`
	// Package describes records the register delivered as a package rather than inline.
	Package *PackageFile       `json:"package,omitempty"`
	Records []contracts.Record `json:"records"`
}

// PackageFile is a register's package as the subject receives it.
type PackageFile struct {
	// File is the package's JSON Lines file in the ZIP; in the JSON download the records are inline.
	File    string `json:"file"`
	Format  string `json:"format"`
	Records int64  `json:"records"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	ref     contracts.PackageRef
}

// Opener streams a register's package, checked: the platform's package store.
type Opener func(ctx context.Context, registerID string, ref contracts.PackageRef) (io.ReadCloser, error)

// Package builds the access package of a replied case.
func (f *File) Package(now time.Time) Package {
	p := Package{PackageHeader: PackageHeader{Format: "kirjaamo.access-package/v1", RequestID: f.Case.RequestID, Right: f.Case.Right,
		ReceivedAt: f.Case.ReceivedAt, RepliedAt: f.Case.RepliedAt, GeneratedAt: now.UTC()}}
	for _, r := range f.Registers {
		recs := r.Data
		if recs == nil {
			recs = []contracts.Record{}
		}
		pr := PackageRegister{RegisterID: r.ID, Name: r.Name, Controller: r.Controller,
			Outcome: r.Code, Explanation: r.Explanation, Citations: r.Citations, Declaration: r.Declaration, Records: recs}
		if r.Package != nil {
			pr.Package = &PackageFile{File: r.ID + "/records.jsonl", Format: r.Package.Format, Records: r.Package.Records,
				Size: r.Package.Size, SHA256: r.Package.SHA256, ref: *r.Package}
		}
		p.Registers = append(p.Registers, pr)
	}
	return p
}

// WriteJSON writes the package as one JSON document, with every register's records in it: those
// delivered as packages are streamed in from open, line by line.
func (p Package) WriteJSON(ctx context.Context, w io.Writer, open Opener) error {
	return p.writeJSON(ctx, w, open)
}

// writeJSON writes the document; with open nil, packaged registers keep only their PackageFile.
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
		if err := copyRecords(ctx, bw, open, r); err != nil {
			return err
		}
		bw.WriteString("]}")
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// copyRecords writes a package's records as the elements of a JSON array. Each line must be a JSON
// object, so that the document stays valid whatever a register sent.
func copyRecords(ctx context.Context, w *bufio.Writer, open Opener, r PackageRegister) error {
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
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.Write(line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
	}
	return nil
}

// WriteZIP writes the package as a ZIP: package.json; one CSV per register and category of the
// records that came inline, since they are tabular; and each register's package, as it came, in
// <register>/records.jsonl, streamed from open.
func (p Package) WriteZIP(ctx context.Context, w io.Writer, open Opener) error {
	zw := zip.NewWriter(w)
	jw, err := zw.Create("package.json")
	if err != nil {
		return err
	}
	if err := p.writeJSON(ctx, jw, nil); err != nil {
		return err
	}
	for _, r := range p.Registers {
		if r.Package != nil {
			if err := copyPackage(ctx, zw, open, r); err != nil {
				return err
			}
			continue
		}
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

func copyPackage(ctx context.Context, zw *zip.Writer, open Opener, r PackageRegister) error {
	if open == nil {
		return errors.New("casefile: a register's records came as a package, and nothing opens packages")
	}
	rc, err := open(ctx, r.RegisterID, r.Package.ref)
	if err != nil {
		return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
	}
	defer rc.Close()
	fw, err := zw.Create(r.Package.File)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fw, rc); err != nil {
		return fmt.Errorf("casefile: package of %s: %w", r.RegisterID, err)
	}
	return nil
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
