package texts

import (
	"testing"
	"time"

	"kirjaamo.dev/contracts"
)

func TestDatesAreInWordsAndInFinnishTime(t *testing.T) {
	// 22:30 UTC on the 19th is already the 20th in Helsinki: a letter received then shows the 20th.
	at := time.Date(2026, 3, 19, 22, 30, 0, 0, time.UTC)
	for l, want := range map[contracts.Language][2]string{
		contracts.Finnish: {"20. maaliskuuta 2026", "20. maaliskuuta 2026 klo 0.30"},
		contracts.Swedish: {"20 mars 2026", "20 mars 2026 kl. 0.30"},
		contracts.English: {"20 March 2026", "20 March 2026 at 0:30"},
	} {
		if got := In(l).Date(at); got != want[0] {
			t.Errorf("%s: %q, want %q", l, got, want[0])
		}
		if got := In(l).DateTime(at); got != want[1] {
			t.Errorf("%s: %q, want %q", l, got, want[1])
		}
	}
	if got := In(contracts.Swedish).ShortDate(at); got != "2026-03-20" {
		t.Errorf("Swedish short date %q", got)
	}
}

func TestDurationsAreInWords(t *testing.T) {
	for _, c := range []struct {
		period     string
		fi, sv, en string
	}{
		{"P10Y", "10 vuotta", "10 år", "10 years"},
		{"P6M", "6 kuukautta", "6 månader", "6 months"},
		{"P21D", "21 päivää", "21 dagar", "21 days"},
		{"P1Y6M", "1 vuosi ja 6 kuukautta", "1 år och 6 månader", "1 year and 6 months"},
		{"permanent", "pysyvästi", "permanent", "permanently"},
		{"P", "P", "P", "P"},
		{"P1X", "P1X", "P1X", "P1X"},
	} {
		for l, want := range map[contracts.Language]string{contracts.Finnish: c.fi, contracts.Swedish: c.sv, contracts.English: c.en} {
			if got := In(l).Duration(c.period); got != want {
				t.Errorf("%s in %s: %q, want %q", c.period, l, got, want)
			}
		}
	}
}
