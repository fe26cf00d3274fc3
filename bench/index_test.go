package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkIndexLoad100k starts a server on a data dir holding 100,000
// whisper files (bench.h000.m00 ... bench.h999.m99; empty files, since the
// index reads only names) and measures the time from the process start until
// /metrics/find sees the last directory walked, i.e. the whole tree is
// indexed. Target: under 2 s.
func BenchmarkIndexLoad100k(b *testing.B) {
	skipUnlessLinux(b)
	parent := b.TempDir()
	dir := filepath.Join(parent, "server")
	for h := range 1000 {
		d := filepath.Join(dir, "whisper", "bench", fmt.Sprintf("h%03d", h))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for m := range 100 {
			f, err := os.Create(filepath.Join(d, fmt.Sprintf("m%02d.wsp", m)))
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	s := newServer(b, dir)
	ready := s.StartReady(b)
	defer stopServer(b, s)
	c := s.Client(b)
	var indexed time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for {
		nodes, err := c.FindMetrics(context.Background(), "bench.h999.*")
		if err == nil && len(nodes) == 100 {
			indexed = time.Since(s.Started)
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("index not loaded after 60 s (last: %d nodes, %v)", len(nodes), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	all, err := c.FindMetrics(context.Background(), "bench.*.*")
	if err != nil || len(all) != 100_000 {
		b.Fatalf("find bench.*.* = %d nodes, %v; want 100000", len(all), err)
	}
	b.ReportMetric(ms(ready), "ready-ms")
	b.ReportMetric(ms(indexed), "indexed-ms")
	b.Logf("100,000 series: server ready after %s, all names indexed %s after start (target < 2 s)", ready.Round(time.Millisecond), indexed.Round(time.Millisecond))
}
