package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// Shape of BenchmarkCatalog2000Agents ($BENCH_CONFIG_AGENTS changes the
// fleet; BENCH_CONFIG_NODES=on gives the roles a hosts resource and a
// template querying the cluster, so that every catalog lists every node).
const (
	configAgents = 2000
	configBound  = 2 * time.Minute // apply → every agent holds the catalog, at most
	configTarget = 5 * time.Second
)

// BenchmarkCatalog2000Agents runs one `corral server` and, in this
// process, $BENCH_CONFIG_AGENTS simulated agents (default 2,000, labelled
// role=web) that join, heartbeat and keep their mutual-TLS watch stream
// open, holding the `config/catalog` assignment each receives. It applies
// the base and web roles, an Environment and a NodeRoles giving
// both roles to every node labelled role=web, waits until every agent
// holds its first catalog, then applies a new version of the base role
// (one attribute changed) and measures:
//
//   - apply → every agent has received a catalog of the new version, in
//     ms (target: under 5 s), with the latency distribution over agents;
//   - the first fan-out (no catalogs → every agent holds one);
//   - the server's CPU (percent of one core) and RSS over the change.
func BenchmarkCatalog2000Agents(b *testing.B) {
	skipUnlessLinux(b)
	nAgents := envInt("BENCH_CONFIG_AGENTS", configAgents)
	withNodes := os.Getenv("BENCH_CONFIG_NODES") == "on"
	limit, err := raiseFileLimit(65536)
	if err != nil || limit < uint64(2*nAgents+1024) {
		b.Skipf("RLIMIT_NOFILE is %d (%v): need %d", limit, err, 2*nAgents+1024)
	}
	s := newServer(b, filepath.Join(b.TempDir(), "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	token := s.JoinToken(b)
	c := s.Client(b)

	ctx, cancel := context.WithCancel(context.Background())
	cf := newConfigFleet(nAgents)
	var agents sync.WaitGroup
	defer func() {
		cancel()
		agents.Wait()
	}()
	joinStart := time.Now()
	joined, joinErrs := joinConfigFleet(ctx, s, token, nAgents, cf, &agents)
	joinTime := time.Since(joinStart)
	if joined != nAgents {
		b.Fatalf("%d of %d agents joined; first error: %v", joined, nAgents, joinErrs[0])
	}
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	err = poll(wctx, 100*time.Millisecond, func() (bool, error) {
		if cf.watching.Load() < int64(joined) {
			return false, nil
		}
		ns, err := c.Nodes(wctx)
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range ns {
			if n.Status == api.NodeReady {
				ready++
			}
		}
		return ready >= joined, nil
	})
	wcancel()
	if err != nil {
		b.Fatalf("%d agents joined in %s, but not all watching and ready: %d watching: %v", joined, joinTime, cf.watching.Load(), err)
	}
	b.Logf("%d simulated agents joined in %s (%.0f/s), all watching, all nodes ready", joined,
		joinTime.Round(time.Millisecond), float64(joined)/joinTime.Seconds())

	// The first catalogs.
	first, firstLat, err := applyAndWait(ctx, b, s, cf, "gen-1", withNodes, false)
	if err != nil {
		b.Fatalf("first catalogs: %v", err)
	}
	size, maxNodes, distinct := cf.catalogShape()
	b.Logf("first catalogs (no catalog → every agent holds one): %s; %s; catalogs: mean %d bytes, %d nodes listed, %d distinct hashes",
		first.Round(time.Millisecond), distOf(firstLat), size, maxNodes, distinct)
	time.Sleep(2 * time.Second) // let the first writes settle

	// The measured change: a new version of the base role.
	srvUse := make(chan Usage, 1)
	mctx, mcancel := context.WithCancel(ctx)
	var useErr error
	go func() {
		u, err := measure(mctx, s.PID(), configBound+10*time.Second)
		useErr = err
		srvUse <- u
	}()
	mc := metricsClient(b, s)
	m0 := mc.values(ctx)
	stopProfile := profile(b, s.Proc, "role change to every catalog")
	self0, _ := cpuTime(os.Getpid())
	took, lat, err := applyAndWait(ctx, b, s, cf, "gen-2", withNodes, true)
	stopProfile()
	mcancel()
	u := <-srvUse
	self1, _ := cpuTime(os.Getpid())
	m1 := mc.values(ctx)
	if useErr != nil {
		b.Logf("measuring the server: %v", useErr)
	}
	if err != nil {
		b.Errorf("role change: %v", err)
	}
	d := distOf(lat)
	b.ReportMetric(float64(took.Nanoseconds()), "ns/op")
	b.ReportMetric(ms(took), "all-agents-ms")
	b.ReportMetric(ms(d.P50), "p50-ms")
	b.ReportMetric(ms(d.P99), "p99-ms")
	b.ReportMetric(ms(first), "first-fanout-ms")
	b.ReportMetric(u.CPUPercent(), "server-cpu-%")
	b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
	b.ReportMetric(mb(u.HWM), "hwm-MB")
	size, maxNodes, distinct = cf.catalogShape()
	b.Logf("role change → every one of %d agents holds the new catalog after %s (target < %s); per agent %s; progress %s",
		d.N, took.Round(time.Millisecond), configTarget, d, cf.prog)
	b.Logf("catalogs: mean %d bytes, %d nodes listed (BENCH_CONFIG_NODES=%v), %d distinct hashes; %d catalog puts and %d deletes seen, %d bad",
		size, maxNodes, withNodes, distinct, cf.puts.Load(), cf.dels.Load(), cf.bad.Load())
	b.Logf("server over %s: CPU %.0f%% of a core (%s), RSS max %.0f MB (sampled every second), peak (VmHWM, joins included) %.0f MB",
		u.Wall.Round(time.Millisecond), u.CPUPercent(), u.CPU.Round(time.Millisecond), mb(u.RSSMax), mb(u.HWM))
	b.Logf("machine: %.0f%% of a core busy: server %.0f%%, simulated agents (this process) %.0f%%, other processes %.0f%%",
		u.MachineBusy, u.CPUPercent(), 100*(self1-self0).Seconds()/u.Wall.Seconds(),
		u.MachineBusy-u.CPUPercent()-100*(self1-self0).Seconds()/u.Wall.Seconds())
	b.Logf("server during the change: %s", etcdCosts(m0, m1))
	b.Logf("agents: %d watch reconnects, %d heartbeats failed", cf.watchEnds.Load(), cf.hbErr.Load())
	b.Logf("server log: %s", logSummary(s.LogPath, 5))
	keepLog(b, s.Proc)
	cf.mu.Lock()
	firstErr := cf.firstErr
	cf.mu.Unlock()
	if firstErr != nil {
		b.Logf("first agent error: %v", firstErr)
	}
}

// applyAndWait applies the configuration of generation gen and waits until
// every agent holds a catalog of it; it returns the time from the start of
// the apply and each agent's latency.
func applyAndWait(ctx context.Context, b *testing.B, s *Server, cf *configFleet, gen string, withNodes, measured bool) (time.Duration, []time.Duration, error) {
	c := s.Client(b)
	start := time.Now()
	reached := cf.expect(gen, start)
	if _, err := c.Apply(ctx, api.ApplyRequest{Documents: benchRoleDocs(gen, withNodes)}); err != nil {
		return 0, nil, fmt.Errorf("apply %s: %w", gen, err)
	}
	applied := time.Since(start)
	select {
	case <-reached:
	case <-time.After(configBound - time.Since(start)):
		_, n, _ := cf.result()
		return 0, nil, fmt.Errorf("after %s only %d of %d agents hold a %s catalog (apply answered in %s)",
			configBound, n, cf.want, gen, applied.Round(time.Millisecond))
	}
	at, _, lat := cf.result()
	if measured {
		b.Logf("apply of %s answered in %s", gen, applied.Round(time.Millisecond))
	}
	return at.Sub(start), lat, nil
}

// etcdCosts words the change of the server's etcd counters between two
// scrapes.
func etcdCosts(m0, m1 map[string]float64) string {
	d := func(name string) float64 { return m1[name] - m0[name] }
	mean := func(name string) float64 {
		if n := d(name + "_count"); n > 0 {
			return 1000 * d(name+"_sum") / n
		}
		return 0
	}
	return fmt.Sprintf("%.0f WAL fsyncs (mean %.1f ms); %.0f backend commits (mean %.1f ms)",
		d("etcd_disk_wal_fsync_duration_seconds_count"), mean("etcd_disk_wal_fsync_duration_seconds"),
		d("etcd_disk_backend_commit_duration_seconds_count"), mean("etcd_disk_backend_commit_duration_seconds"))
}
