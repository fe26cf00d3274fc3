package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// Shape of BenchmarkCheckResults; BENCH_MON_AGENTS and BENCH_MON_ROUND_MS
// change the fleet and how often every agent reports.
const (
	monChecks     = 10 // checks per agent
	monWindow     = 30 * time.Second
	monLatSamples = 10
)

// checkLoad counts what the simulated agents sent.
type checkLoad struct {
	sent, failed, rejected atomic.Int64
	first                  atomic.Pointer[error]
}

// reportChecks POSTs a "check" report of monChecks results every round at
// phase after epoch until ctx ends, as internal/agent batches them; a round
// that would start late is skipped, as a ticker would. Every 50th round of
// a check is a warning, so events change state and the filters run.
func (a *simAgent) reportChecks(ctx context.Context, l *checkLoad, epoch time.Time, phase, round time.Duration) {
	next := epoch.Add(phase)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	var seq uint64
	results := make([]api.CheckResult, monChecks)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for i := range results {
			st := api.StatusOK
			if (n+i)%50 == 0 {
				st = api.StatusWarning
			}
			results[i] = api.CheckResult{Check: "check-" + strconv.Itoa(i), Entity: a.name, Status: st,
				Output: fmt.Sprintf("CHECK %d OK - value %d | value=%d;80;90", i, n%100, n%100), Executed: now.Unix(), Duration: 0.01}
		}
		data, _ := json.Marshal(results)
		seq++
		var ack api.ReportAck
		err := postJSON(ctx, a.client, a.base+"/agent/v1/report", api.ReportBatch{Reports: []api.Report{
			{Seq: seq, Type: "check", Time: now, Data: data}}}, &ack)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.failed.Add(1)
			l.first.CompareAndSwap(nil, &err)
		case len(ack.Rejected) > 0:
			l.rejected.Add(1)
		default:
			l.sent.Add(monChecks)
		}
		next = next.Add(round)
		if now := time.Now(); next.Before(now) {
			next = next.Add((now.Sub(next)/round + 1) * round)
		}
		t.Reset(time.Until(next))
	}
}

// BenchmarkCheckResults runs simulated agents (2,000 by default) that join,
// heartbeat every 5 s (their keepalives) and send a "check" report of 10
// results every second over the agent channel: 20,000 results/s offered to
// one `corral server`, ingested into events (history, state, filters) and
// saved to the history store. It reports the results the server applied per
// second over a 30 s window, its CPU and memory, and then, with the load
// still on, the time from a failing check-in to its pipe handler starting
// (target: under 1 s).
func BenchmarkCheckResults(b *testing.B) {
	skipUnlessLinux(b)
	nAgents := envInt("BENCH_MON_AGENTS", 2000)
	round := time.Duration(envInt("BENCH_MON_ROUND_MS", 1000)) * time.Millisecond
	limit, err := raiseFileLimit(65536)
	if err != nil || limit < 2*uint64(nAgents)+1024 {
		b.Skipf("RLIMIT_NOFILE is %d (%v): need %d", limit, err, 2*nAgents+1024)
	}
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	token := s.JoinToken(b)
	c := s.Client(b)

	// A pipe handler that writes when it started.
	marks := filepath.Join(parent, "handled")
	if err := os.MkdirAll(marks, 0o755); err != nil {
		b.Fatal(err)
	}
	script := filepath.Join(parent, "mark.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nt=$(date +%s.%N)\nf=$(mktemp "+marks+"/m.XXXXXX)\necho $t > $f.t\ncat >/dev/null\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	docs := []api.Document{{Body: map[string]any{"kind": "Handler", "name": "mark", "type": "pipe", "command": script}}}
	for i := range 2 * monLatSamples { // ttl checks fed by check-ins, handled by mark
		docs = append(docs, api.Document{Body: map[string]any{"kind": "Check", "name": "latency-" + strconv.Itoa(i),
			"ttl": "1h", "handlers": []string{"mark"}}})
	}
	if _, err := c.Apply(context.Background(), api.ApplyRequest{Documents: docs}); err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{}
	l := &checkLoad{}
	var agents sync.WaitGroup
	defer func() {
		cancel()
		agents.Wait()
	}()
	// Agents join and heartbeat first; the reports start together once
	// every agent has joined, so the joins are not slowed by the load.
	rctx, stopReports := context.WithCancel(ctx)
	defer stopReports()
	startReports := make(chan struct{})
	var reportEpoch time.Time
	joinStart := time.Now()
	jobs := make(chan int)
	var joinErrs atomic.Int64
	var workers sync.WaitGroup
	for range joinWorkers {
		workers.Go(func() {
			for i := range jobs {
				name := fmt.Sprintf("mon-%04d", i)
				a, err := joinSim(ctx, s.Agent, token, name)
				if err == nil {
					_, err = a.hello(ctx, i)
				}
				if err != nil {
					joinErrs.Add(1)
					f.noteErr(err)
					continue
				}
				agents.Go(func() {
					var wg sync.WaitGroup
					wg.Go(func() {
						a.heartbeats(ctx, f, joinStart, time.Duration(i)*5*time.Second/time.Duration(nAgents), 5*time.Second)
					})
					select {
					case <-startReports:
						a.reportChecks(rctx, l, reportEpoch, time.Duration(i)*round/time.Duration(nAgents), round)
					case <-ctx.Done():
					}
					wg.Wait()
					a.close()
				})
			}
		})
	}
	for i := range nAgents {
		jobs <- i
	}
	close(jobs)
	workers.Wait()
	joined := nAgents - int(joinErrs.Load())
	if joined == 0 {
		b.Fatalf("no agent joined: %v", f.firstErr)
	}
	joinTime := time.Since(joinStart)
	reportEpoch = time.Now().Add(time.Second)
	close(startReports)
	time.Sleep(15 * time.Second) // every agent has reported a few rounds

	mc := metricsClient(b, s)
	b.Run("ingest", func(b *testing.B) {
		b.Logf("%d of %d agents joined in %s", joined, nAgents, joinTime.Round(time.Millisecond))
		if f.firstErr != nil {
			b.Logf("first join error: %v", f.firstErr)
		}
		v0 := mc.values(ctx)
		sent0, failed0 := l.sent.Load(), l.failed.Load()
		benchCPU0, _ := cpuTime(os.Getpid())
		stop := profile(b, s.Proc, b.Name())
		u, err := measure(ctx, s.PID(), monWindow)
		stop()
		benchCPU1, _ := cpuTime(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		v1 := mc.values(ctx)
		applied := (v1["corral_monitor_events_processed_total"] - v0["corral_monitor_events_processed_total"]) / u.Wall.Seconds()
		taken := (v1["corral_monitor_results_total"] - v0["corral_monitor_results_total"]) / u.Wall.Seconds()
		offered := float64(joined*monChecks) / round.Seconds()
		sent := float64(l.sent.Load()-sent0) / u.Wall.Seconds()
		b.ReportMetric(applied, "applied/s")
		b.ReportMetric(taken, "results/s")
		b.ReportMetric(offered, "offered/s")
		b.ReportMetric(u.CPUPercent(), "server-cpu-%")
		b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
		b.ReportMetric(float64(l.failed.Load()-failed0), "report-errors")
		self := 100 * (benchCPU1 - benchCPU0).Seconds() / u.Wall.Seconds()
		b.Logf("%d agents x %d checks every %s: offered %.0f results/s, acknowledged %.0f/s, taken %.0f/s, applied to events %.0f/s (results and keepalives)",
			joined, monChecks, round, offered, sent, taken, applied)
		b.Logf("server CPU %.0f%% of a core, RSS max %.0f MB; events %v, queued %v; machine %.0f%% busy: simulated agents %.0f%%",
			u.CPUPercent(), mb(u.RSSMax), v1["corral_monitor_events"], v1["corral_monitor_queued_results"], u.MachineBusy, self)
		if e := l.first.Load(); e != nil {
			b.Logf("%d report errors; first: %v", l.failed.Load(), *e)
		}
	})

	b.Run("failing-to-handler", func(b *testing.B) {
		handlerLatency(b, c, marks, "under load", 0)
	})
	// The same with the agents' reports stopped and the queue drained: the
	// pipeline's own cost without queueing behind the load.
	stopReports()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if v := mc.values(ctx); v["corral_monitor_queued_results"] == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Run("failing-to-handler-idle", func(b *testing.B) {
		handlerLatency(b, c, marks, "reports stopped", monLatSamples)
	})
}

// handlerLatency sends failing check-ins of the latency-N checks (from
// first) and reports the time until the mark handler started for each.
func handlerLatency(b *testing.B, c *client.Client, marks, what string, first int) {
	ctx := context.Background()
	var lats []time.Duration
	for i := first; i < first+monLatSamples; i++ {
		before, _ := filepath.Glob(filepath.Join(marks, "*.t"))
		check := "latency-" + strconv.Itoa(i)
		start := time.Now()
		if _, err := c.Checkin(ctx, api.CheckResult{Check: check, Entity: "bench-latency", Status: api.StatusCritical, Output: "down"}); err != nil {
			b.Fatal(err)
		}
		var got time.Duration
		deadline := time.Now().Add(30 * time.Second)
		for got == 0 && time.Now().Before(deadline) {
			after, _ := filepath.Glob(filepath.Join(marks, "*.t"))
			for _, p := range after {
				if slices.Contains(before, p) {
					continue
				}
				raw, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				sec, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
				if err != nil {
					continue
				}
				got = time.Unix(0, int64(sec*1e9)).Sub(start)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if got == 0 {
			b.Fatalf("handler did not start within 30s for %s", check)
		}
		lats = append(lats, got)
	}
	d := distOf(lats)
	b.ReportMetric(ms(d.P50), "p50-ms")
	b.ReportMetric(ms(d.Max), "max-ms")
	b.Logf("failing check-in to pipe handler started, %d samples, %s: %s (target < 1 s)", len(lats), what, d)
}
