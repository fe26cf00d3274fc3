package jobs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s is missing (Debian package tzdata): %v", name, err)
	}
	return l
}

func TestNext(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name  string
		job   Job
		after time.Time
		want  time.Time
	}{
		{"daily 03:00 Berlin in winter is 02:00 UTC", Job{Schedule: "0 3 * * *", Timezone: "Europe/Berlin"},
			time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)},
		{"daily 03:00 Berlin in summer is 01:00 UTC", Job{Schedule: "0 3 * * *", Timezone: "Europe/Berlin"},
			time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 1, 0, 0, 0, time.UTC)},
		{"no timezone is UTC", Job{Schedule: "0 3 * * *"},
			time.Date(2026, 7, 1, 12, 0, 0, 0, berlin), time.Date(2026, 7, 2, 3, 0, 0, 0, time.UTC)},
		{"@daily New York", Job{Schedule: "@daily", Timezone: "America/New_York"},
			time.Date(2026, 1, 10, 4, 59, 0, 0, time.UTC), time.Date(2026, 1, 10, 0, 0, 0, 0, ny)},
		{"weekdays 09:30", Job{Schedule: "30 9 * * 1-5", Timezone: "Europe/Berlin"},
			time.Date(2026, 11, 27, 9, 30, 0, 0, berlin), time.Date(2026, 11, 30, 9, 30, 0, 0, berlin)}, // Fri → Mon
		{"@every 90m", Job{Schedule: "@every 1h30m"},
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC)},
		{"one-off", Job{}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Next(tt.job, tt.after); !got.Equal(tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextDST(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	daily := Job{Schedule: "30 2 * * *", Timezone: "Europe/Berlin"}
	hourly := Job{Schedule: "30 * * * *", Timezone: "Europe/Berlin"}
	runs := func(job Job, from, until time.Time) []string {
		var out []string
		for t := Next(job, from); t.Before(until); t = Next(job, t) {
			out = append(out, t.UTC().Format("01-02 15:04Z"))
		}
		return out
	}
	// Spring forward, 2026-03-29: 02:00 CET → 03:00 CEST. 02:30 does not
	// exist: no run that day (28th 02:30 CET = 01:30Z, 30th 02:30 CEST = 00:30Z).
	if got, want := strings.Join(runs(daily, time.Date(2026, 3, 27, 12, 0, 0, 0, berlin), time.Date(2026, 3, 31, 0, 0, 0, 0, berlin)), " "), "03-28 01:30Z 03-30 00:30Z"; got != want {
		t.Errorf("spring forward daily: %s, want %s", got, want)
	}
	// Fall back, 2026-10-25: 03:00 CEST → 02:00 CET. 02:30 exists twice:
	// two runs, 00:30Z and 01:30Z.
	if got, want := strings.Join(runs(daily, time.Date(2026, 10, 24, 12, 0, 0, 0, berlin), time.Date(2026, 10, 26, 12, 0, 0, 0, berlin)), " "), "10-25 00:30Z 10-25 01:30Z 10-26 01:30Z"; got != want {
		t.Errorf("fall back daily: %s, want %s", got, want)
	}
	// Hourly on the spring-forward night: 00:30, 01:30 CET, then 03:30 CEST (one hour short).
	if got, want := strings.Join(runs(hourly, time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), time.Date(2026, 3, 29, 4, 0, 0, 0, berlin)), " "), "03-28 23:30Z 03-29 00:30Z 03-29 01:30Z"; got != want {
		t.Errorf("spring forward hourly: %s, want %s", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		job  Job
		want string // a substring of the error; "" for valid
	}{
		{Job{ID: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin", ConcurrencyPolicy: Forbid, StartingDeadline: 5 * time.Minute, Retries: 2}, ""},
		{Job{ID: "once"}, ""},
		{Job{Schedule: "0 3 * * *"}, "id: required"},
		{Job{ID: "x", Schedule: "0 3 * *"}, `schedule "0 3 * *"`},
		{Job{ID: "x", Schedule: "0 0 3 * * *"}, `schedule "0 0 3 * * *"`}, // seconds are not standard
		{Job{ID: "x", Schedule: "@daily", Timezone: "Mars/Olympus"}, `timezone "Mars/Olympus"`},
		{Job{ID: "x", ConcurrencyPolicy: "QUEUE"}, "concurrency_policy"},
		{Job{ID: "x", Retries: -1}, "retries"},
		{Job{ID: "x", StartingDeadline: -time.Second}, "starting_deadline"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.job), func(t *testing.T) {
			err := tt.job.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestOnRunEnded(t *testing.T) {
	job := Job{ID: "x", Retries: 2}
	tests := []struct {
		name        string
		attempt     int
		exit        int
		retry       bool
		nextAttempt int
	}{
		{"success", 1, 0, false, 1},
		{"first failure retries", 1, 1, true, 2},
		{"second failure retries", 2, 3, true, 3},
		{"third failure is final", 3, 1, false, 3},
		{"killed is not retried", 1, KilledExitCode, false, 1},
		{"attempt 0 counts as the first", 0, 1, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, attempt := job.OnRunEnded(Run{ID: "r", Attempt: tt.attempt}, tt.exit)
			if retry != tt.retry || attempt != tt.nextAttempt {
				t.Errorf("OnRunEnded = %v, %d; want %v, %d", retry, attempt, tt.retry, tt.nextAttempt)
			}
		})
	}
	if retry, _ := (Job{ID: "x"}).OnRunEnded(Run{Attempt: 1}, 1); retry {
		t.Error("no retries configured, but retried")
	}
}
