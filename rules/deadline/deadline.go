// Package deadline computes the statutory deadlines of a data subject request: one month from
// receipt (GDPR Art 12(3)), counted as Regulation (EEC, Euratom) No 1182/71 counts periods, on the
// Finnish calendar, with the extension to three months and the office's own earlier target.
//
// All dates are calendar dates in Europe/Helsinki, returned as midnight at the start of the day. A
// deadline date means the whole day: an act done on it is in time (Reg. 1182/71 Art 3(2)(c)).
//
// The arithmetic is specified in docs/procedure.md#deadline.
package deadline

import (
	"fmt"
	"time"
	// The deadlines are Helsinki dates wherever the process runs, including containers without
	// a zoneinfo database.
	_ "time/tzdata"
)

// Helsinki is the time zone in which receipt dates and deadlines are counted.
var Helsinki = mustLoad("Europe/Helsinki")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("deadline: " + err.Error())
	}
	return loc
}

// Deadlines are the dates that govern one request.
type Deadlines struct {
	// Received is the date of receipt: the period starts on it, whichever channel it came through
	// and whether or not anyone read it that day (docs/procedure.md#receipt-starts-the-clock).
	Received time.Time `json:"received"`
	// Legal is the last day of the one-month period: the same date in the next month, or that
	// month's last day if there is no such date, moved to the next working day if it is a Saturday,
	// a Sunday or a holiday (Art 12(3); Reg. 1182/71 Art 3(2)(c) and 3(4);
	// docs/procedure.md#counting-one-month).
	Legal time.Time `json:"legal"`
	// InternalTarget is the last working day on or before the unmoved one-month date: the office
	// aims for it, so that moving the deadline for a weekend never becomes a habit of replying late
	// (docs/procedure.md#the-internal-target).
	InternalTarget time.Time `json:"internal_target"`
	// Extended is the deadline after an extension by two further months: receipt plus three months,
	// moved in the same way (Art 12(3)).
	Extended time.Time `json:"extended"`
	// ExtensionDecisionBy is the last day on which an extension can be decided and the subject told
	// of it with reasons: the extension is notified "within one month of receipt" (Art 12(3);
	// docs/procedure.md#extension).
	ExtensionDecisionBy time.Time `json:"extension_decision_by"`
}

// Compute gives the deadlines of a request received at the instant received.
func Compute(received time.Time) Deadlines {
	day := Date(received)
	oneMonth := AddMonths(day, 1)
	legal := nextWorkingDay(oneMonth)
	return Deadlines{
		Received:            day,
		Legal:               legal,
		InternalTarget:      previousWorkingDay(oneMonth),
		Extended:            nextWorkingDay(AddMonths(day, 3)),
		ExtensionDecisionBy: legal,
	}
}

// ExtensionTooLateError says that an extension was decided after the first month had run out; the
// request must then be answered by the one-month deadline, however late that already is.
type ExtensionTooLateError struct {
	DecidedOn, DecisionBy time.Time
}

func (e *ExtensionTooLateError) Error() string {
	return fmt.Sprintf("deadline: an extension decided on %s is too late: Art 12(3) requires it to be decided and notified by %s, within one month of receipt",
		e.DecidedOn.Format(time.DateOnly), e.DecisionBy.Format(time.DateOnly))
}

// CanExtend reports whether an extension decided at decidedAt is allowed for a request received at
// received: nil, or an *ExtensionTooLateError. A decision dated before receipt is refused as well,
// since it cannot be about this request.
func CanExtend(received, decidedAt time.Time) error {
	d := Compute(received)
	decided := Date(decidedAt)
	if decided.Before(d.Received) {
		return fmt.Errorf("deadline: an extension decided on %s precedes the receipt of the request on %s",
			decided.Format(time.DateOnly), d.Received.Format(time.DateOnly))
	}
	if decided.After(d.ExtensionDecisionBy) {
		return &ExtensionTooLateError{DecidedOn: decided, DecisionBy: d.ExtensionDecisionBy}
	}
	return nil
}

// Passed reports whether a deadline date has gone by at the instant now: only from the next day on,
// because the deadline date itself is in time.
func Passed(deadline, now time.Time) bool {
	return Date(now).After(Date(deadline))
}

// Date is the Helsinki calendar date of t, at midnight.
func Date(t time.Time) time.Time {
	y, m, d := t.In(Helsinki).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, Helsinki)
}

// AddMonths is the same day n months later, or that month's last day if it has no such day:
// 31 January plus one month is 28 or 29 February, never 2 or 3 March as time.AddDate would give.
func AddMonths(date time.Time, n int) time.Time {
	y, m, d := date.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, date.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

func nextWorkingDay(date time.Time) time.Time {
	for !IsWorkingDay(date) {
		date = date.AddDate(0, 0, 1)
	}
	return date
}

func previousWorkingDay(date time.Time) time.Time {
	for !IsWorkingDay(date) {
		date = date.AddDate(0, 0, -1)
	}
	return date
}
