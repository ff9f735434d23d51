package rating

import "time"

// AddPeriod returns the end of n periods of a prepaid thing bought at
// start: months keep the anchor day of start, clamped to a short month's
// last day (Jan 31 → Feb 29 → Mar 31), as in SPEC §1.
func AddPeriod(start time.Time, months, years, days, n int) time.Time {
	if days > 0 {
		return start.AddDate(0, 0, days*n)
	}
	return addMonthsAnchored(start, (months+12*years)*n)
}

func addMonthsAnchored(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// midnight returns 00:00 of t's day in loc.
func midnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// monthStart returns 00:00 of the first day of t's month in loc.
func monthStart(t time.Time, loc *time.Location) time.Time {
	y, m, _ := t.In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}
