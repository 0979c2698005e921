package deadline

import (
	"errors"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, Helsinki)
	if err != nil {
		panic(err)
	}
	return t
}

// The expected dates were checked by hand against a calendar.
func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		why                                 string
		received                            time.Time
		legal, internal, extended, decideBy string
	}{
		{"30 May 2026 is a Saturday: the deadline moves to Monday, the target stays before the weekend",
			day("2026-04-30").Add(14 * time.Hour), "2026-06-01", "2026-05-29", "2026-07-30", "2026-06-01"},
		{"receipt is a Helsinki date: 22:30 UTC on 29 April is 01:30 on 30 April in Helsinki",
			time.Date(2026, 4, 29, 22, 30, 0, 0, time.UTC), "2026-06-01", "2026-05-29", "2026-07-30", "2026-06-01"},
		{"31 January, leap year: 29 February", day("2024-01-31"), "2024-02-29", "2024-02-29", "2024-04-30", "2024-02-29"},
		{"31 January, common year: 28 February", day("2025-01-31"), "2025-02-28", "2025-02-28", "2025-04-30", "2025-02-28"},
		{"31 January 2026: 28 February is a Saturday", day("2026-01-31"), "2026-03-02", "2026-02-27", "2026-04-30", "2026-03-02"},
		{"31 January 2027: 28 February is a Sunday", day("2027-01-31"), "2027-03-01", "2027-02-26", "2027-04-30", "2027-03-01"},
		{"31 March: 30 April, and three months on 30 June", day("2026-03-31"), "2026-04-30", "2026-04-30", "2026-06-30", "2026-04-30"},
		{"Christmas Eve, Christmas Day and a weekend", day("2026-11-24"), "2026-12-28", "2026-12-23", "2027-02-24", "2026-12-28"},
		{"New Year's Day", day("2025-12-01"), "2026-01-02", "2025-12-31", "2026-03-02", "2026-01-02"},
		{"received on Independence Day; Epiphany", day("2025-12-06"), "2026-01-07", "2026-01-05", "2026-03-06", "2026-01-07"},
		{"Good Friday to Easter Monday", day("2026-03-03"), "2026-04-07", "2026-04-02", "2026-06-03", "2026-04-07"},
		{"May Day", day("2026-04-01"), "2026-05-04", "2026-04-30", "2026-07-01", "2026-05-04"},
		{"Ascension Day", day("2026-04-14"), "2026-05-15", "2026-05-13", "2026-07-14", "2026-05-15"},
		{"Midsummer Eve and Day", day("2026-05-19"), "2026-06-22", "2026-06-18", "2026-08-19", "2026-06-22"},
		{"All Saints' Day 2027 is 6 November, a Saturday", day("2027-10-06"), "2027-11-08", "2027-11-05", "2028-01-07", "2027-11-08"},
		{"the three months end on Christmas Eve", day("2025-09-24"), "2025-10-24", "2025-10-24", "2025-12-29", "2025-10-24"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			d := Compute(tc.received)
			for _, c := range []struct {
				name string
				got  time.Time
				want string
			}{{"legal", d.Legal, tc.legal}, {"internal target", d.InternalTarget, tc.internal},
				{"extended", d.Extended, tc.extended}, {"extension decision by", d.ExtensionDecisionBy, tc.decideBy}} {
				if !c.got.Equal(day(c.want)) {
					t.Errorf("%s = %s (%s), want %s", c.name, c.got.Format(time.DateOnly), c.got.Weekday(), c.want)
				}
			}
			if !IsWorkingDay(d.Legal) || !IsWorkingDay(d.InternalTarget) || !IsWorkingDay(d.Extended) {
				t.Error("a deadline falls on a day that is not a working day")
			}
		})
	}
}

func TestEasterHolidays2024To2030(t *testing.T) {
	for year, want := range map[int][5]string{
		2024: {"2024-03-29", "2024-03-31", "2024-04-01", "2024-05-09", "2024-05-19"},
		2025: {"2025-04-18", "2025-04-20", "2025-04-21", "2025-05-29", "2025-06-08"},
		2026: {"2026-04-03", "2026-04-05", "2026-04-06", "2026-05-14", "2026-05-24"},
		2027: {"2027-03-26", "2027-03-28", "2027-03-29", "2027-05-06", "2027-05-16"},
		2028: {"2028-04-14", "2028-04-16", "2028-04-17", "2028-05-25", "2028-06-04"},
		2029: {"2029-03-30", "2029-04-01", "2029-04-02", "2029-05-10", "2029-05-20"},
		2030: {"2030-04-19", "2030-04-21", "2030-04-22", "2030-05-30", "2030-06-09"},
	} {
		names := []string{"Good Friday", "Easter Sunday", "Easter Monday", "Ascension Day", "Whit Sunday"}
		for i, date := range want {
			name, ok := IsHoliday(day(date))
			if !ok || name.EN != names[i] {
				t.Errorf("%d: %s is %q (holiday %v), want %s", year, date, name.EN, ok, names[i])
			}
		}
		// The day after Ascension is an ordinary Friday.
		if _, ok := IsHoliday(day(want[3]).AddDate(0, 0, 1)); ok {
			t.Errorf("%d: the day after Ascension is a holiday", year)
		}
	}
}

func TestFloatingAndFixedHolidays(t *testing.T) {
	for date, want := range map[string]string{
		"2024-06-21": "Midsummer Eve", "2024-06-22": "Midsummer Day", "2024-11-02": "All Saints' Day",
		"2025-06-20": "Midsummer Eve", "2025-06-21": "Midsummer Day", "2025-11-01": "All Saints' Day",
		"2026-06-19": "Midsummer Eve", "2026-06-20": "Midsummer Day", "2026-10-31": "All Saints' Day",
		"2027-06-25": "Midsummer Eve", "2027-06-26": "Midsummer Day", "2027-11-06": "All Saints' Day",
		"2026-01-01": "New Year's Day", "2026-01-06": "Epiphany", "2026-05-01": "May Day", "2026-12-06": "Independence Day",
		"2026-12-24": "Christmas Eve", "2026-12-25": "Christmas Day", "2026-12-26": "Boxing Day",
	} {
		name, ok := IsHoliday(day(date).Add(20 * time.Hour))
		if !ok || name.EN != want {
			t.Errorf("%s is %q (holiday %v), want %s", date, name.EN, ok, want)
		}
		if name.FI == "" || name.SV == "" {
			t.Errorf("%s has no Finnish or Swedish name", date)
		}
	}
	for _, date := range []string{"2026-06-26", "2026-11-07", "2026-12-31", "2026-04-30", "2026-12-27"} {
		if name, ok := IsHoliday(day(date)); ok {
			t.Errorf("%s is not a holiday, but IsHoliday says %s", date, name.EN)
		}
	}
	if n := len(Holidays(2031)); n != 15 {
		t.Errorf("Holidays(2031) has %d days, want 15", n)
	}
}

func TestCanExtend(t *testing.T) {
	received := day("2026-04-30").Add(9 * time.Hour)
	if err := CanExtend(received, day("2026-06-01").Add(23*time.Hour+59*time.Minute)); err != nil {
		t.Errorf("an extension decided on the last day of the first month: %v", err)
	}
	if err := CanExtend(received, received); err != nil {
		t.Errorf("an extension decided on the day of receipt: %v", err)
	}
	err := CanExtend(received, day("2026-06-02"))
	var late *ExtensionTooLateError
	if !errors.As(err, &late) || !late.DecisionBy.Equal(day("2026-06-01")) {
		t.Errorf("an extension decided on 2 June 2026: %v, want ExtensionTooLateError by 2026-06-01", err)
	}
	if err := CanExtend(received, day("2026-04-29")); err == nil || errors.As(err, &late) {
		t.Errorf("an extension decided before receipt: %v, want a plain error", err)
	}
}

func TestPassed(t *testing.T) {
	legal := day("2026-06-01")
	if Passed(legal, legal.Add(23*time.Hour)) {
		t.Error("the deadline has passed on its own day")
	}
	if !Passed(legal, day("2026-06-02")) {
		t.Error("the deadline has not passed on the next day")
	}
}
