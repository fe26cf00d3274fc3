package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/mock"
)

// BenchmarkTaskApply200 assigns 200 mock tasks at once and measures until
// every one is reported running: the runner's own cost per task (record
// written and synced, two status reports marshalled), without a driver's.
func BenchmarkTaskApply200(b *testing.B) {
	const n = 200
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		var running atomic.Int64
		report := func(typ string, data any) error {
			raw, err := json.Marshal(data)
			if err != nil {
				return err
			}
			if typ == "task" && strings.Contains(string(raw), `"state":"running"`) {
				running.Add(1)
			}
			return nil
		}
		drivers := newTaskDrivers(map[string]driver.Driver{mock.Name: mock.New(mock.Options{})}, nil)
		r := newTaskRunner(taskRunnerConfig{Dir: filepath.Join(dir, "tasks"), Node: "n", Drivers: drivers, Report: report})
		ctx, cancel := context.WithCancel(context.Background())
		if err := r.start(ctx); err != nil {
			b.Fatal(err)
		}
		all := map[string]api.TaskAssignment{}
		for j := range n {
			as := mockTask(fmt.Sprintf("app.%d", j), "forever")
			all[as.ID] = as
		}
		b.StartTimer()
		t0 := time.Now()
		r.apply(all, true)
		for running.Load() < n {
			time.Sleep(time.Millisecond)
		}
		el := time.Since(t0)
		b.StopTimer()
		b.ReportMetric(float64(el.Microseconds())/1000, "ms/200tasks")
		b.ReportMetric(float64(el.Microseconds())/1000/n, "ms/task")
		cancel()
		r.wait()
		b.StartTimer()
	}
}

// BenchmarkTaskOutput tails 100,000 lines of 100 bytes from an exec task's
// stdout file into "log" reports (marshalled as the spool does).
func BenchmarkTaskOutput(b *testing.B) {
	const lines = 100000
	line := strings.Repeat("x", 99) + "\n"
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		sb := filepath.Join(dir, "sandbox")
		os.Mkdir(sb, 0o755)
		os.WriteFile(filepath.Join(sb, "stdout"), []byte(strings.Repeat(line, lines)), 0o644)
		var got atomic.Int64
		var reports atomic.Int64
		report := func(typ string, data any) error {
			if _, err := json.Marshal(data); err != nil {
				return err
			}
			got.Add(int64(len(data.([]api.LogEntry))))
			reports.Add(1)
			return nil
		}
		bt := newLogBatcher(report, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		bdone := make(chan struct{})
		go func() { bt.run(ctx); close(bdone) }()
		tail := &logTail{task: "t", app: "/a", node: "n", dir: dir, batcher: bt, now: time.Now, log: slog.New(slog.DiscardHandler)}
		ended := make(chan struct{})
		close(ended) // the task ended: read to the end and stop
		b.StartTimer()
		t0 := time.Now()
		tail.followFiles(ctx, sb, ended)
		el := time.Since(t0)
		b.StopTimer()
		if got.Load() != lines {
			b.Fatalf("%d lines reported, want %d", got.Load(), lines)
		}
		b.ReportMetric(lines/el.Seconds(), "lines/s")
		b.ReportMetric(float64(reports.Load()), "reports")
		cancel()
		<-bdone
		b.StartTimer()
	}
}
