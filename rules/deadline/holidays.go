package deadline

import (
	"time"

	"kirjaamo.dev/contracts"
)

// Holiday is a Finnish public holiday, or one of the eves on which public offices are closed
// (Midsummer Eve, Christmas Eve), on which a Finnish time limit does not end either (Act 150/1930
// s. 5). See docs/procedure.md#weekends-and-finnish-holidays.
type Holiday struct {
	Date time.Time      `json:"date"`
	Name contracts.Text `json:"name"`
}

var (
	newYear      = contracts.Text{FI: "Uudenvuodenpäivä", SV: "Nyårsdagen", EN: "New Year's Day"}
	epiphany     = contracts.Text{FI: "Loppiainen", SV: "Trettondedag jul", EN: "Epiphany"}
	goodFriday   = contracts.Text{FI: "Pitkäperjantai", SV: "Långfredagen", EN: "Good Friday"}
	easterSunday = contracts.Text{FI: "Pääsiäispäivä", SV: "Påskdagen", EN: "Easter Sunday"}
	easterMonday = contracts.Text{FI: "Toinen pääsiäispäivä", SV: "Annandag påsk", EN: "Easter Monday"}
	mayDay       = contracts.Text{FI: "Vappu", SV: "Första maj", EN: "May Day"}
	ascension    = contracts.Text{FI: "Helatorstai", SV: "Kristi himmelsfärdsdag", EN: "Ascension Day"}
	whitsun      = contracts.Text{FI: "Helluntaipäivä", SV: "Pingstdagen", EN: "Whit Sunday"}
	midsummerEve = contracts.Text{FI: "Juhannusaatto", SV: "Midsommarafton", EN: "Midsummer Eve"}
	midsummerDay = contracts.Text{FI: "Juhannuspäivä", SV: "Midsommardagen", EN: "Midsummer Day"}
	allSaints    = contracts.Text{FI: "Pyhäinpäivä", SV: "Alla helgons dag", EN: "All Saints' Day"}
	independence = contracts.Text{FI: "Itsenäisyyspäivä", SV: "Självständighetsdagen", EN: "Independence Day"}
	christmasEve = contracts.Text{FI: "Jouluaatto", SV: "Julafton", EN: "Christmas Eve"}
	christmasDay = contracts.Text{FI: "Joulupäivä", SV: "Juldagen", EN: "Christmas Day"}
	boxingDay    = contracts.Text{FI: "Tapaninpäivä", SV: "Annandag jul", EN: "Boxing Day"}
)

// Holidays lists the year's Finnish holidays in date order, dates at midnight in Helsinki.
func Holidays(year int) []Holiday {
	day := func(m time.Month, d int) time.Time { return time.Date(year, m, d, 0, 0, 0, 0, Helsinki) }
	easter := easterSundayOf(year)
	// Midsummer Day is the Saturday from 20 to 26 June, its eve the Friday before; All Saints' Day is
	// the Saturday from 31 October to 6 November.
	midsummer := firstWeekdayFrom(day(time.June, 20), time.Saturday)
	saints := firstWeekdayFrom(day(time.October, 31), time.Saturday)
	return []Holiday{
		{day(time.January, 1), newYear},
		{day(time.January, 6), epiphany},
		{easter.AddDate(0, 0, -2), goodFriday},
		{easter, easterSunday},
		{easter.AddDate(0, 0, 1), easterMonday},
		{day(time.May, 1), mayDay},
		{easter.AddDate(0, 0, 39), ascension},
		{easter.AddDate(0, 0, 49), whitsun},
		{midsummer.AddDate(0, 0, -1), midsummerEve},
		{midsummer, midsummerDay},
		{saints, allSaints},
		{day(time.December, 6), independence},
		{day(time.December, 24), christmasEve},
		{day(time.December, 25), christmasDay},
		{day(time.December, 26), boxingDay},
	}
}

// IsHoliday reports whether the Helsinki date of t is a Finnish holiday, and its name.
func IsHoliday(t time.Time) (name contracts.Text, ok bool) {
	date := Date(t)
	for _, h := range Holidays(date.Year()) {
		if h.Date.Equal(date) {
			return h.Name, true
		}
	}
	return contracts.Text{}, false
}

// IsWorkingDay reports whether the Helsinki date of t is neither a weekend day nor a holiday.
func IsWorkingDay(t time.Time) bool {
	date := Date(t)
	if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, holiday := IsHoliday(date)
	return !holiday
}

// firstWeekdayFrom is the first day on or after from that is a wd.
func firstWeekdayFrom(from time.Time, wd time.Weekday) time.Time {
	return from.AddDate(0, 0, (int(wd)-int(from.Weekday())+7)%7)
}

// easterSundayOf is Easter Sunday of the Gregorian calendar, by the anonymous Gregorian algorithm
// (Meeus/Jones/Butcher), valid for every year.
func easterSundayOf(year int) time.Time {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, Helsinki)
}
