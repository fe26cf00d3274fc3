package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	corral.cleanup()
	os.Exit(code)
}

// startSamples is how many times each start is measured.
const startSamples = 5

// BenchmarkServerStart measures `corral server` with embedded etcd from
// process start until GET /readyz answers 200: on a fresh data dir (CA,
// etcd member, history store and admin token created) and on restart with
// an existing one. Target: under 1.5 s each.
func BenchmarkServerStart(b *testing.B) {
	skipUnlessLinux(b)
	b.Run("fresh", func(b *testing.B) {
		parent := b.TempDir()
		var ds []time.Duration
		for i := range startSamples {
			s := newServer(b, filepath.Join(parent, fmt.Sprintf("server-%d", i)))
			ds = append(ds, s.StartReady(b))
			stopServer(b, s)
		}
		reportStarts(b, "fresh data dir", ds)
	})
	b.Run("restart", func(b *testing.B) {
		s := newServer(b, filepath.Join(b.TempDir(), "server"))
		s.StartReady(b)
		// Some state to load, as a real cluster has: a few tokens.
		for range 3 {
			s.JoinToken(b)
		}
		stopServer(b, s)
		var ds []time.Duration
		for range startSamples {
			ds = append(ds, s.StartReady(b))
			stopServer(b, s)
		}
		reportStarts(b, "existing data dir", ds)
	})
}

func stopServer(tb testing.TB, s *Server) {
	tb.Helper()
	if err := s.Stop(); err != nil {
		tb.Logf("stop server: %v\n%s", err, s.LogTail(10))
	}
}

func reportStarts(b *testing.B, what string, ds []time.Duration) {
	d := distOf(ds)
	b.ReportMetric(float64(d.P50.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(d.P50), "ready-ms-median")
	b.ReportMetric(ms(d.Max), "ready-ms-max")
	b.Logf("server start to ready, %s: %s over %d starts (target < 1500 ms); each: %v", what, d, len(ds), rounded(ds))
}

// rounded formats durations to the millisecond.
func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// BenchmarkAgentJoin measures a real `corral agent` from process start with a
// join token until its node shows status ready in GET /api/v1/nodes/{name}:
// key and CSR, join, certificate, facts, hello, lease. Target: under 1 s.
func BenchmarkAgentJoin(b *testing.B) {
	skipUnlessLinux(b)
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	c := s.Client(b)
	token := s.JoinToken(b)
	var ds []time.Duration
	for i := range startSamples {
		name := fmt.Sprintf("join-%d", i)
		ag := startAgent(b, s, parent, name, token)
		at, err := waitNodeReady(context.Background(), c, name, ag)
		ag.Stop()
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, at.Sub(ag.Started))
	}
	d := distOf(ds)
	b.ReportMetric(float64(d.P50.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(d.P50), "ready-ms-median")
	b.ReportMetric(ms(d.Max), "ready-ms-max")
	b.Logf("agent start to node ready: %s over %d joins (target < 1000 ms); each: %v", d, len(ds), rounded(ds))
}

// BenchmarkIdleAgent measures a real `corral agent` joined to a server and
// doing nothing but heartbeats and its watch: CPU and RSS over 60 s after
// 10 s of settling. Target: under 40 MB RSS and under 1% of a core.
func BenchmarkIdleAgent(b *testing.B) {
	skipUnlessLinux(b)
	const settle, window = 10 * time.Second, 60 * time.Second
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	ag := startAgent(b, s, parent, "idle", s.JoinToken(b))
	defer ag.Stop()
	if _, err := waitNodeReady(context.Background(), s.Client(b), "idle", ag); err != nil {
		b.Fatal(err)
	}
	time.Sleep(settle)
	srvUse := make(chan Usage, 1)
	go func() {
		u, _ := measure(context.Background(), s.PID(), window)
		srvUse <- u
	}()
	self0, _ := cpuTime(os.Getpid())
	u, err := measure(context.Background(), ag.PID(), window)
	if err != nil {
		b.Fatal(err)
	}
	self1, _ := cpuTime(os.Getpid())
	su := <-srvUse
	others := u.MachineBusy - u.CPUPercent() - su.CPUPercent() - 100*(self1-self0).Seconds()/u.Wall.Seconds()
	b.ReportMetric(u.CPUPercent(), "agent-cpu-%")
	b.ReportMetric(mb(u.RSSAvg), "rss-MB")
	b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
	b.ReportMetric(mb(u.HWM), "hwm-MB")
	b.ReportMetric(su.CPUPercent(), "server-cpu-%")
	b.ReportMetric(others, "other-cpu-%")
	b.Logf("idle agent over %s after %s settling: CPU %.2f%% of a core (%s), RSS avg %.1f MB, max %.1f MB, peak (VmHWM) %.1f MB (targets < 1%%, < 40 MB); server with one agent: CPU %.2f%%, RSS %.1f MB",
		u.Wall.Round(time.Second), settle, u.CPUPercent(), u.CPU, mb(u.RSSAvg), mb(u.RSSMax), mb(u.HWM),
		su.CPUPercent(), mb(su.RSSEnd))
	b.Logf("machine: %.0f%% of a core busy, %.0f%% of it other processes", u.MachineBusy, others)
}
