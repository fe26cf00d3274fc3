package event

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the windows below name Europe/Berlin

	"corral/internal/api"
)

func TestShouldHandle(t *testing.T) {
	failing := func(status, occ, wm int) api.Event {
		return api.Event{Entity: "db-1", Check: "disk", Status: status, Occurrences: occ, OccurrencesWatermark: wm,
			History: []api.EventHistory{{Status: 0}, {Status: status}}}
	}
	resolved := func(wm int) api.Event {
		return api.Event{Entity: "db-1", Check: "disk", Status: 0, Occurrences: 1, OccurrencesWatermark: wm,
			History: []api.EventHistory{{Status: 2}, {Status: 0}}}
	}
	ok := api.Event{Entity: "db-1", Check: "disk", Status: 0, Occurrences: 5, OccurrencesWatermark: 5,
		History: []api.EventHistory{{Status: 0}, {Status: 0}}}
	silenced := failing(2, 1, 1)
	MarkSilenced(&silenced, []string{"entity:db-1:*"})
	plain := api.HandlerSpec{Name: "h", Type: "pipe", Command: "x"}
	with := func(filters ...string) api.HandlerSpec { h := plain; h.Filters = filters; return h }
	now := t0
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	three := api.CheckSpec{Name: "disk", Occurrences: 3, Refresh: api.Duration(10 * time.Minute)}
	def := api.CheckSpec{Name: "disk"}

	tests := []struct {
		name   string
		ev     api.Event
		h      api.HandlerSpec
		check  api.CheckSpec
		last   time.Time
		want   bool
		reason string
	}{
		{"ok is no incident", ok, plain, def, time.Time{}, false, "not an incident"},
		{"ok with all", ok, with(api.FilterAll), def, time.Time{}, true, "all results"},
		{"first failure", failing(2, 1, 1), plain, def, time.Time{}, true, "incident"},
		{"still failing, handled a minute ago", failing(2, 2, 2), plain, def, ago(time.Minute), false, "refresh 30m0s"},
		{"still failing, default refresh passed", failing(2, 7, 7), plain, def, ago(30 * time.Minute), true, "refresh"},
		{"still failing, never handled", failing(2, 7, 7), plain, def, time.Time{}, true, "refresh"},
		{"below occurrences", failing(2, 2, 2), plain, three, time.Time{}, false, "occurrences 2 < 3"},
		{"reaches occurrences", failing(2, 3, 3), plain, three, time.Time{}, true, "incident"},
		{"reaches occurrences though handled recently", failing(1, 3, 3), plain, three, ago(time.Second), true, "incident"},
		{"after occurrences, within refresh", failing(2, 4, 4), plain, three, ago(5 * time.Minute), false, "refresh 10m0s"},
		{"after occurrences, refresh due", failing(2, 5, 5), plain, three, ago(10 * time.Minute), true, "refresh"},
		{"state_change: first", failing(2, 1, 1), with(api.FilterStateChange), def, time.Time{}, true, "incident"},
		{"state_change: repeat", failing(2, 9, 9), with(api.FilterStateChange), def, ago(time.Hour), false, "status unchanged"},
		{"resolution", resolved(1), plain, def, ago(time.Second), true, "resolution"},
		{"resolution of handled incident", resolved(3), plain, three, time.Time{}, true, "resolution"},
		{"resolution of unhandled blip", resolved(2), plain, three, time.Time{}, false, "below 3 occurrences"},
		{"resolution with state_change", resolved(1), with(api.FilterStateChange), def, time.Time{}, true, "resolution"},
		{"silenced", silenced, plain, def, time.Time{}, false, "silenced by entity:db-1:*"},
		{"silenced allowed", silenced, with(api.FilterAllowSilenced), def, time.Time{}, true, "incident"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := ShouldHandle(tt.ev, tt.h, tt.check, tt.last, now)
			if got != tt.want || !strings.Contains(why, tt.reason) {
				t.Errorf("ShouldHandle = %v %q, want %v (reason containing %q)", got, why, tt.want, tt.reason)
			}
		})
	}
}

func TestTimeWindows(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-27 is a Friday; Berlin is on CET (UTC+1) then.
	at := func(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, berlin).UTC() }
	if at(27, 12, 0).In(berlin).Weekday() != time.Friday {
		t.Fatal("calendar: 2026-11-27 is not a Friday")
	}
	night := api.TimeWindow{Days: []string{"fri"}, Begin: "22:00", End: "06:00", Timezone: "Europe/Berlin"}
	office := api.TimeWindow{Days: []string{"Mon", "tue", "wed", "thu", "fri"}, Begin: "09:00", End: "17:30"}
	allDay := api.TimeWindow{Days: []string{"sun"}, Begin: "00:00", End: "00:00"}
	tests := []struct {
		name string
		w    api.TimeWindow
		now  time.Time
		want bool
	}{
		{"friday night begins", night, at(27, 22, 0), true},
		{"friday before begin", night, at(27, 21, 59), false},
		{"saturday morning belongs to friday", night, at(28, 1, 0), true},
		{"saturday end is exclusive", night, at(28, 6, 0), false},
		{"saturday night is not friday", night, at(28, 23, 0), false},
		{"friday morning belongs to thursday", night, at(27, 1, 0), false},
		{"22:00 UTC is 23:00 in Berlin", night, time.Date(2026, 11, 27, 21, 30, 0, 0, time.UTC), true},
		{"office hours in UTC", office, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), true},
		{"office closes", office, time.Date(2026, 11, 25, 17, 30, 0, 0, time.UTC), false},
		{"office weekend", office, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), false},
		{"begin equals end: whole day", allDay, time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC), true},
		{"whole day, other day", allDay, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), false},
		{"bad zone never matches", api.TimeWindow{Begin: "00:00", End: "00:00", Timezone: "Nope/Nowhere"}, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InWindows([]api.TimeWindow{tt.w}, tt.now); got != tt.want {
				t.Errorf("InWindows(%v) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
	h := api.HandlerSpec{Name: "h", Type: "pipe", Command: "x", TimeWindows: []api.TimeWindow{night, office}}
	ev := api.Event{Entity: "a", Check: "b", Status: 2, Occurrences: 1, OccurrencesWatermark: 1, History: []api.EventHistory{{Status: 2}}}
	if ok, why := ShouldHandle(ev, h, api.CheckSpec{}, time.Time{}, at(28, 12, 0)); ok || why != "outside time windows" {
		t.Errorf("saturday noon: %v %q, want false \"outside time windows\"", ok, why)
	}
	if ok, _ := ShouldHandle(ev, h, api.CheckSpec{}, time.Time{}, at(28, 5, 0)); !ok {
		t.Error("saturday 05:00 Berlin is inside friday's night window")
	}
}
