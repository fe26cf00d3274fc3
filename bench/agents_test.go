package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// Shape of BenchmarkSimulatedAgents.
const (
	simAgents      = 2000
	joinWorkers    = 16
	simSettle      = 10 * time.Second
	simWindow      = 60 * time.Second
	listRate       = 1000 // GET /api/v1/nodes a second
	listDuration   = 20 * time.Second
	listPool       = 8 // keep-alive connections
	requestTimeout = 10 * time.Second
)

// BenchmarkSimulatedAgents runs 2,000 simulated agents in this process
// against one `corral server`. Each joins (its own key and CSR, POST
// /agent/v1/join with the join token), says hello with plausible facts,
// keeps GET /agent/v1/watch open and POSTs /agent/v1/heartbeat every 5 s,
// over its own mutual-TLS connection; the heartbeats are spread evenly over
// the interval. Sub-benchmarks:
//
//   - heartbeat: the server process's CPU and RSS over a steady 60 s window
//     (targets: under 30% of one core, under 400 MB);
//   - nodes-list-gzip, nodes-list-identity: GET /api/v1/nodes listing the
//     2,000 nodes at a fixed 1,000 requests/s for 20 s, open loop, over a
//     pool of keep-alive connections, while the agents keep heartbeating
//     (target: p99 under 10 ms).
func BenchmarkSimulatedAgents(b *testing.B) {
	skipUnlessLinux(b)
	// The server holds ~1 descriptor per agent, this process ~1 per agent
	// plus the join connections in flight and the list pool.
	limit, err := raiseFileLimit(65536)
	if err != nil || limit < 2*simAgents+1024 {
		b.Skipf("RLIMIT_NOFILE is %d (%v): need %d", limit, err, 2*simAgents+1024)
	}
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	token := s.JoinToken(b)

	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{}
	var agents sync.WaitGroup
	defer func() {
		cancel()
		agents.Wait()
	}()

	// Join, hello, watch and heartbeat, with a pool of workers.
	cpu0, _ := cpuTime(s.PID())
	joinStart := time.Now()
	epoch := joinStart
	jobs := make(chan int)
	var joinMu sync.Mutex
	var joinErrs []error
	var workers sync.WaitGroup
	for range joinWorkers {
		workers.Go(func() {
			for i := range jobs {
				name := fmt.Sprintf("sim-%04d", i)
				a, err := joinSim(ctx, s.Agent, token, name)
				var interval time.Duration
				if err == nil {
					interval, err = a.hello(ctx, i)
				}
				if err != nil {
					joinMu.Lock()
					joinErrs = append(joinErrs, err)
					joinMu.Unlock()
					continue
				}
				if interval <= 0 {
					interval = 5 * time.Second
				}
				phase := time.Duration(i) * interval / simAgents
				agents.Go(func() { a.watch(ctx, f) })
				agents.Go(func() {
					a.heartbeats(ctx, f, epoch, phase, interval)
					a.close()
				})
			}
		})
	}
	for i := range simAgents {
		jobs <- i
	}
	close(jobs)
	workers.Wait()
	joinTime := time.Since(joinStart)
	cpu1, _ := cpuTime(s.PID())
	joined := simAgents - len(joinErrs)
	b.Logf("joined %d of %d simulated agents in %s (%.0f/s, %d workers); server CPU during joins %.0f%% of a core",
		joined, simAgents, joinTime.Round(time.Millisecond), float64(joined)/joinTime.Seconds(), joinWorkers,
		100*(cpu1-cpu0).Seconds()/joinTime.Seconds())
	if len(joinErrs) > 0 {
		b.Logf("%d joins failed; first: %v", len(joinErrs), joinErrs[0])
	}
	if joined == 0 {
		b.Fatal("no agent joined")
	}
	deadline := time.Now().Add(60 * time.Second)
	for f.watching.Load() < int64(joined) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(simSettle)

	c := s.Client(b)
	nodes, err := c.Nodes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ready := 0
	for _, n := range nodes {
		if n.Status == api.NodeReady {
			ready++
		}
	}
	mc := metricsClient(b, s)
	b.Logf("after %s settling: %d nodes listed, %d ready; %d watch streams open here, server reports %v",
		simSettle, len(nodes), ready, f.watching.Load(), mc.scrape(ctx, "corral_agents_connected"))

	b.Run("heartbeat", func(b *testing.B) {
		ok0, err0, nr0, we0 := f.hbOK.Load(), f.hbErr.Load(), f.hbNotReady.Load(), f.watchEnds.Load()
		f.record(true)
		benchCPU0, _ := cpuTime(os.Getpid())
		u, err := measure(ctx, s.PID(), simWindow)
		benchCPU1, _ := cpuTime(os.Getpid())
		lat := distOf(f.record(false))
		if err != nil {
			b.Fatal(err)
		}
		hbs, errs := f.hbOK.Load()-ok0, f.hbErr.Load()-err0
		rate := float64(hbs+errs) / u.Wall.Seconds()
		m := mc.scrape(ctx, "corral_agents_connected", "go_goroutines", "go_memstats_heap_inuse_bytes",
			"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes")
		b.ReportMetric(u.CPUPercent(), "server-cpu-%")
		b.ReportMetric(mb(u.RSSAvg), "rss-MB")
		b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
		b.ReportMetric(mb(u.HWM), "hwm-MB")
		b.ReportMetric(rate, "heartbeats/s")
		b.ReportMetric(ms(lat.P99), "hb-p99-ms")
		b.ReportMetric(float64(errs), "hb-errors")
		b.ReportMetric(joinTime.Seconds(), "join-s")
		b.Logf("%d agents, heartbeat every 5 s, over %s: server CPU %.1f%% of a core (%s; target < 30%%), RSS avg %.0f MB, max %.0f MB, peak (VmHWM, joins included) %.0f MB (target < 400 MB)",
			joined, u.Wall.Round(time.Second), u.CPUPercent(), u.CPU, mb(u.RSSAvg), mb(u.RSSMax), mb(u.HWM))
		b.Logf("heartbeats: %d ok (%.0f/s), %d errors, %d answered not ready, %d watch reconnects; latency %s",
			hbs, rate, errs, f.hbNotReady.Load()-nr0, f.watchEnds.Load()-we0, lat)
		b.Logf("server /metrics: %s; this (client) process used %.0f%% of a core",
			m, 100*(benchCPU1-benchCPU0).Seconds()/u.Wall.Seconds())
		if errs > 0 {
			b.Logf("first error: %v", f.firstErr)
		}
	})

	for _, gz := range []bool{true, false} {
		name := "nodes-list-identity"
		if gz {
			name = "nodes-list-gzip"
		}
		b.Run(name, func(b *testing.B) {
			benchNodesList(b, ctx, s, f, gz, len(nodes))
		})
	}
}

// benchNodesList drives GET /api/v1/nodes open loop and reports latency.
func benchNodesList(b *testing.B, ctx context.Context, s *Server, f *fleet, gz bool, nodes int) {
	p, err := newPool(listPool, s.CAPEM(b))
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	admin := s.AdminToken(b)
	url := "https://" + s.HTTP + "/api/v1/nodes"
	newReq := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Accept", "application/json")
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		return req, nil
	}
	if err := p.warm(ctx, newReq); err != nil {
		b.Fatal(err)
	}
	hbErr0 := f.hbErr.Load()
	srvUse := make(chan Usage, 1)
	go func() {
		u, _ := measure(ctx, s.PID(), listDuration)
		srvUse <- u
	}()
	r := openLoop(ctx, p, listRate, listDuration, requestTimeout, newReq)
	su := <-srvUse
	d := r.Latency
	b.ReportMetric(ms(d.P50), "p50-ms")
	b.ReportMetric(ms(d.P90), "p90-ms")
	b.ReportMetric(ms(d.P99), "p99-ms")
	b.ReportMetric(ms(d.Max), "max-ms")
	b.ReportMetric(float64(r.Errors), "errors")
	b.ReportMetric(float64(r.OK)/r.Wall.Seconds(), "ok/s")
	b.ReportMetric(su.CPUPercent(), "server-cpu-%")
	per := int64(0)
	if r.OK+r.Errors > 0 {
		per = r.Bytes / int64(max(1, r.OK))
	}
	b.Logf("GET /api/v1/nodes (%d nodes, %s, %d B a response) at %d/s for %s over %d connections: %d sent, %d ok, %d errors; latency %s (target p99 < 10 ms); worst send lag %.1f ms; server CPU %.0f%% of a core, RSS %.0f MB; heartbeat errors meanwhile %d",
		nodes, r.Encoding, per, listRate, listDuration, listPool, r.Sent, r.OK, r.Errors, d, ms(r.MaxLag),
		su.CPUPercent(), mb(su.RSSMax), f.hbErr.Load()-hbErr0)
	if r.FirstErr != nil {
		b.Logf("first error: %v", r.FirstErr)
	}
}

// metrics reads the server's Prometheus /metrics.
type metrics struct {
	url   string
	token string
	hc    *http.Client
}

func metricsClient(tb testing.TB, s *Server) *metrics {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.CAPEM(tb))
	return &metrics{url: "https://" + s.HTTP + "/metrics", token: s.AdminToken(tb),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
}

// scrape returns "name=value" for each unlabelled metric asked for.
func (m *metrics) scrape(ctx context.Context, names ...string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.hc.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && want[k] {
			if x, err := strconv.ParseFloat(v, 64); err == nil && x >= 1<<20 {
				v = fmt.Sprintf("%.1fMB", x/(1<<20))
			}
			got[k] = v
		}
	}
	var out []string
	for _, n := range names {
		out = append(out, n+"="+got[n])
	}
	return strings.Join(out, " ")
}
