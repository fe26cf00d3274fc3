package event

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
)

// DefaultRefresh is how often a failing event is handled again when its
// check sets no refresh (Sensu 1.x's default of 1800 s).
const DefaultRefresh = 30 * time.Minute

// ShouldHandle decides whether handler h gets ev now, and says why in a few
// words (for logs and debugging). check is the check's
// spec (occurrences, refresh); lastHandled is when h last got this event
// (zero: never). Silences are already marked on ev (MarkSilenced).
//
// The filters, in order:
//   - not silenced, unless h has allow_silenced;
//   - incidents (unless h has all): non-ok results, and the resolution;
//   - a resolution passes when the incident reached check.Occurrences
//     (Sensu's watermark rule, so unhandled blips resolve silently);
//   - non-ok: occurrences must reach check.Occurrences (default 1); the
//     result that reaches it passes, later ones pass every check.Refresh
//     (default DefaultRefresh) since lastHandled — unless h has state_change,
//     which passes only the first (a status change confirmed N times);
//   - time windows: what passed must fall inside one of h's windows, when
//     it has any.
func ShouldHandle(ev api.Event, h api.HandlerSpec, check api.CheckSpec, lastHandled, now time.Time) (bool, string) {
	if ev.IsSilenced && !h.HasFilter(api.FilterAllowSilenced) {
		return false, "silenced by " + strings.Join(ev.Silenced, ", ")
	}
	resolution := ev.IsResolution()
	if ev.Status == api.StatusOK && !resolution && !h.HasFilter(api.FilterAll) {
		return false, "not an incident"
	}
	ok, why := decide(ev, h, check, resolution, lastHandled, now)
	// Windows last: loading their time zones costs more than the rest.
	if ok && len(h.TimeWindows) > 0 && !InWindows(h.TimeWindows, now) {
		return false, "outside time windows"
	}
	return ok, why
}

// decide applies the occurrence, refresh and resolution rules.
func decide(ev api.Event, h api.HandlerSpec, check api.CheckSpec, resolution bool, lastHandled, now time.Time) (bool, string) {
	need := max(check.Occurrences, 1)
	if resolution {
		if ev.OccurrencesWatermark < need {
			return false, fmt.Sprintf("resolution of an incident below %d occurrences", need)
		}
		return true, "resolution"
	}
	if ev.Status == api.StatusOK {
		return true, "all results"
	}
	switch {
	case ev.Occurrences < need:
		return false, fmt.Sprintf("occurrences %d < %d", ev.Occurrences, need)
	case ev.Occurrences == need:
		return true, "incident"
	case h.HasFilter(api.FilterStateChange):
		return false, "status unchanged"
	}
	refresh := time.Duration(check.Refresh)
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	if lastHandled.IsZero() || now.Sub(lastHandled) >= refresh {
		return true, "refresh"
	}
	return false, fmt.Sprintf("handled %s ago, refresh %s", now.Sub(lastHandled).Truncate(time.Second), refresh)
}

// InWindows reports whether now falls inside any of the windows.
func InWindows(ws []api.TimeWindow, now time.Time) bool {
	for i := range ws {
		if inWindow(&ws[i], now) {
			return true
		}
	}
	return false
}

// inWindow: a window with End <= Begin crosses midnight and belongs to the
// day it begins; Begin == End is the whole day. Invalid windows never match.
func inWindow(w *api.TimeWindow, now time.Time) bool {
	loc := time.UTC
	if w.Timezone != "" {
		l, err := time.LoadLocation(w.Timezone)
		if err != nil {
			return false
		}
		loc = l
	}
	b, err1 := time.Parse("15:04", w.Begin)
	e, err2 := time.Parse("15:04", w.End)
	if err1 != nil || err2 != nil {
		return false
	}
	t := now.In(loc)
	m := t.Hour()*60 + t.Minute()
	bm, em := b.Hour()*60+b.Minute(), e.Hour()*60+e.Minute()
	dayOK := func(d time.Weekday) bool {
		return len(w.Days) == 0 || slices.ContainsFunc(w.Days, func(s string) bool {
			return strings.EqualFold(s, api.WeekDays[d])
		})
	}
	switch {
	case bm == em:
		return dayOK(t.Weekday())
	case bm < em:
		return m >= bm && m < em && dayOK(t.Weekday())
	}
	// Across midnight: the evening part today, or the morning part of a
	// window that began yesterday.
	return (m >= bm && dayOK(t.Weekday())) || (m < em && dayOK((t.Weekday()+6)%7))
}
