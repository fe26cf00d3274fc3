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
	"corral/internal/driver/exec"
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

// BenchmarkSupervisorStart measures the exec driver's Start with the
// supervisors the agent may use, alternating so both see the same load:
// `corral supervise` of the binary in CORRAL_BENCH_BINARY, and
// corral-supervisor when it lies next to it. It skips without the binary:
//
//	go build -o /tmp/c/corral ./cmd/corral
//	go build -o /tmp/c/corral-supervisor ./internal/driver/exec/cmd/corral-supervisor
//	CORRAL_BENCH_BINARY=/tmp/c/corral go test -run '^$' -bench SupervisorStart ./internal/agent
func BenchmarkSupervisorStart(b *testing.B) {
	bin := os.Getenv("CORRAL_BENCH_BINARY")
	if bin == "" {
		b.Skip("CORRAL_BENCH_BINARY (a built corral binary) is not set")
	}
	cmds := map[string][]string{"corral-supervise": {bin, "supervise"}}
	if small := supervisorCommand(bin); len(small) == 1 {
		cmds["corral-supervisor"] = small
	}
	const starts = 40
	for i := 0; i < b.N; i++ {
		total := map[string]time.Duration{}
		drivers := map[string]*exec.Driver{}
		for name, cmd := range cmds {
			d, err := exec.New(exec.Options{SupervisorCommand: cmd, StateDir: b.TempDir(), Poll: 10 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			drivers[name] = d
		}
		for j := range starts {
			for name, d := range drivers {
				spec := driver.Spec{ID: fmt.Sprintf("t%d-%d", i, j), Sandbox: b.TempDir(), Cmd: "true"}
				t0 := time.Now()
				h, err := d.Start(context.Background(), spec)
				total[name] += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				d.Wait(context.Background(), h)
				d.Destroy(context.Background(), h)
			}
		}
		for name, d := range total {
			b.ReportMetric(float64(d.Microseconds())/1000/starts, "ms/start("+name+")")
		}
	}
}
