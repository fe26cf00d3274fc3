package jobs

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, berlin) }
	nightly := Job{ID: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Berlin", ConcurrencyPolicy: Forbid, StartingDeadline: 5 * time.Minute, Retries: 2}
	noDeadline := nightly
	noDeadline.StartingDeadline = 0
	every10 := Job{ID: "sync", Schedule: "*/10 * * * *", Timezone: "Europe/Berlin", StartingDeadline: 5 * time.Minute}
	every10NoDeadline := every10
	every10NoDeadline.StartingDeadline = 0
	with := func(j Job, p ConcurrencyPolicy) Job { j.ConcurrencyPolicy = p; return j }
	active := []Run{{ID: "run-1", Scheduled: at(24, 3, 0), Started: at(24, 3, 0), Attempt: 1}}
	missed := func(t time.Time, reason string) Record { return Record{Scheduled: t, Outcome: Missed, Reason: reason} }

	tests := []struct {
		name string
		job  Job
		st   State
		now  time.Time
		want Decision
	}{
		{
			name: "new job: nothing due before its creation",
			job:  nightly, st: State{Since: at(25, 2, 0)}, now: at(25, 2, 30),
			want: Decision{Wake: at(25, 3, 0)},
		},
		{
			name: "schedule changed at 02:00: times before are not due",
			job:  nightly, st: State{LastScheduled: at(20, 3, 0), Since: at(25, 2, 0)}, now: at(25, 2, 30),
			want: Decision{LastScheduled: at(20, 3, 0), Wake: at(25, 3, 0)},
		},
		{
			name: "due on time",
			job:  nightly, st: State{LastScheduled: at(24, 3, 0)}, now: at(25, 3, 0),
			want: Decision{Start: []time.Time{at(25, 3, 0)}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "late within the deadline starts",
			job:  nightly, st: State{LastScheduled: at(24, 3, 0)}, now: at(25, 3, 4),
			want: Decision{Start: []time.Time{at(25, 3, 0)}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "server down at 03:00, back at 03:20, 5m deadline: missed",
			job:  nightly, st: State{LastScheduled: at(24, 3, 0)}, now: at(25, 3, 20),
			want: Decision{Records: []Record{missed(at(25, 3, 0), "starting deadline 5m0s exceeded (20m0s late)")}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "no deadline: the latest missed time runs once, earlier ones are missed",
			job:  noDeadline, st: State{LastScheduled: at(22, 3, 0)}, now: at(25, 9, 0),
			want: Decision{
				Start:         []time.Time{at(25, 3, 0)},
				Records:       []Record{missed(at(23, 3, 0), "superseded by the run of 2026-11-25T03:00:00+01:00"), missed(at(24, 3, 0), "superseded by the run of 2026-11-25T03:00:00+01:00")},
				LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0),
			},
		},
		{
			name: "deadline: older times missed by deadline, latest within it starts",
			job:  every10, st: State{LastScheduled: at(25, 12, 0)}, now: at(25, 12, 33),
			want: Decision{
				Start: []time.Time{at(25, 12, 30)},
				Records: []Record{
					missed(at(25, 12, 10), "starting deadline 5m0s exceeded (23m0s late)"),
					missed(at(25, 12, 20), "starting deadline 5m0s exceeded (13m0s late)"),
				},
				LastScheduled: at(25, 12, 30), Wake: at(25, 12, 40),
			},
		},
		{
			name: "nothing due yet",
			job:  every10, st: State{LastScheduled: at(25, 12, 30)}, now: at(25, 12, 39),
			want: Decision{LastScheduled: at(25, 12, 30), Wake: at(25, 12, 40)},
		},
		{
			name: "FORBID skips while a run is active",
			job:  nightly, st: State{LastScheduled: at(24, 3, 0), Active: active}, now: at(25, 3, 0),
			want: Decision{Records: []Record{{Scheduled: at(25, 3, 0), Outcome: Skipped, Reason: "previous run still active"}}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "empty policy is FORBID",
			job:  with(nightly, ""), st: State{LastScheduled: at(24, 3, 0), Active: active}, now: at(25, 3, 0),
			want: Decision{Records: []Record{{Scheduled: at(25, 3, 0), Outcome: Skipped, Reason: "previous run still active"}}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "REPLACE kills the active run and starts",
			job:  with(nightly, Replace), st: State{LastScheduled: at(24, 3, 0), Active: active}, now: at(25, 3, 0),
			want: Decision{Kill: []string{"run-1"}, Start: []time.Time{at(25, 3, 0)}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "ALLOW starts alongside",
			job:  with(nightly, Allow), st: State{LastScheduled: at(24, 3, 0), Active: active}, now: at(25, 3, 0),
			want: Decision{Start: []time.Time{at(25, 3, 0)}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "a missed run is not skipped: the policy applies only to starts",
			job:  nightly, st: State{LastScheduled: at(24, 3, 0), Active: active}, now: at(25, 3, 20),
			want: Decision{Records: []Record{missed(at(25, 3, 0), "starting deadline 5m0s exceeded (20m0s late)")}, LastScheduled: at(25, 3, 0), Wake: at(26, 3, 0)},
		},
		{
			name: "one-off job: nothing to plan",
			job:  Job{ID: "once"}, st: State{LastScheduled: at(1, 0, 0)}, now: at(25, 3, 0),
			want: Decision{LastScheduled: at(1, 0, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.job, tt.st, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestPlanLongDowntime(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	minutely := Job{ID: "m", Schedule: "* * * * *"}
	// Down for 30 days: 43,200 due minutes, 43,199 missed; the latest runs.
	now := t0.AddDate(0, 0, 30)
	d, err := Plan(minutely, State{LastScheduled: t0}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Start) != 1 || !d.Start[0].Equal(now) || !d.LastScheduled.Equal(now) || !d.Wake.Equal(now.Add(time.Minute)) {
		t.Errorf("Start %v LastScheduled %v Wake %v", d.Start, d.LastScheduled, d.Wake)
	}
	if len(d.Records) != MaxRecords || d.Dropped+len(d.Records) != 30*24*60-1 {
		t.Errorf("%d records + %d dropped, want %d + %d", len(d.Records), d.Dropped, MaxRecords, 30*24*60-1-MaxRecords)
	}
	if first := d.Records[0].Scheduled; !first.Equal(now.Add(-MaxRecords * time.Minute)) {
		t.Errorf("first record at %v, want the latest %d missed", first, MaxRecords)
	}

	// Every second for 3 days with a 1 m deadline: the scan skips ahead;
	// the times within the last minute are all seen and the latest starts.
	secondly := Job{ID: "s", Schedule: "@every 1s", StartingDeadline: time.Minute}
	now = t0.AddDate(0, 0, 3)
	d, err = Plan(secondly, State{LastScheduled: t0}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Start) != 1 || !d.Start[0].Equal(now) || len(d.Records) != MaxRecords || d.Dropped < 100_000 {
		t.Errorf("Start %v, %d records, %d dropped", d.Start, len(d.Records), d.Dropped)
	}
}

func TestManual(t *testing.T) {
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	active := []Run{{ID: "r1"}, {ID: "r2"}}
	tests := []struct {
		policy ConcurrencyPolicy
		active []Run
		want   Decision
	}{
		{Forbid, nil, Decision{Start: []time.Time{now}}},
		{Forbid, active, Decision{Records: []Record{{Scheduled: now, Outcome: Skipped, Reason: "previous run still active"}}}},
		{Replace, active, Decision{Kill: []string{"r1", "r2"}, Start: []time.Time{now}}},
		{Allow, active, Decision{Start: []time.Time{now}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.policy, len(tt.active)), func(t *testing.T) {
			got := Manual(Job{ID: "once", ConcurrencyPolicy: tt.policy}, State{Active: tt.active}, now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Manual = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (Record{Outcome: Skipped, Reason: "previous run still active"}).String(); got != "skipped: previous run still active" {
		t.Errorf("Record.String = %q", got)
	}
}

// BenchmarkPlan10000 plans 10,000 jobs with varied schedules once each, as
// a leader's tick would (schedules parsed on every Plan).
func BenchmarkPlan10000(b *testing.B) {
	schedules := []string{"0 3 * * *", "*/5 * * * *", "30 9 * * 1-5", "@hourly", "@daily", "15,45 * * * *"}
	zones := []string{"", "Europe/Berlin", "America/New_York", "Asia/Tokyo"}
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	jobs := make([]Job, 10_000)
	states := make([]State, len(jobs))
	for i := range jobs {
		jobs[i] = Job{ID: fmt.Sprint("j", i), Schedule: schedules[i%len(schedules)], Timezone: zones[i%len(zones)], StartingDeadline: 5 * time.Minute}
		states[i] = State{LastScheduled: now.Add(-time.Duration(i%120) * time.Minute), Active: []Run{{ID: "r"}}}
	}
	b.Run("parse each time", func(b *testing.B) {
		for b.Loop() {
			for i := range jobs {
				if _, err := Plan(jobs[i], states[i], now); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("compiled", func(b *testing.B) {
		compiled := make([]Compiled, len(jobs))
		for i := range jobs {
			c, err := Compile(jobs[i])
			if err != nil {
				b.Fatal(err)
			}
			compiled[i] = c
		}
		b.Run("behind", func(b *testing.B) {
			for b.Loop() {
				for i := range compiled {
					compiled[i].Plan(states[i], now)
				}
			}
		})
		// The steady tick: each job's last scheduled time is its latest
		// one, nothing is due.
		steady := make([]State, len(jobs))
		for i := range compiled {
			d := compiled[i].Plan(states[i], now)
			steady[i] = State{LastScheduled: d.LastScheduled, Since: now.Add(-time.Hour)}
		}
		b.Run("nothing due", func(b *testing.B) {
			for b.Loop() {
				for i := range compiled {
					if d := compiled[i].Plan(steady[i], now); len(d.Start)+len(d.Records) != 0 {
						b.Fatalf("job %d: %+v", i, d)
					}
				}
			}
		})
	})
}

func TestCompiledMatchesPlan(t *testing.T) {
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	job := Job{ID: "j", Schedule: "*/5 * * * *", Timezone: "Europe/Berlin", StartingDeadline: time.Minute}
	st := State{LastScheduled: now.Add(-17 * time.Minute)}
	want, err := Plan(job, st, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(job)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Plan(st, now); !reflect.DeepEqual(got, want) {
		t.Errorf("Compiled.Plan = %+v, want %+v", got, want)
	}
	if got := c.Next(now); !got.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("Compiled.Next = %v", got)
	}
	if _, err := Compile(Job{ID: "bad", Schedule: "nope"}); err == nil {
		t.Error("Compile accepted a bad schedule")
	}
}

// FuzzPlan checks that no schedule, zone or state makes Plan panic or
// start more than one run, and that a start is never in the future.
func FuzzPlan(f *testing.F) {
	f.Add("0 3 * * *", "Europe/Berlin", int64(0), int64(3600), int64(300))
	f.Add("@every 1s", "", int64(-86400), int64(0), int64(0))
	f.Add("*/5 * * * 1-5", "America/New_York", int64(-7200), int64(-60), int64(60))
	now := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, schedule, zone string, last, since, deadline int64) {
		job := Job{ID: "f", Schedule: schedule, Timezone: zone, StartingDeadline: time.Duration(deadline%86400) * time.Second}
		st := State{LastScheduled: now.Add(time.Duration(last%(7*86400)) * time.Second), Since: now.Add(time.Duration(since%(7*86400)) * time.Second)}
		d, err := Plan(job, st, now)
		if err != nil {
			return
		}
		if len(d.Start) > 1 || (len(d.Start) == 1 && d.Start[0].After(now)) || len(d.Records) > MaxRecords {
			t.Fatalf("Plan(%+v, %+v) = %+v", job, st, d)
		}
	})
}
