package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/metrics/carbon"
)

// countingSink accepts connections on loopback and counts received lines.
func countingSink(b *testing.B) (addr string, lines *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	lines = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					n, err := c.Read(buf)
					lines.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), lines
}

// BenchmarkRelay measures points per second from Write to a loopback
// carbon receiver (lines counted there), with a producer that waits when
// the queue is half full so that nothing is dropped.
func BenchmarkRelay(b *testing.B) { benchRelay(b, false) }

// BenchmarkRelayRules routes every point through relay rules (a pattern
// rule that continues and the default rule) to the same sink.
func BenchmarkRelayRules(b *testing.B) { benchRelay(b, true) }

func benchRelay(b *testing.B, withRules bool) {
	addr, received := countingSink(b)
	const queue = 1 << 20
	opts := Options{Destinations: []string{addr}, QueueSize: queue, FlushInterval: time.Millisecond}
	if withRules {
		opts.Destinations = nil
		opts.Rules = []Rule{
			{Name: "cpu", Pattern: regexp.MustCompile(`(?i)\.cpu\.`), Destinations: []string{addr}, Continue: true},
			{Name: "default", Destinations: []string{addr}},
		}
	}
	r, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	batch := make([]carbon.Point, 1000)
	for i := range batch {
		batch[i] = carbon.Point{Name: fmt.Sprintf("servers.host%03d.cpu.total.user", i), Value: float64(i) * 1.5, Time: 1764000000}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		n := min(len(batch), b.N-sent)
		r.Write(batch[:n])
		sent += n
		for r.Stats()[0].Queued > queue/2 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	for received.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if st := r.Stats()[0]; st.Dropped != 0 {
		b.Fatalf("dropped %d points", st.Dropped)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "points/s")
}

// BenchmarkAppendLine formats one plaintext line.
func BenchmarkAppendLine(b *testing.B) {
	p := carbon.Point{Name: "servers.host001.cpu.total.user", Value: 12.75, Time: 1764000000}
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf = AppendLine(buf[:0], p)
	}
	_, _ = io.Discard.Write(buf)
}
