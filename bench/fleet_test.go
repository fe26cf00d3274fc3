package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
// /agent/v1/join with the join token, through a pool of 16 workers), says
// hello with plausible facts, keeps GET /agent/v1/watch open and POSTs
// /agent/v1/heartbeat every 5 s, over its own mutual-TLS connection; the
// heartbeats are spread evenly over the interval. Sub-benchmarks, in order:
//
//   - heartbeat: the server process's CPU and RSS over a steady 60 s window
//     (targets: under 30% of one core, under 400 MB);
//   - nodes-list-gzip: GET /api/v1/nodes listing the 2,000 nodes with
//     Accept-Encoding: gzip at a fixed 1,000 requests/s for 20 s, open loop,
//     over 8 keep-alive connections, while the agents keep heartbeating
//     (target: p99 under 10 ms);
//
// then the agents stop (their nodes stay, down) and the list is measured
// with the server alone: nodes-list-gzip-quiet at 1,000/s and, to find the
// knee, at 250/s and 500/s; nodes-list-identity-quiet without compression at
// 1,000/s; nodes-list-identity-capacity, closed loop, for the rate the
// uncompressed list can be served at.
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
				agents.Go(func() {
					var watch sync.WaitGroup
					watch.Go(func() { a.watch(ctx, f, nil) })
					a.heartbeats(ctx, f, epoch, phase, interval)
					watch.Wait()
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
	// A benchmark with sub-benchmarks prints no log of its own: notes go to
	// the first sub-benchmark.
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	note("joined %d of %d simulated agents in %s (%.0f/s, %d workers); server CPU during joins %.0f%% of a core",
		joined, simAgents, joinTime.Round(time.Millisecond), float64(joined)/joinTime.Seconds(), joinWorkers,
		100*(cpu1-cpu0).Seconds()/joinTime.Seconds())
	if len(joinErrs) > 0 {
		note("%d joins failed; first: %v", len(joinErrs), joinErrs[0])
	}
	if joined == 0 {
		b.Fatalf("no agent joined: %v", joinErrs[0])
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
	note("after %s settling: %d nodes listed, %d ready; %d watch streams open here, server reports %v",
		simSettle, len(nodes), ready, f.watching.Load(), mc.scrape(ctx, "corral_agents_connected"))

	b.Run("heartbeat", func(b *testing.B) {
		for _, n := range notes {
			b.Log(n)
		}
		ok0, err0, nr0, we0 := f.hbOK.Load(), f.hbErr.Load(), f.hbNotReady.Load(), f.watchEnds.Load()
		f.record(true)
		benchCPU0, _ := cpuTime(os.Getpid())
		stop := profile(b, s.Proc, b.Name())
		u, err := measure(ctx, s.PID(), simWindow)
		stop()
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
		self := 100 * (benchCPU1 - benchCPU0).Seconds() / u.Wall.Seconds()
		b.ReportMetric(u.MachineBusy-u.CPUPercent()-self, "other-cpu-%")
		b.Logf("%d agents, heartbeat every 5 s, over %s: server CPU %.1f%% of a core (%s; target < 30%%), RSS avg %.0f MB, max %.0f MB, peak (VmHWM, joins included) %.0f MB (target < 400 MB)",
			joined, u.Wall.Round(time.Second), u.CPUPercent(), u.CPU, mb(u.RSSAvg), mb(u.RSSMax), mb(u.HWM))
		b.Logf("heartbeats: %d ok (%.0f/s), %d errors, %d answered not ready, %d watch reconnects; latency %s",
			hbs, rate, errs, f.hbNotReady.Load()-nr0, f.watchEnds.Load()-we0, lat)
		size, scrape := mc.timeScrapes(ctx, 5)
		b.ReportMetric(ms(scrape.P50), "metrics-scrape-ms")
		b.Logf("server /metrics: %s; a scrape is %d B and takes %s", m, size, scrape)
		b.Logf("machine: %.0f%% of a core busy: server %.0f%%, simulated agents (this process) %.0f%%, other processes %.0f%%",
			u.MachineBusy, u.CPUPercent(), self, u.MachineBusy-u.CPUPercent()-self)
		if errs > 0 {
			b.Logf("first error: %v", f.firstErr)
		}
	})

	b.Run("nodes-list-gzip", func(b *testing.B) {
		benchNodesList(b, ctx, s, f, listGzip, listRate, listDuration, "while the agents heartbeat", len(nodes))
	})

	// The same list without the agents: the server and the load generator
	// alone on the machine. The nodes stay, down once their leases end.
	cancel()
	agents.Wait()
	deadline = time.Now().Add(2 * time.Minute)
	for {
		ns, err := c.Nodes(context.Background())
		ready = 0
		for _, n := range ns {
			if n.Status == api.NodeReady {
				ready++
			}
		}
		if err == nil && ready == 0 || time.Now().After(deadline) {
			notes = []string{fmt.Sprintf("agents stopped: %d nodes listed, %d ready (err %v)", len(ns), ready, err)}
			break
		}
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second)
	qctx := context.Background()
	b.Run("nodes-list-gzip-quiet", func(b *testing.B) {
		for _, n := range notes {
			b.Log(n)
		}
		benchNodesList(b, qctx, s, f, listGzip, listRate, listDuration, "agents stopped", len(nodes))
	})
	// Where the knee is: the same at lower rates.
	for _, rate := range []int{250, 500} {
		b.Run(fmt.Sprintf("nodes-list-gzip-quiet-%drps", rate), func(b *testing.B) {
			benchNodesList(b, qctx, s, f, listGzip, rate, 10*time.Second, "agents stopped", len(nodes))
		})
	}
	b.Run("nodes-list-identity-quiet", func(b *testing.B) {
		benchNodesList(b, qctx, s, f, listIdentity, listRate, listDuration, "agents stopped", len(nodes))
	})
	b.Run("nodes-list-identity-capacity", func(b *testing.B) {
		benchNodesList(b, qctx, s, f, listIdentityClosed, 0, 10*time.Second, "agents stopped", len(nodes))
	})
}

// listMode is how benchNodesList loads the server.
type listMode int

const (
	listGzip           listMode = iota // open loop, Accept-Encoding: gzip
	listIdentity                       // open loop, no compression
	listIdentityClosed                 // closed loop, no compression
)

// benchNodesList drives GET /api/v1/nodes and reports latency.
// With listIdentityClosed, rate is ignored.
func benchNodesList(b *testing.B, ctx context.Context, s *Server, f *fleet, mode listMode, rate int, dur time.Duration,
	cond string, nodes int) {
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
		if mode == listGzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		return req, nil
	}
	size, err := p.warm(ctx, newReq)
	if err != nil {
		b.Fatal(err)
	}
	mc := metricsClient(b, s)
	const route = `method="GET",route="/api/v1/nodes"`
	h0 := mc.histogram(ctx, "corral_http_request_duration_seconds", route)
	hbErr0 := f.hbErr.Load()
	srvUse := make(chan Usage, 1)
	go func() {
		u, _ := measure(ctx, s.PID(), dur)
		srvUse <- u
	}()
	self0, _ := cpuTime(os.Getpid())
	stop := profile(b, s.Proc, b.Name())
	var r LoadResult
	if mode == listIdentityClosed {
		r = closedLoop(ctx, p, dur, requestTimeout, newReq)
	} else {
		r = openLoop(ctx, p, rate, dur, requestTimeout, newReq)
	}
	stop()
	self1, _ := cpuTime(os.Getpid())
	su := <-srvUse
	srvP99, srvUnder10 := h0.since(mc.histogram(ctx, "corral_http_request_duration_seconds", route))
	d := r.Latency
	b.ReportMetric(ms(d.P50), "p50-ms")
	b.ReportMetric(ms(d.P90), "p90-ms")
	b.ReportMetric(ms(d.P99), "p99-ms")
	b.ReportMetric(ms(d.Max), "max-ms")
	b.ReportMetric(float64(r.Errors), "errors")
	b.ReportMetric(float64(r.OK)/r.Wall.Seconds(), "ok/s")
	b.ReportMetric(su.CPUPercent(), "server-cpu-%")
	b.ReportMetric(float64(size)/1024, "resp-KB")
	self := 100 * (self1 - self0).Seconds() / r.Wall.Seconds()
	b.ReportMetric(su.MachineBusy-su.CPUPercent()-self, "other-cpu-%")
	how := fmt.Sprintf("open loop at %d/s for %s", rate, dur)
	if mode == listIdentityClosed {
		how = fmt.Sprintf("closed loop, back to back, for %s", dur)
	}
	b.Logf("GET /api/v1/nodes (%d nodes, %s, %d B a response), %s over %d connections, %s: %d sent, %d ok (%.0f/s, %.0f MB/s), %d errors",
		nodes, r.Encoding, size, how, listPool, cond, r.Sent, r.OK, float64(r.OK)/r.Wall.Seconds(),
		float64(r.Bytes)/(1<<20)/r.Wall.Seconds(), r.Errors)
	if mode != listIdentityClosed {
		b.Logf("latency from schedule: %s (target p99 < 10 ms)", d)
		b.Logf("latency from send:     %s; worst send lag behind schedule %.1f ms", r.Service, ms(r.MaxLag))
	} else {
		b.Logf("latency: %s", d)
	}
	b.Logf("server-side (handler, from /metrics): p99 <= %s, %.2f%% under 10 ms; server RSS max %.0f MB; heartbeat errors meanwhile %d",
		srvP99, srvUnder10, mb(su.RSSMax), f.hbErr.Load()-hbErr0)
	b.Logf("machine: %.0f%% of a core busy: server %.0f%%, load generator and agents (this process) %.0f%%, other processes %.0f%%",
		su.MachineBusy, su.CPUPercent(), self, su.MachineBusy-su.CPUPercent()-self)
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

// timeScrapes GETs /metrics n times, one after the other, and returns the
// size of the last answer and the latencies.
func (m *metrics) timeScrapes(ctx context.Context, n int) (int64, Dist) {
	var size int64
	var lat []time.Duration
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
		if err != nil {
			break
		}
		req.Header.Set("Authorization", "Bearer "+m.token)
		t := time.Now()
		resp, err := m.hc.Do(req)
		if err != nil {
			break
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			break
		}
		lat = append(lat, time.Since(t))
	}
	return size, distOf(lat)
}

// hist is a Prometheus histogram: cumulative counts by upper bound.
type hist map[float64]float64

// histogram returns the buckets of the histogram name whose labels contain
// match.
func (m *metrics) histogram(ctx context.Context, name, match string) hist {
	h := hist{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return h
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.hc.Do(req)
	if err != nil {
		return h
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"_bucket{") || !strings.Contains(line, match) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.LastIndex(line, " ")
		if i < 0 || j < i {
			continue
		}
		le, _, _ := strings.Cut(line[i+4:], `"`)
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseFloat(line[j+1:], 64)
		if err1 == nil && err2 == nil {
			h[bound] = n
		}
	}
	return h
}

// since returns, for the observations between h0 and h1, the smallest bucket
// bound holding 99% of them and the share (in percent) under 10 ms.
func (h0 hist) since(h1 hist) (p99 string, under10 float64) {
	bounds := make([]float64, 0, len(h1))
	for b := range h1 {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return "?", 0
	}
	total := h1[bounds[len(bounds)-1]] - h0[bounds[len(bounds)-1]]
	if total <= 0 {
		return "?", 0
	}
	p99 = "+Inf"
	for _, b := range bounds {
		n := h1[b] - h0[b]
		if b == 0.01 {
			under10 = 100 * n / total
		}
		if n >= 0.99*total && p99 == "+Inf" && !math.IsInf(b, 1) {
			p99 = (time.Duration(b * float64(time.Second))).String()
		}
	}
	return p99, under10
}
