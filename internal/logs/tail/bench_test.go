//go:build unix

package tail

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine lines
// per CPU second is the number that compares.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadFile reads a file of 200-byte lines from start to end.
func BenchmarkReadFile(b *testing.B) {
	const lines = 200_000
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	pad := strings.Repeat("x", 200-len(fmt.Sprintf("%s line %07d ", "2026-01-01T00:00:00Z", 0))-1)
	for i := range lines {
		fmt.Fprintf(w, "%s line %07d %s\n", "2026-01-01T00:00:00Z", i, pad)
	}
	w.Flush()
	f.Close()
	b.SetBytes(lines * 200)
	cpu0 := cpuTime()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		tl := New(Options{Patterns: []string{path}, FromBeginning: true, Poll: time.Hour})
		n := 0
		tl.Run(ctx, func(batch []Line) error {
			n += len(batch)
			if n >= lines {
				cancel()
			}
			return nil
		})
		cancel()
		if n != lines {
			b.Fatalf("%d lines, want %d", n, lines)
		}
	}
	total := float64(b.N) * lines
	b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(total/cpu.Seconds(), "lines/cpu-s")
	}
}
