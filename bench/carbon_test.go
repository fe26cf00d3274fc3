package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCarbonToWhisper sends carbon plaintext over TCP to a real
// `corral server`: 100,000 distinct series, one point each per round,
// rounds paced to CORRAL_BENCH_CARBON_RATE points/s (default 1,000,000)
// over CORRAL_BENCH_CARBON_CONNS connections (default 4) for
// CORRAL_BENCH_CARBON_SECONDS (default 60), and reads the server's
// /metrics: points received and written per second, points dropped, the
// cache's peak, the server's CPU and RSS. Every round has its own
// timestamp and the schema is 1s:30m,1m:1d, so every point takes its own
// slot in a file. A first round creates the 100,000 files before the
// clock starts (create-s). After the window the sender stops and the
// benchmark waits until the cache has written everything (drain-s);
// lost = sent - written. The server's metric cache holds
// CORRAL_BENCH_CARBON_CACHE points (default 20,000,000).
// Target: 1,000,000 points/s written, nothing dropped or lost.
func BenchmarkCarbonToWhisper(b *testing.B) {
	skipUnlessLinux(b)
	const nseries = 100_000
	secs := envInt("CORRAL_BENCH_CARBON_SECONDS", 60)
	rate := envInt("CORRAL_BENCH_CARBON_RATE", 1_000_000)
	nconns := envInt("CORRAL_BENCH_CARBON_CONNS", 4)
	cache := envInt("CORRAL_BENCH_CARBON_CACHE", 20_000_000)

	parent := b.TempDir()
	schemas := filepath.Join(parent, "storage-schemas.conf")
	if err := os.WriteFile(schemas, []byte("[all]\npattern = .*\nretentions = 1s:30m,1m:1d\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s := newServer(b, filepath.Join(parent, "server"))
	s.Args = []string{"--storage-schemas", schemas, "--carbon-addr", "127.0.0.1:0",
		"--metrics-cache-points", strconv.Itoa(cache)}
	s.StartReady(b)
	defer stopServer(b, s)
	addr := carbonAddr(b, s)
	m := metricsClient(b, s)
	ctx := context.Background()

	// Each connection sends a fixed part of the series; its round is one
	// buffer whose fixed-width value and timestamp fields are rewritten in
	// place, so the sender costs little CPU next to the server.
	t0 := time.Now().Unix() - 1500
	bufs := make([]*roundBuf, nconns)
	for c := range bufs {
		bufs[c] = newRoundBuf(c, nconns, nseries)
	}
	conns := make([]net.Conn, nconns)
	for c := range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns[c] = conn
	}
	send := func(round int) error {
		var wg sync.WaitGroup
		errs := make([]error, nconns)
		for c := range conns {
			wg.Go(func() {
				bufs[c].set(round, t0+int64(round))
				_, errs[c] = conns[c].Write(bufs[c].b)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}

	// Round 0 creates every file.
	start := time.Now()
	if err := send(0); err != nil {
		b.Fatal(err)
	}
	if err := waitWritten(ctx, m, nseries, 10*time.Minute); err != nil {
		b.Fatal(err)
	}
	createTime := time.Since(start)

	before := m.values(ctx)
	usage := make(chan Usage, 1)
	go func() {
		u, _ := measure(ctx, s.PID(), time.Duration(secs)*time.Second)
		usage <- u
	}()
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
				if v, ok := m.values(sampleCtx)["corral_metrics_cache_points"]; ok && int64(v) > peak.Load() {
					peak.Store(int64(v))
				}
			}
		}
	}()
	stopProfile := profile(b, s.Proc, b.Name())
	b.ResetTimer()
	start = time.Now()
	end := start.Add(time.Duration(secs) * time.Second)
	perRound := time.Duration(float64(time.Second) * nseries / float64(rate))
	rounds := 0
	for now := start; now.Before(end); now = time.Now() {
		if due := start.Add(time.Duration(rounds) * perRound); now.Before(due) {
			time.Sleep(due.Sub(now))
		}
		if err := send(rounds + 1); err != nil {
			b.Fatal(err)
		}
		rounds++
	}
	sendTime := time.Since(start)
	u := <-usage
	after := m.values(ctx)
	stopProfile()
	stopSampling()
	b.StopTimer()

	drainStart := time.Now()
	want := float64((rounds + 1) * nseries)
	drainErr := waitWritten(ctx, m, want, 5*time.Minute)
	drain := time.Since(drainStart)
	final := m.values(ctx)

	d := func(k string) float64 { return after[k] - before[k] }
	window := u.Wall.Seconds()
	sent := float64(rounds * nseries)
	b.ReportMetric(sent/sendTime.Seconds(), "sent-points/s")
	b.ReportMetric(d("corral_carbon_points_total")/window, "received-points/s")
	b.ReportMetric(d("corral_metrics_points_written_total")/window, "written-points/s")
	b.ReportMetric(d("corral_carbon_dropped_points_total"), "dropped")
	b.ReportMetric(want-final["corral_metrics_points_written_total"], "lost")
	b.ReportMetric(float64(peak.Load()), "cache-peak-points")
	b.ReportMetric(u.CPUPercent(), "server-cpu-%")
	b.ReportMetric(u.MachineBusy, "machine-cpu-%")
	b.ReportMetric(mb(u.RSSAvg), "rss-MB")
	b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
	b.ReportMetric(createTime.Seconds(), "create-s")
	b.ReportMetric(drain.Seconds(), "drain-s")
	b.Logf("%d series, target %d points/s over %d connections for %ds (cache %d points): sent %.0f points in %s; "+
		"received %.0f, written %.0f during the window; dropped %.0f; after drain written %.0f of %.0f (%v)",
		nseries, rate, nconns, secs, cache, sent, sendTime.Round(time.Millisecond),
		d("corral_carbon_points_total"), d("corral_metrics_points_written_total"), d("corral_carbon_dropped_points_total"),
		final["corral_metrics_points_written_total"], want, drainErr)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// carbonAddr reads the carbon plaintext address from the server's
// listen.json.
func carbonAddr(tb testing.TB, s *Server) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(s.Dir, "listen.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var a struct{ Carbon string }
	if err := json.Unmarshal(raw, &a); err != nil || a.Carbon == "" {
		tb.Fatalf("listen.json: no carbon address (%v): %s", err, raw)
	}
	return a.Carbon
}

// values scrapes /metrics into name -> value for unlabelled metrics.
func (m *metrics) values(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return out
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.hc.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(k, "#") || strings.Contains(k, "{") {
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = x
		}
	}
	return out
}

// waitWritten polls /metrics until the server has written n points.
func waitWritten(ctx context.Context, m *metrics, n float64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		v := m.values(ctx)
		if v["corral_metrics_points_written_total"] >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("written %.0f of %.0f points after %s (cache %.0f, dropped %.0f)", v["corral_metrics_points_written_total"], n,
				limit, v["corral_metrics_cache_points"], v["corral_carbon_dropped_points_total"])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// roundBuf is one connection's share of a round of lines
// "bench.hHHHH.cpu.mMM VVVVVVV TTTTTTTTTT\n", with the offsets of the value
// and timestamp fields.
type roundBuf struct {
	b        []byte
	vals, ts []int
}

func newRoundBuf(c, nconns, nseries int) *roundBuf {
	r := &roundBuf{}
	for i := c; i < nseries; i += nconns {
		r.b = fmt.Appendf(r.b, "bench.h%04d.cpu.m%02d ", i/100, i%100)
		r.vals = append(r.vals, len(r.b))
		r.b = append(r.b, "0000000 "...)
		r.ts = append(r.ts, len(r.b))
		r.b = append(r.b, "0000000000\n"...)
	}
	return r
}

// set writes the round number as every value and ts as every timestamp.
func (r *roundBuf) set(round int, ts int64) {
	v := fmt.Appendf(nil, "%07d", round%10_000_000)
	t := fmt.Appendf(nil, "%010d", ts)
	for i := range r.vals {
		copy(r.b[r.vals[i]:], v)
		copy(r.b[r.ts[i]:], t)
	}
}
