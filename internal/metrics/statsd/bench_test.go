package statsd

import (
	"fmt"
	"testing"
	"time"
)

// benchPackets returns UDP-sized packets (≤ 1432 bytes, etsy's Fast
// Ethernet guideline) mixing every type over 1000 names, and the number of
// metrics they hold.
func benchPackets() ([][]byte, int) {
	var (
		pkts [][]byte
		cur  []byte
		n    int
	)
	for i := range 10000 {
		var line string
		switch i % 5 {
		case 0, 1:
			line = fmt.Sprintf("app.web%02d.requests.status_%d:1|c", i%20, 200+i%7)
		case 2:
			line = fmt.Sprintf("app.web%02d.latency.route%d:%d|ms|@0.5", i%20, i%10, i%250)
		case 3:
			line = fmt.Sprintf("app.web%02d.queue.depth%d:%d|g", i%20, i%10, i%100)
		case 4:
			line = fmt.Sprintf("app.web%02d.users:u%d|s", i%20, i%500)
		}
		if len(cur)+len(line)+1 > 1432 {
			pkts = append(pkts, cur)
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, '\n')
		}
		cur = append(cur, line...)
		n++
	}
	return append(pkts, cur), n
}

func BenchmarkFeed(b *testing.B) {
	pkts, n := benchPackets()
	a := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range pkts {
			a.Feed(p)
		}
		if i%20 == 19 { // flush now and then as the agent would, keeping timers bounded
			a.Flush(time_0, 10*time.Second)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/metric")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "metrics/s")
}

func BenchmarkFeedParallel(b *testing.B) {
	pkts, n := benchPackets()
	a := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			for _, p := range pkts {
				a.Feed(p)
			}
			if i++; i%20 == 0 {
				a.Flush(time_0, 10*time.Second)
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/metric")
}

func BenchmarkFlush(b *testing.B) {
	pkts, _ := benchPackets()
	a := New(Config{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, p := range pkts {
			a.Feed(p)
		}
		b.StartTimer()
		a.Flush(time_0, 10*time.Second)
	}
}
