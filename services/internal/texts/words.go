package texts

import (
	"strconv"
	"strings"
	"time"

	_ "time/tzdata" // the Finnish time zone, on a machine without the zone database too

	"kirjaamo.dev/contracts"
)

// Dates, times and durations as people read them: in words, in the language, and in Finnish time,
// whatever zone a time was stored in (a letter received on the 20th is the 20th, not the 19th in UTC).

// Helsinki is the time zone every date and time is shown in.
var Helsinki = mustZone("Europe/Helsinki")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic("texts: " + err.Error()) // embedded by time/tzdata
	}
	return l
}

var months = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}

// Date is a day in words: "20. maaliskuuta 2026", "20 mars 2026", "20 March 2026".
func (t Catalog) Date(at time.Time) string {
	d := at.In(Helsinki)
	return t.T("date.day", d.Day(), t.Of("month", int(d.Month())), d.Year())
}

// DateOf is Date of a time that may be missing, "" for none.
func (t Catalog) DateOf(at *time.Time) string {
	if at == nil {
		return ""
	}
	return t.Date(*at)
}

// DateTime is a day and a time of day: "20. maaliskuuta 2026 klo 14.05".
func (t Catalog) DateTime(at time.Time) string {
	d := at.In(Helsinki)
	return t.T("date.time", t.Date(at), d.Hour(), d.Minute())
}

// ShortDate is a day in figures, for tables and files: "20.3.2026", "2026-03-20", "20/03/2026".
func (t Catalog) ShortDate(at time.Time) string {
	d := at.In(Helsinki)
	return t.T("date.short", d.Day(), int(d.Month()), d.Year())
}

// ShortDateTime is ShortDate with the time of day.
func (t Catalog) ShortDateTime(at time.Time) string {
	d := at.In(Helsinki)
	return t.T("date.short_time", t.ShortDate(at), d.Hour(), d.Minute())
}

// Duration is an ISO 8601 period of whole years, months, weeks and days in words ("P10Y" is "10
// vuotta", "10 år", "10 years"), or "permanently" for contracts.RetentionPermanent. A period it cannot
// read is given as it is.
func (t Catalog) Duration(period string) string {
	if period == contracts.RetentionPermanent {
		return t.T("duration.permanent")
	}
	rest, ok := strings.CutPrefix(period, "P")
	if !ok || rest == "" {
		return period
	}
	var parts []string
	for _, unit := range []struct {
		letter      string
		one, plural string
	}{{"Y", "duration.year", "duration.years"}, {"M", "duration.month", "duration.months"},
		{"W", "duration.week", "duration.weeks"}, {"D", "duration.day", "duration.days"}} {
		number, after, found := strings.Cut(rest, unit.letter)
		if !found {
			continue
		}
		n, err := strconv.Atoi(number)
		if err != nil {
			return period
		}
		key := unit.plural
		if n == 1 {
			key = unit.one
		}
		parts = append(parts, t.T(key, n))
		rest = after
	}
	if rest != "" || len(parts) == 0 {
		return period
	}
	return t.List(parts)
}

// List joins items as the language lists them: "a, b ja c", "a, b och c", "a, b and c".
func (t Catalog) List(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + t.T("list.and") + " " + items[len(items)-1]
}

// Citation writes a citation the way the language writes it (contracts.CitationIn), with the name
// of the statute where known.
func (t Catalog) Citation(ref string, name contracts.Text) string {
	return contracts.CitationIn(ref, t.lang, name)
}
