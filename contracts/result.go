package contracts

import "time"

// ResultStatus is what a register did with a task; the rules conclude the outcome from it
// (docs/rights-rules.md#gate-7-substance).
type ResultStatus string

const (
	// StatusFound: the register holds data on the subject; Records (or Package) carry it.
	StatusFound ResultStatus = "found"
	// StatusNoData: the register holds no data on the subject. Still an answer the subject is owed.
	StatusNoData ResultStatus = "no_data"
	// StatusApplied: the register carried out the effect (rectified, erased, restricted, lifted).
	StatusApplied ResultStatus = "applied"
	// StatusRefused: the register refuses on a ground it states, e.g. a retention duty.
	StatusRefused ResultStatus = "refused"
	// StatusFailed: the register could not carry out the task; Error says why and whether to retry.
	StatusFailed ResultStatus = "failed"
)

// ResultStatuses lists every status a result may have.
var ResultStatuses = []ResultStatus{StatusFound, StatusNoData, StatusApplied, StatusRefused, StatusFailed}

// Result is a register's answer to a task.
type Result struct {
	Protocol   string       `json:"protocol" validate:"required,eq=kirjaamo.result/v1"`
	TaskID     string       `json:"task_id" validate:"required,max=200"`
	RequestID  string       `json:"request_id" validate:"required,uuid"`
	RegisterID string       `json:"register_id" validate:"required,register_id"`
	Operation  Operation    `json:"operation" validate:"required,operation"`
	Status     ResultStatus `json:"status" validate:"required,oneof=found no_data applied refused failed"`
	// Records are the data found, for a lookup whose result is small enough to travel inline.
	Records []Record `json:"records,omitempty" validate:"omitempty,max=1000,dive"`
	// Package refers to records too large to travel inline, streamed sealed into the register's
	// package bucket. A result has Records or a Package, never both.
	Package *PackageRef `json:"package,omitempty" validate:"omitempty"`
	// Affected counts the records an effect changed.
	Affected int `json:"affected,omitempty" validate:"min=0"`
	// Recipients are those who received the data, for Art 19 notices and the access contents.
	Recipients []string  `json:"recipients,omitempty" validate:"omitempty,max=200,dive,max=200"`
	Refusal    *Refusal  `json:"refusal,omitempty" validate:"required_if=Status refused,omitempty"`
	Error      *Error    `json:"error,omitempty" validate:"required_if=Status failed,omitempty"`
	FinishedAt time.Time `json:"finished_at" validate:"required"`
}

// Record is one item of the subject's data, as a register holds it.
type Record struct {
	// Category is the category of data, e.g. "contact details" or "processing log".
	Category string `json:"category" validate:"required,max=100"`
	// Fields are the record's values by name. Flat, so that a package can also be given as CSV.
	Fields map[string]string `json:"fields" validate:"required,max=100,dive,keys,required,max=100,endkeys,max=10000"`
}

// Refusal is a register's own ground for not carrying out a task: a code that names the ground in
// the register's own terms, the reason as the subject reads it in Finnish, Swedish and English, and
// the provisions it rests on in the form Citation reads (CitationPattern), which the platform writes
// out the way each language writes them.
type Refusal struct {
	// Code names the ground, e.g. "nothing_to_correct": lower case, digits and underscores.
	Code     string `json:"code" validate:"required,refusal_code"`
	Reason   Text   `json:"reason"`
	Citation string `json:"citation" validate:"required,max=200,citation"`
}

// Validate checks a result, including that its id belongs to its request and register.
func (r *Result) Validate() error {
	err := Validate(r)
	ve, _ := AsValidationError(err)
	if err != nil && ve == nil {
		return err
	}
	if ve == nil {
		ve = &ValidationError{}
	}
	if r.TaskID != "" && !taskIDFits(r.TaskID, r.RequestID, r.RegisterID, r.Operation) {
		ve.Add("task_id", "task_id", "must be request_id/register_id, or request_id/register_id/operation for a follow-up task")
	}
	if r.Status != StatusFound && len(r.Records) > 0 {
		ve.Add("records", "status", "may only be given with status found")
	}
	if r.Package != nil {
		switch {
		case r.Status != StatusFound:
			ve.Add("package", "status", "may only be given with status found")
		case len(r.Records) > 0:
			ve.Add("package", "excluded_with", "a result carries records inline or as a package, not both")
		case r.RegisterID != "" && r.Package.Bucket != PackageBucket(r.RegisterID):
			ve.Add("package.bucket", "eq", "must be the register's own package bucket, "+PackageBucket(r.RegisterID))
		case r.TaskID != "" && r.Package.Object != PackageObject(r.TaskID):
			ve.Add("package.object", "eq", "must be the task id, "+PackageObject(r.TaskID))
		}
	}
	return ve.OrNil()
}
