//go:build linux

package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRound runs one round of the default checks plus 50 builtins
// (10 each of cpu, memory, load, disk and file_age) and reports the CPU
// time of a round and what that is as a share of one core when a round
// runs every 10 s.
func BenchmarkRound(b *testing.B) {
	file := filepath.Join(b.TempDir(), "heartbeat")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	specs := Defaults()
	for i := range 10 {
		iv := api.Duration(10 * time.Second)
		specs = append(specs,
			api.CheckSpec{Name: fmt.Sprintf("cpu%d", i), Builtin: "cpu", Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("mem%d", i), Builtin: "memory", Args: map[string]any{"warning": 80.0}, Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("load%d", i), Builtin: "load", Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("disk%d", i), Builtin: "disk", Args: map[string]any{"path": "/"}, Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("age%d", i), Builtin: "file_age", Args: map[string]any{"path": file}, Interval: iv},
		)
	}
	s := NewScheduler(SchedulerOptions{Node: "n1"})
	entries := make([]*entry, len(specs))
	for i, spec := range specs {
		entries[i] = s.newEntry(spec, runKey(spec), time.Now())
		if entries[i].invalid != "" {
			b.Fatalf("%s: %s", spec.Name, entries[i].invalid)
		}
	}
	ctx := context.Background()
	round := func() {
		for _, e := range entries {
			if r := s.execute(ctx, e, e.spec); r.Status == api.StatusUnknown {
				b.Fatalf("%s: %s", r.Check, r.Output)
			}
		}
	}
	round() // the cpu checks take their first sample
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		round()
	}
	used := cpuTime(b) - start
	perRound := used / time.Duration(b.N)
	b.ReportMetric(float64(perRound)/float64(time.Millisecond), "cpu-ms/round")
	b.ReportMetric(float64(perRound)/float64(10*time.Second)*100, "%core@10s")
	b.ReportMetric(float64(len(entries)), "checks")
}

// BenchmarkSchedulerLive runs the same 55 checks through a Scheduler on
// the real clock at a 1 s interval; one op is one round of 55 results. It
// reports CPU per round including the scheduler's own loop and goroutines.
func BenchmarkSchedulerLive(b *testing.B) {
	file := filepath.Join(b.TempDir(), "heartbeat")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	iv := api.Duration(time.Second)
	var specs []api.CheckSpec
	for _, d := range Defaults() {
		d.Interval = iv
		specs = append(specs, d)
	}
	for i := range 10 {
		specs = append(specs,
			api.CheckSpec{Name: fmt.Sprintf("cpu%d", i), Builtin: "cpu", Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("mem%d", i), Builtin: "memory", Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("load%d", i), Builtin: "load", Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("disk%d", i), Builtin: "disk", Args: map[string]any{"path": "/"}, Interval: iv},
			api.CheckSpec{Name: fmt.Sprintf("age%d", i), Builtin: "file_age", Args: map[string]any{"path": file}, Interval: iv},
		)
	}
	results := make(chan api.CheckResult, 1000)
	s := NewScheduler(SchedulerOptions{Node: "n1", Deliver: func(r api.CheckResult) { results <- r }})
	s.Update(specs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	wait := func() {
		for range len(specs) {
			if r := <-results; r.Status == api.StatusUnknown {
				b.Errorf("%s: %s", r.Check, r.Output)
			}
		}
	}
	wait() // first round: the cpu checks take their first samples
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		wait()
	}
	used := cpuTime(b) - start
	b.StopTimer()
	cancel()
	<-done
	perRound := used / time.Duration(b.N)
	b.ReportMetric(float64(perRound)/float64(time.Millisecond), "cpu-ms/round")
	b.ReportMetric(float64(perRound)/float64(10*time.Second)*100, "%core@10s")
}

// BenchmarkExecTrue is the cost of one trivial command check (fork+exec of
// sh), for comparison with the builtins.
func BenchmarkExecTrue(b *testing.B) {
	start := cpuTime(b)
	for b.Loop() {
		if o := Exec(context.Background(), "true", ExecOptions{}); o.Status != 0 {
			b.Fatal(o.Output)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
}

func BenchmarkParsePerfdata(b *testing.B) {
	perf := "/=22784507904B;216442024755;243497277849;0;270552530944 'free space'=12GB time=0.002s;;;0.000000 size=612B;;;0"
	for b.Loop() {
		if _, err := ParsePerfdata(perf); err != nil {
			b.Fatal(err)
		}
	}
}
