package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/metrics/carbon"
)

type countSink struct{ n atomic.Uint64 }

func (s *countSink) Write(pts []carbon.Point) error {
	s.n.Add(uint64(len(pts)))
	return nil
}

// BenchmarkTCPPlain sends 1,000,000 lines per iteration over one loopback
// TCP connection and waits until the sink has them all.
func BenchmarkTCPPlain(b *testing.B) {
	const lines = 1_000_000
	var data []byte
	for i := range lines {
		data = fmt.Appendf(data, "servers.www%02d.cpu.user %d.%d %d\n", i%50, i, i%10, 1700000000+i)
	}
	sink := &countSink{}
	r, err := Listen(Options{PlainAddr: "127.0.0.1:0", Sink: sink, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	addr, _, _ := r.Addrs()
	b.SetBytes(int64(len(data)))
	var want uint64
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(data); err != nil {
			b.Fatal(err)
		}
		c.Close()
		want += lines
		for sink.n.Load() < want {
			time.Sleep(100 * time.Microsecond)
		}
	}
	if s := r.Stats(); s.BadLines != 0 || s.Dropped != 0 {
		b.Fatalf("stats %+v", s)
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "points/s")
}
