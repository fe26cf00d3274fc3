package health

import (
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	check := Check{Protocol: HTTP, Path: "/health", GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3}
	type obs struct {
		at  time.Duration // after the start
		ok  bool
		msg string
	}
	type want struct {
		state       State
		alive       bool
		consecutive int
		reason      string
	}
	tests := []struct {
		name  string
		check Check
		obs   []obs
		want  want
	}{
		{
			name: "no result yet",
			want: want{state: Unknown, alive: true},
		},
		{
			name: "failures in the grace period are ignored",
			obs:  []obs{{0, false, "connection refused"}, {5 * time.Second, false, "connection refused"}, {25 * time.Second, false, "connection refused"}, {29 * time.Second, false, "status 503"}},
			want: want{state: Unknown, alive: true},
		},
		{
			name: "failures after the grace period count",
			obs:  []obs{{10 * time.Second, false, "connection refused"}, {30 * time.Second, false, "status 503"}, {35 * time.Second, false, "status 503"}},
			want: want{state: Unhealthy, alive: true, consecutive: 2, reason: "health check HTTP /health failed 2 times: status 503"},
		},
		{
			name: "three failures after the grace period kill",
			obs:  []obs{{30 * time.Second, false, "status 503"}, {35 * time.Second, false, "status 503"}, {40 * time.Second, false, "status 503"}},
			want: want{state: Unhealthy, alive: false, consecutive: 3, reason: "health check HTTP /health failed 3 times: status 503"},
		},
		{
			name: "after a first success the grace period no longer applies",
			obs:  []obs{{1 * time.Second, true, "status 200"}, {5 * time.Second, false, "connection refused"}, {10 * time.Second, false, "connection refused"}, {15 * time.Second, false, "connection refused"}},
			want: want{state: Unhealthy, alive: false, consecutive: 3, reason: "health check HTTP /health failed 3 times: connection refused"},
		},
		{
			name: "a success resets the count",
			obs:  []obs{{30 * time.Second, false, "status 503"}, {35 * time.Second, false, "status 503"}, {40 * time.Second, true, "status 200"}, {45 * time.Second, false, "status 500"}, {50 * time.Second, false, "status 500"}},
			want: want{state: Unhealthy, alive: true, consecutive: 2, reason: "health check HTTP /health failed 2 times: status 500"},
		},
		{
			name: "healthy",
			obs:  []obs{{2 * time.Second, false, "connection refused"}, {7 * time.Second, true, "status 200"}},
			want: want{state: Healthy, alive: true},
		},
		{
			name:  "max consecutive failures 0 never kills",
			check: Check{Protocol: TCP, GracePeriod: 0, Interval: time.Second, Timeout: time.Second},
			obs:   []obs{{1 * time.Second, false, "connection refused"}, {2 * time.Second, false, "connection refused"}, {3 * time.Second, false, "connection refused"}, {4 * time.Second, false, "connection refused"}, {5 * time.Second, false, "connection refused"}},
			want:  want{state: Unhealthy, alive: true, consecutive: 5, reason: "health check TCP failed 5 times: connection refused"},
		},
		{
			name:  "one failure says time",
			check: Check{Protocol: COMMAND, Command: "false", Interval: time.Second, Timeout: time.Second, MaxConsecutiveFailures: 1},
			obs:   []obs{{0, false, "exit code 1"}},
			want:  want{state: Unhealthy, alive: false, consecutive: 1, reason: "health check COMMAND failed 1 time: exit code 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := check
			if tt.check.Protocol != "" {
				c = tt.check
			}
			tr := NewTracker(c, t0)
			for _, o := range tt.obs {
				tr.Observe(o.ok, o.msg, t0.Add(o.at))
			}
			got := want{state: tr.State(), alive: tr.Alive(), consecutive: tr.ConsecutiveFailures(), reason: tr.LastFailure().Reason}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTrackerObserveReportsChanges(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tr := NewTracker(Check{Protocol: TCP, GracePeriod: 10 * time.Second, Interval: time.Second, Timeout: time.Second, MaxConsecutiveFailures: 2}, t0)
	steps := []struct {
		at      time.Duration
		ok      bool
		changed bool
	}{
		{1 * time.Second, false, false}, // grace
		{2 * time.Second, true, true},   // unknown → healthy
		{3 * time.Second, true, false},  // still healthy
		{4 * time.Second, false, true},  // → unhealthy
		{5 * time.Second, false, true},  // alive → false
		{6 * time.Second, false, false}, // nothing new
		{7 * time.Second, true, true},   // → healthy, alive again
	}
	for i, s := range steps {
		if got := tr.Observe(s.ok, "x", t0.Add(s.at)); got != s.changed {
			t.Errorf("step %d: changed = %v, want %v", i, got, s.changed)
		}
	}
	if got := tr.LastFailure().At; !got.Equal(t0.Add(6 * time.Second)) {
		t.Errorf("LastFailure.At = %v, want %v", got, t0.Add(6*time.Second))
	}
}

func TestCheckValidate(t *testing.T) {
	tests := []struct {
		name  string
		check Check
		ok    bool
	}{
		{"defaults", Check{}.WithDefaults(), true},
		{"issue example", Check{Protocol: HTTP, Path: "/health", GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3}, true},
		{"command without command", Check{Protocol: COMMAND}.WithDefaults(), false},
		{"command", Check{Protocol: COMMAND, Command: "true"}.WithDefaults(), true},
		{"bad protocol", Check{Protocol: "UDP"}.WithDefaults(), false},
		{"timeout over interval", Check{Protocol: TCP, Interval: time.Second, Timeout: 2 * time.Second}, false},
		{"negative failures", Check{Protocol: TCP, MaxConsecutiveFailures: -1}.WithDefaults(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if d := (Check{}).WithDefaults(); d.Path != "/" || d.Interval != 60*time.Second || d.Timeout != 20*time.Second || d.GracePeriod != 300*time.Second {
		t.Errorf("WithDefaults = %+v", d)
	}
}

func TestCombine(t *testing.T) {
	tests := []struct {
		in   []State
		want State
	}{
		{nil, Unknown},
		{[]State{Healthy}, Healthy},
		{[]State{Healthy, Healthy}, Healthy},
		{[]State{Healthy, Unknown}, Unknown},
		{[]State{Unknown, Unhealthy, Healthy}, Unhealthy},
		{[]State{Healthy, Unhealthy}, Unhealthy},
	}
	for _, tt := range tests {
		if got := Combine(tt.in...); got != tt.want {
			t.Errorf("Combine(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
