package event

import (
	"testing"
	"time"

	"corral/internal/api"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func res(status int, executed int64) api.CheckResult {
	return api.CheckResult{Check: "disk", Entity: "db-1", Status: status, Output: api.StatusName(status), Executed: executed, Duration: 0.25}
}

// TestApplySequence walks one (entity, check) through Sensu's occurrence
// and watermark rules.
func TestApplySequence(t *testing.T) {
	steps := []struct {
		status      int
		occ, wm     int
		change      Change
		state       string
		lastOK      int64
		isResolving bool
	}{
		{status: 0, occ: 1, wm: 1, change: Created, state: api.EventPassing, lastOK: 1},
		{status: 0, occ: 2, wm: 2, change: StillOK, state: api.EventPassing, lastOK: 2},
		{status: 2, occ: 1, wm: 1, change: Failed, state: api.EventFailing, lastOK: 2},
		{status: 2, occ: 2, wm: 2, change: StillFailing, state: api.EventFailing, lastOK: 2},
		{status: 2, occ: 3, wm: 3, change: StillFailing, state: api.EventFailing, lastOK: 2},
		{status: 1, occ: 1, wm: 3, change: StatusChanged, state: api.EventFailing, lastOK: 2},
		{status: 0, occ: 1, wm: 3, change: Resolved, state: api.EventPassing, lastOK: 7, isResolving: true},
		{status: 0, occ: 2, wm: 3, change: StillOK, state: api.EventPassing, lastOK: 8},
		{status: 3, occ: 1, wm: 1, change: Failed, state: api.EventFailing, lastOK: 8},
	}
	var prev *api.Event
	spec := api.CheckSpec{Name: "disk", Interval: api.Duration(time.Minute), Handlers: []string{"ops"}}
	for i, s := range steps {
		exec := int64(i + 1)
		next, change := Apply(prev, res(s.status, exec), spec, t0.Add(time.Duration(i)*time.Minute))
		if next.Occurrences != s.occ || next.OccurrencesWatermark != s.wm {
			t.Errorf("step %d (status %d): occurrences %d watermark %d, want %d %d", i, s.status, next.Occurrences, next.OccurrencesWatermark, s.occ, s.wm)
		}
		if change != s.change {
			t.Errorf("step %d: change %v, want %v", i, change, s.change)
		}
		if next.State != s.state || next.LastOK != s.lastOK {
			t.Errorf("step %d: state %q last_ok %d, want %q %d", i, next.State, next.LastOK, s.state, s.lastOK)
		}
		if next.IsResolution() != s.isResolving {
			t.Errorf("step %d: IsResolution %v, want %v", i, next.IsResolution(), s.isResolving)
		}
		if len(next.History) != i+1 || next.History[i] != (api.EventHistory{Status: s.status, Executed: exec}) {
			t.Errorf("step %d: history %v", i, next.History)
		}
		if next.Duration != 0.25 || next.Issued != t0.Add(time.Duration(i)*time.Minute).Unix() {
			t.Errorf("step %d: duration %v issued %d", i, next.Duration, next.Issued)
		}
		if prev != nil && len(prev.History) != i {
			t.Fatalf("step %d: Apply changed prev's history to %d entries", i, len(prev.History))
		}
		prev = &next
	}
}

func TestApplyHistoryCap(t *testing.T) {
	var prev *api.Event
	for i := 1; i <= 30; i++ {
		next, _ := Apply(prev, res(i%2*2, int64(i)), api.CheckSpec{Name: "disk"}, t0)
		prev = &next
	}
	if len(prev.History) != 21 {
		t.Fatalf("history has %d entries, want 21", len(prev.History))
	}
	if prev.History[0].Executed != 10 || prev.History[20].Executed != 30 {
		t.Errorf("history spans executed %d..%d, want 10..30", prev.History[0].Executed, prev.History[20].Executed)
	}
}

func TestApplyExecutedDefaultsToNow(t *testing.T) {
	ev, _ := Apply(nil, res(0, 0), api.CheckSpec{Name: "disk"}, t0)
	if ev.Executed != t0.Unix() || ev.LastOK != t0.Unix() {
		t.Errorf("executed %d last_ok %d, want both %d", ev.Executed, ev.LastOK, t0.Unix())
	}
}

// statuses builds a 21-entry history with state changes at the given
// transitions (1..20: between entry i-1 and i), starting at ok.
func statuses(changes ...int) []int {
	at := map[int]bool{}
	for _, c := range changes {
		at[c] = true
	}
	s := make([]int, 21)
	for i := 1; i < 21; i++ {
		s[i] = s[i-1]
		if at[i] {
			s[i] = 2 - s[i-1]
		}
	}
	return s
}

func hist(s []int) []api.EventHistory {
	h := make([]api.EventHistory, len(s))
	for i, st := range s {
		h[i] = api.EventHistory{Status: st, Executed: int64(i + 1)}
	}
	return h
}

// Weights of transitions 1..20 are 0.80, 0.82, ..., 1.18; the expected
// percentages below are those sums / 20 * 100, truncated, worked by hand.
func TestTotalStateChange(t *testing.T) {
	seq := func(a, b int) []int {
		var out []int
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name    string
		changes []int
		want    int
	}{
		{"steady", nil, 0},
		{"last two", []int{19, 20}, 11},        // 1.16+1.18 = 2.34 → 11.7
		{"last ten", seq(11, 20), 54},          // 8 + 0.02*145 = 10.9 → 54.5
		{"first ten", seq(1, 10), 44},          // 8 + 0.02*45 = 8.9 → 44.5
		{"first fifteen", seq(1, 15), 70},      // 12 + 0.02*105 = 14.1 → 70.5
		{"first only", []int{1}, 4},            // 0.80 → 4
		{"one in the middle", []int{11}, 5},    // 1.00 → 5
		{"every other", []int{2, 4, 6, 8}, 17}, // .82+.86+.90+.94 = 3.52 → 17.6
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TotalStateChange(hist(statuses(tt.changes...))); got != tt.want {
				t.Errorf("TotalStateChange = %d, want %d", got, tt.want)
			}
		})
	}
	if got := TotalStateChange(hist(statuses(seq(1, 20)...))[:20]); got != 0 {
		t.Errorf("20 entries: %d, want 0 (Sensu needs a full window)", got)
	}
}

// TestFlapping applies the 21st result onto a 20-entry history and checks
// the low/high hysteresis.
func TestFlapping(t *testing.T) {
	seq := func(a, b int) []int {
		var out []int
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name      string
		changes   []int
		low, high int
		prevState string
		want      string
	}{
		{"starts at high", seq(11, 20), 20, 50, api.EventPassing, api.EventFlapping},         // 54 >= 50
		{"below high", seq(1, 10), 20, 50, api.EventFailing, api.EventPassing},               // 44 < 50
		{"stays above low", seq(1, 10), 20, 50, api.EventFlapping, api.EventFlapping},        // 44 > 20
		{"stops at low", []int{19, 20}, 11, 50, api.EventFlapping, api.EventPassing},         // 11 <= 11
		{"thresholds off", seq(11, 20), 0, 50, api.EventFlapping, api.EventPassing},          // low 0
		{"exactly high", seq(1, 15), 20, 70, api.EventFailing, api.EventFlapping},            // 70 >= 70 (last result critical)
		{"one above low stays", []int{19, 20}, 10, 50, api.EventFlapping, api.EventFlapping}, // 11 > 10
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := statuses(tt.changes...)
			prev := &api.Event{Entity: "db-1", Check: "disk", Status: s[19], History: hist(s[:20]), State: tt.prevState, LastOK: 5}
			spec := api.CheckSpec{Name: "disk", LowFlapThreshold: tt.low, HighFlapThreshold: tt.high}
			next, _ := Apply(prev, res(s[20], 21), spec, t0)
			if next.State != tt.want {
				t.Errorf("state %q (tsc %d), want %q", next.State, next.TotalStateChange, tt.want)
			}
			wantLastOK := int64(5) // Sensu moves last_ok only when passing
			if tt.want == api.EventPassing {
				wantLastOK = 21
			}
			if next.LastOK != wantLastOK {
				t.Errorf("last_ok %d, want %d", next.LastOK, wantLastOK)
			}
		})
	}
}

func TestExpiredResult(t *testing.T) {
	ka := api.Event{Entity: "web-1", Check: api.KeepaliveCheck, TTL: api.Duration(30 * time.Second)}
	r := ExpiredResult(&ka, t0, t0.Add(31*time.Second))
	if r.Status != api.StatusCritical || r.Output != "No keepalive sent from web-1 for 31 seconds (>= 30)" || r.Executed != t0.Unix()+31 {
		t.Errorf("keepalive expiry = %+v", r)
	}
	ttl := api.Event{Entity: "web-1", Check: "backup", TTL: api.Duration(time.Hour)}
	if r := ExpiredResult(&ttl, t0, t0.Add(time.Hour)); r.Output != "Last check execution was 3600 seconds ago" || r.Status != 2 {
		t.Errorf("ttl expiry = %+v", r)
	}
}
