package exec

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"corral/internal/driver"
)

var benchMem, benchCPU = int64(64), 0.1

// BenchmarkStart200 starts 200 `sleep 60` tasks one after the other (as the
// agent does on apply), reports the time per Start and for all 200, then
// stops them (not timed).
func BenchmarkStart200(b *testing.B) { benchStart(b, 1) }

// BenchmarkStart200Parallel8 starts them from 8 goroutines at once.
func BenchmarkStart200Parallel8(b *testing.B) { benchStart(b, 8) }

func benchStart(b *testing.B, workers int) {
	const n = 200
	for i := 0; i < b.N; i++ {
		o := testOptions(b.TempDir())
		if sup := os.Getenv("CORRAL_BENCH_SUPERVISOR"); sup != "" {
			// e.g. a built corral-supervisor, to measure it instead of
			// the test binary.
			o.SupervisorCommand = strings.Fields(sup)
		}
		d, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		hs := make([]driver.Handle, n)
		sandboxes := make([]string, n)
		for j := range sandboxes {
			sandboxes[j] = b.TempDir()
		}
		jobs := make(chan int)
		var started sync.WaitGroup
		var ru0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
		cpu0 := time.Duration(ru0.Utime.Nano() + ru0.Stime.Nano())
		t0 := time.Now()
		for w := 0; w < workers; w++ {
			started.Add(1)
			go func() {
				defer started.Done()
				for j := range jobs {
					h, err := d.Start(context.Background(), driver.Spec{
						ID: fmt.Sprintf("bench-%d-%d", i, j), Sandbox: sandboxes[j], Cmd: "sleep 60", MemMiB: benchMem, CPUs: benchCPU,
					})
					if err != nil {
						b.Error(err)
						continue
					}
					hs[j] = h
				}
			}()
		}
		for j := 0; j < n; j++ {
			jobs <- j
		}
		close(jobs)
		started.Wait()
		el := time.Since(t0)
		b.ReportMetric(float64(el.Milliseconds()), "ms/200starts")
		b.ReportMetric(float64(el.Microseconds())/1000/n, "ms/start")
		b.ReportMetric(float64(el.Microseconds())/1000/n*float64(workers), "ms/start-latency")
		b.StopTimer()
		t1 := time.Now()
		var wg sync.WaitGroup
		for _, h := range hs {
			if h.TaskID == "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.Stop(context.Background(), h, 5*time.Second); err != nil {
					b.Error(err)
				}
				if err := d.Destroy(context.Background(), h); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(time.Since(t1).Milliseconds()), "ms/200stops")
		// CPU used by the supervisors and tasks (reaped by now): the cost
		// of a start that does not depend on how busy the machine is.
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
		cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) - cpu0
		b.ReportMetric(float64(cpu.Microseconds())/1000/n, "child-cpu-ms/task")
		b.StartTimer()
	}
}
