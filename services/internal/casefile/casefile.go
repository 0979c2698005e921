// Package casefile assembles one case as people read it: the request, each register's name,
// outcome, citations and data, from the case store and the register catalogue. The office shows it
// to staff; the portal shows the subject's part of it and builds the access package from it.
package casefile

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/workflows/request"
)

// File is a case with its registers.
type File struct {
	Case        cases.Case `json:"case"`
	SubjectName string     `json:"subject_name"`
	Registers   []Register `json:"registers"`
}

// Register is one register's part of a case.
type Register struct {
	ID          string         `json:"register_id"`
	Name        contracts.Text `json:"name"`
	Controller  contracts.Text `json:"controller"`
	Digest      string         `json:"declaration_digest"`
	Code        string         `json:"outcome"`
	Explanation contracts.Text `json:"explanation"`
	Citations   []string       `json:"citations"`
	// Cited are the citations with their labels, from which the subject's pages and package write
	// each provision out in the subject's language.
	Cited     []rules.Citation `json:"-"`
	NoticeDue bool             `json:"notice_due"`
	// Notice is the Art 12(4) notice's statement of remedies, when due.
	Notice     *contracts.Text `json:"-"`
	Dispatched bool            `json:"dispatched"`
	// Flags are matters for the clerk to judge, such as a possibly excessive request (Art 12(5)),
	// with their evidence; they never decide anything by themselves.
	Flags []rules.Flag `json:"flags,omitempty"`
	// ResultStatus is what the register answered, or "" if it has not.
	ResultStatus string             `json:"result_status,omitempty"`
	Records      int                `json:"records"`
	Data         []contracts.Record `json:"data,omitempty"`
	// Package refers to records the register delivered as a package; Records counts them.
	Package     *contracts.PackageRef  `json:"package,omitempty"`
	Declaration *contracts.Declaration `json:"-"`
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Reader assembles case files from the case store and the register catalogue.
type Reader struct {
	Cases        *cases.Repo
	Declarations *declarations.Store
}

// ValidID reports whether s can be a request id at all: any other id is simply not found, before
// anything is read.
func ValidID(s string) bool { return uuidPattern.MatchString(s) }

// Load assembles a case file.
func (rd Reader) Load(ctx context.Context, requestID string) (*File, error) {
	if !ValidID(requestID) {
		return nil, store.ErrNotFound
	}
	c, err := rd.Cases.Case(ctx, requestID)
	if err != nil {
		return nil, err
	}
	rows, err := rd.Cases.Registers(ctx, requestID)
	if err != nil {
		return nil, err
	}
	planned, err := cases.PlannedOf(rows)
	if err != nil {
		return nil, fmt.Errorf("casefile %s: %w", requestID, err)
	}
	f := &File{Case: c, SubjectName: c.SubjectName}
	for i, p := range planned {
		out := p.Outcome
		if len(rows[i].Outcome) > 0 {
			if err := json.Unmarshal(rows[i].Outcome, &out); err != nil {
				return nil, fmt.Errorf("casefile %s: outcome of %s: %w", requestID, rows[i].RegisterID, err)
			}
		}
		reg := Register{ID: out.RegisterID, Digest: p.Digest, Code: string(out.Code), Explanation: out.Explanation,
			Citations: Citations(out), Cited: out.Citations, NoticeDue: out.NoticeDue, Notice: out.Notice, Dispatched: p.Dispatched, Flags: out.Flags}
		if p.Result != nil {
			reg.ResultStatus, reg.Records, reg.Data = string(p.Result.Status), len(p.Result.Records), p.Result.Records
			if pkg := p.Result.Package; pkg != nil {
				reg.Package, reg.Records = pkg, int(pkg.Records)
			}
		}
		if d, err := rd.Declarations.Version(ctx, reg.ID, p.Digest); err == nil {
			reg.Declaration = &d
			reg.Name, reg.Controller = d.Name, d.Controller.Name
		}
		if reg.Name.FI == "" {
			reg.Name = contracts.Text{FI: reg.ID, SV: reg.ID, EN: reg.ID}
		}
		f.Registers = append(f.Registers, reg)
	}
	return f, nil
}

// Replied reports whether the reply has been sent: only then does the subject see outcomes and data.
func (f *File) Replied() bool { return f.Case.RepliedAt != nil }

// SubjectView is what the subject sees of their case.
type SubjectView struct {
	RequestID  string          `json:"request_id"`
	Right      contracts.Right `json:"right"`
	Status     request.Status  `json:"status"`
	ReceivedAt time.Time       `json:"received_at"`
	Deadline   time.Time       `json:"deadline"`
	RepliedAt  *time.Time      `json:"replied_at,omitempty"`
	Registers  []Register      `json:"registers,omitempty"`
}

// ForSubject is the subject's view: the reply's outcomes only once it was approved and sent.
func (f *File) ForSubject() SubjectView {
	v := SubjectView{RequestID: f.Case.RequestID, Right: f.Case.Right, Status: f.Case.Status, ReceivedAt: f.Case.ReceivedAt,
		Deadline: f.Case.Deadline, RepliedAt: f.Case.RepliedAt}
	if f.Replied() {
		// The office's flags are its own working notes, not part of the reply.
		for _, r := range f.Registers {
			r.Flags = nil
			v.Registers = append(v.Registers, r)
		}
	}
	return v
}

// Citations are an outcome's provisions by reference, e.g. "GDPR Art 17(3)(b)".
func Citations(o rules.Outcome) []string {
	out := make([]string, len(o.Citations))
	for i, c := range o.Citations {
		out[i] = c.Ref
	}
	return out
}
