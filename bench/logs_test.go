package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// BenchmarkLogsEndToEnd measures the whole log path on one machine: a real
// agent follows an nginx access log (a LogInput with the combined parser),
// parses every line, spools it and ships it to a real server, which
// indexes it in its log store. The file is written before the LogInput is
// applied (from_beginning), so the agent reads as fast as it can; the clock
// runs from the apply until the store holds every line. Target: 150,000
// lines/s on 2 cores; agent memory under 64 MB. BENCH_LOG_LINES sets the
// number of lines (default 3,000,000).
func BenchmarkLogsEndToEnd(b *testing.B) {
	skipUnlessLinux(b)
	n := envInt("BENCH_LOG_LINES", 3_000_000)
	parent := b.TempDir()
	path := filepath.Join(parent, "access.log")
	size := writeAccessLog(b, path, n)

	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	c := s.Client(b)
	const name = "logs1"
	ag := startAgent(b, s, parent, name, s.JoinToken(b), "--checks=false", "--host-metrics-interval", "0", "--statsd-addr", "")
	defer ag.Stop()
	ctx := context.Background()
	if _, err := waitNodeReady(ctx, c, name, ag); err != nil {
		b.Fatal(err)
	}
	m := metricsClient(b, s)
	base := m.values(ctx)["corral_logs_entries"]

	doc := api.Document{Body: map[string]any{"kind": "LogInput", "name": "bench-access", "type": "file",
		"paths": []string{path}, "parser": "combined", "from_beginning": true,
		"fields": map[string]string{"service": "nginx"}, "subscriptions": []string{"entity:" + name}}}
	srvCPU0, _ := cpuTime(s.PID())
	agCPU0, _ := cpuTime(ag.PID())
	idle0, cores, _ := machineIdle()
	stopSrv := profile(b, s.Proc, "logs end to end (server)")
	stopAg := profile(b, ag, "logs end to end (agent)")
	start := time.Now()
	if _, err := c.Apply(ctx, api.ApplyRequest{Documents: []api.Document{doc}}); err != nil {
		b.Fatal(err)
	}
	var stored float64
	var agRSSMax int64
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err := poll(wctx, 200*time.Millisecond, func() (bool, error) {
		stored = m.values(wctx)["corral_logs_entries"] - base
		if rss, _, err := memory(ag.PID()); err == nil {
			agRSSMax = max(agRSSMax, rss)
		}
		return stored >= float64(n), nil
	})
	cancel()
	stopSrv()
	stopAg()
	wall := time.Since(start)
	srvCPU1, _ := cpuTime(s.PID())
	agCPU1, _ := cpuTime(ag.PID())
	idle1, _, _ := machineIdle()
	_, agHWM, _ := memory(ag.PID())
	if err != nil {
		b.Fatalf("after %s the store holds %.0f of %d lines: %v\n%s", wall.Round(time.Millisecond), stored, n, err, ag.LogTail(10))
	}

	// Queries over what was stored: a field filter and a full-text word.
	qtimes := map[string]time.Duration{}
	for _, q := range []string{"status:500", "status>=500 -path:/health", `"Mozilla"`} {
		t0 := time.Now()
		if _, _, err := c.LogsPage(ctx, client.LogQuery{Q: q, Limit: 100, Desc: true}); err != nil {
			b.Errorf("query %s: %v", q, err)
		}
		qtimes[q] = time.Since(t0)
	}
	t0 := time.Now()
	counts, err := c.LogCount(ctx, client.LogQuery{Q: "service:nginx"}, "status", 10)
	if err != nil {
		b.Errorf("count by status: %v", err)
	}
	countTime := time.Since(t0)

	rate := float64(n) / wall.Seconds()
	b.ReportMetric(float64(wall.Nanoseconds()), "ns/op")
	b.ReportMetric(rate, "lines/s")
	b.ReportMetric(float64(size)/(1<<20)/wall.Seconds(), "MB/s")
	b.ReportMetric(100*(srvCPU1-srvCPU0).Seconds()/wall.Seconds(), "server-cpu-%")
	b.ReportMetric(100*(agCPU1-agCPU0).Seconds()/wall.Seconds(), "agent-cpu-%")
	b.ReportMetric(mb(agHWM), "agent-hwm-MB")
	busy := 100 * (float64(cores)*wall.Seconds() - (idle1 - idle0).Seconds()) / wall.Seconds()
	b.ReportMetric(busy, "machine-busy-%")
	b.Logf("%d nginx lines (%.0f MB) tailed, parsed, spooled, shipped and indexed in %s: %.0f lines/s, %.1f MB/s (target 150,000 lines/s)",
		n, float64(size)/(1<<20), wall.Round(time.Millisecond), rate, float64(size)/(1<<20)/wall.Seconds())
	b.Logf("server CPU %.0f%% of a core, agent CPU %.0f%% of a core, agent RSS peak %.1f MB (sampled %.1f MB; target < 64 MB), machine %.0f%% of a core busy (%d cores)",
		100*(srvCPU1-srvCPU0).Seconds()/wall.Seconds(), 100*(agCPU1-agCPU0).Seconds()/wall.Seconds(), mb(agHWM), mb(agRSSMax), busy, cores)
	b.Logf("queries over the %d stored lines through the API: %v; count by status %s: %v", n, qtimes, countTime.Round(time.Microsecond), counts)
}

// writeAccessLog writes n nginx combined lines (varied clients, paths,
// statuses and sizes) and returns the file's size.
func writeAccessLog(tb testing.TB, path string, n int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	statuses := []int{200, 200, 200, 200, 200, 200, 301, 304, 404, 500}
	paths := []string{"/", "/api/v1/orders", "/api/v1/users/42", "/static/app.js", "/health", "/search?q=boots"}
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range n {
		t := base.Add(time.Duration(i) * time.Millisecond)
		fmt.Fprintf(w, "10.%d.%d.%d - - [%s] \"GET %s HTTP/1.1\" %d %d \"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64) bench/%d\" %d.%03d\n",
			i%7, i%251, i%13, t.Format("02/Jan/2006:15:04:05 -0700"), paths[i%len(paths)], statuses[i%len(statuses)],
			1000+i%50000, i%100, i%3, i%1000)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return st.Size()
}
