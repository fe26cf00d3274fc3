package index

import (
	"fmt"
	"sync"
	"testing"
)

// benchGroups gives every host 10 groups of 10 metrics: 100 series per host,
// so 1,000,000 names are 10,000 hosts, the servers.hostNNNN shape.
var benchGroups = map[string][]string{
	"cpu":    {"user", "system", "idle", "iowait", "nice", "steal", "irq", "softirq", "guest", "guest_nice"},
	"mem":    {"free", "used", "cached", "buffers", "slab", "shared", "available", "total", "swap_free", "swap_used"},
	"load":   {"shortterm", "midterm", "longterm", "procs", "running", "blocked", "forks", "threads", "ctxt", "intr"},
	"net":    {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped", "rx_fifo", "tx_fifo"},
	"disk":   {"reads", "writes", "read_bytes", "write_bytes", "io_time", "weighted_io_time", "pending", "merged_reads", "merged_writes", "discards"},
	"df":     {"used", "free", "reserved", "inodes_used", "inodes_free", "pct_used", "pct_free", "size", "avail", "files"},
	"tcp":    {"established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait", "close", "close_wait", "last_ack", "listen"},
	"nginx":  {"active", "reading", "writing", "waiting", "accepts", "handled", "requests", "2xx", "4xx", "5xx"},
	"proc":   {"total", "running", "sleeping", "zombies", "stopped", "paging", "blocked", "threads", "fds", "forks"},
	"uptime": {"seconds", "days", "boot", "users", "entropy", "clock_skew", "ntp_offset", "ntp_jitter", "ntp_stratum", "leap"},
}

// benchNames returns n names shaped servers.hostNNNN.<group>.<metric>.
func benchNames(n int) []string {
	var perHost []string
	for g, ms := range benchGroups {
		for _, m := range ms {
			perHost = append(perHost, g+"."+m)
		}
	}
	out := make([]string, 0, n)
	for h := 0; len(out) < n; h++ {
		for _, m := range perHost {
			if len(out) == n {
				break
			}
			out = append(out, fmt.Sprintf("servers.host%04d.%s", h, m))
		}
	}
	return out
}

func BenchmarkAdd100k(b *testing.B) {
	names := benchNames(100_000)
	for b.Loop() {
		ix := New()
		for _, n := range names {
			ix.Add(n)
		}
	}
}

var (
	bench1MOnce sync.Once
	bench1M     *Index
)

func BenchmarkFind1M(b *testing.B) {
	bench1MOnce.Do(func() {
		bench1M = New()
		for _, n := range benchNames(1_000_000) {
			bench1M.Add(n)
		}
	})
	for _, q := range []string{"servers.*.cpu.user", "servers.host0042.*", "servers.host004*.cpu.{user,system}", "servers.host0042.cpu.user"} {
		b.Run(q, func(b *testing.B) {
			var n int
			for b.Loop() {
				nodes, err := bench1M.Find(q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(nodes)
			}
			b.ReportMetric(float64(n), "nodes")
		})
	}
}

// BenchmarkTagsAddKnown is the ingest hot path: a point for a tagged series
// the database already holds.
func BenchmarkTagsAddKnown(b *testing.B) {
	tg := NewTags()
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("cpu.user;dc=dc%d;host=host%04d", i%3, i)
		tg.Add(names[i])
	}
	i := 0
	for b.Loop() {
		tg.Add(names[i%len(names)])
		i++
	}
}

func BenchmarkTagsFindSeries(b *testing.B) {
	tg := NewTags()
	for i := range 100_000 {
		tg.Add(fmt.Sprintf("cpu.user;dc=dc%d;host=host%05d;env=%s", i%3, i, []string{"prod", "dev"}[i%2]))
	}
	for b.Loop() {
		if got, err := tg.FindSeries([]string{"dc=dc1", "env=prod", "host=~host0"}); err != nil || len(got) == 0 {
			b.Fatal(len(got), err)
		}
	}
}
