package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// Shape of BenchmarkClusterPlacement ($BENCH_CLUSTER_AGENTS and
// $BENCH_CLUSTER_TASKS change the first two).
const (
	clusterAgents      = 1000
	clusterTasks       = 50000
	clusterApps        = 100
	clusterShip        = 100 * time.Millisecond // report batch interval of each simulated agent
	clusterAssignBound = 4 * time.Minute        // apply → every task assigned, at most
	clusterRunBound    = 5 * time.Minute        // apply → every task running, at most
)

// BenchmarkClusterPlacement runs one `corral server` and, in this process,
// $BENCH_CLUSTER_AGENTS simulated agents (default 1,000) offering 64 CPUs,
// 256 GiB and ports 31000-32000 each. They join, say hello, heartbeat and
// watch their assignments; every task put with desired run is reported
// running in the agent's next report batch (one batch per agent every
// 100 ms, one report per status, as the real agent ships its spool). One
// POST /api/v1/apply creates 100 apps whose instances total
// $BENCH_CLUSTER_TASKS (default 50,000; cpus 0.01, mem 1, one dynamic port,
// no health checks), and the benchmark measures:
//
//   - apply → every task assigned (seen on the agents' watch streams), as
//     tasks/s (target ≥ 5,000 tasks/s);
//   - apply → GET /api/v1/apps counts every task running, as tasks/s end
//     to end;
//   - the server's CPU (percent of one core) and RSS over that window.
//
// BENCH_CLUSTER_REPORTS=off keeps the agents from reporting (placement
// alone, without the task status writes competing for etcd); the running
// phase is then skipped.
func BenchmarkClusterPlacement(b *testing.B) {
	skipUnlessLinux(b)
	nAgents := envInt("BENCH_CLUSTER_AGENTS", clusterAgents)
	nTasks := envInt("BENCH_CLUSTER_TASKS", clusterTasks)
	reports := os.Getenv("BENCH_CLUSTER_REPORTS") != "off"
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
	tf := newTaskFleet(nTasks)
	var agents sync.WaitGroup
	defer func() {
		cancel()
		agents.Wait()
	}()
	joinStart := time.Now()
	joined, joinErrs := joinTaskFleet(ctx, s, token, nAgents, tf, &agents, reports)
	joinTime := time.Since(joinStart)
	if joined == 0 {
		b.Fatalf("no agent joined: %v", joinErrs[0])
	}
	if len(joinErrs) > 0 {
		b.Logf("%d joins failed; first: %v", len(joinErrs), joinErrs[0])
	}
	// Every agent watching and every node ready before the apply.
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	err = poll(wctx, 100*time.Millisecond, func() (bool, error) {
		if tf.watching.Load() < int64(joined) {
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
		b.Fatalf("%d agents joined in %s, but not all watching and ready: %d watching: %v", joined, joinTime, tf.watching.Load(), err)
	}
	b.Logf("%d simulated agents joined in %s (%.0f/s), all watching, all nodes ready", joined,
		joinTime.Round(time.Millisecond), float64(joined)/joinTime.Seconds())

	docs := make([]api.Document, 0, clusterApps)
	apps := min(clusterApps, nTasks)
	for i := range apps {
		n := nTasks / apps
		if i < nTasks%apps {
			n++
		}
		docs = append(docs, appDocument(fmt.Sprintf("/bench/app-%03d", i), "exec sleep 3600", n, 0.01, 1,
			map[string]any{"ports": []map[string]any{{"name": "http"}}}))
	}

	mctx, mcancel := context.WithCancel(ctx)
	srvUse := make(chan Usage, 1)
	var useErr error
	go func() {
		u, err := measure(mctx, s.PID(), clusterRunBound+time.Minute)
		useErr = err
		srvUse <- u
	}()
	mc := metricsClient(b, s)
	m0 := mc.values(ctx)
	self0, _ := cpuTime(os.Getpid())
	stopProfile := profile(b, s.Proc, "apply to all tasks running")
	start := time.Now()
	tf.assignProg.begin(start)
	tf.reportProg.begin(start)
	if _, err := c.Apply(ctx, api.ApplyRequest{Documents: docs}); err != nil {
		mcancel()
		stopProfile()
		b.Fatalf("apply %d apps: %v", len(docs), err)
	}
	applyTime := time.Since(start)

	// Assigned: every task seen on a watch stream.
	var assignTime time.Duration
	select {
	case <-tf.allAssigned:
		assignTime = time.Unix(0, tf.assignedAt.Load()).Sub(start)
	case <-time.After(clusterAssignBound - time.Since(start)):
		b.Errorf("after %s only %d of %d tasks were assigned", clusterAssignBound, tf.assigned.Load(), nTasks)
	}

	// Running: the server counts every task running.
	var runTime time.Duration
	var running, staged, polls int
	rctx, rcancel := context.WithDeadline(ctx, start.Add(clusterRunBound))
	if !reports {
		rcancel() // nothing reports running: skip the wait
	}
	err = poll(rctx, 200*time.Millisecond, func() (bool, error) {
		polls++
		as, err := c.Apps(rctx)
		if err != nil {
			return false, err
		}
		running, staged = 0, 0
		for _, a := range as {
			if strings.HasPrefix(a.Spec.ID, "/bench/") {
				running += a.TasksRunning
				staged += a.TasksStaged
			}
		}
		if running >= nTasks {
			runTime = time.Since(start)
			return true, nil
		}
		return false, nil
	})
	rcancel()
	stopProfile()
	mcancel()
	u := <-srvUse
	self1, _ := cpuTime(os.Getpid())
	if err != nil && reports {
		b.Errorf("after %s the server counts %d of %d tasks running (%d staged): %v", clusterRunBound, running, nTasks, staged, err)
	}
	if useErr != nil {
		b.Logf("measuring the server: %v", useErr)
	}

	m1 := mc.values(ctx)
	b.ReportMetric(float64(assignTime.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(nTasks)/max(assignTime, applyTime).Seconds(), "assigned-tasks/s")
	b.ReportMetric(assignTime.Seconds(), "assign-s")
	b.ReportMetric(applyTime.Seconds(), "apply-s")
	if runTime > 0 {
		b.ReportMetric(float64(nTasks)/runTime.Seconds(), "running-tasks/s")
	}
	b.ReportMetric(runTime.Seconds(), "running-s")
	b.ReportMetric(u.CPUPercent(), "server-cpu-%")
	b.ReportMetric(mb(u.RSSMax), "rss-max-MB")
	b.ReportMetric(mb(u.HWM), "hwm-MB")
	b.ReportMetric(float64(tf.reportErrs.Load()), "report-errors")
	self := 100 * (self1 - self0).Seconds() / u.Wall.Seconds()
	b.Logf("%d tasks (%d apps) on %d simulated agents: apply answered in %s; every task assigned after %s (%.0f tasks/s, target >= 5000); "+
		"every task counted running after %s (%.0f tasks/s end to end, %d polls of GET /api/v1/apps)",
		nTasks, len(docs), joined, applyTime.Round(time.Millisecond), assignTime.Round(time.Millisecond),
		float64(nTasks)/max(assignTime, applyTime).Seconds(), runTime.Round(time.Millisecond), ratePer(nTasks, runTime), polls)
	b.Logf("server over %s: CPU %.0f%% of a core (%s), RSS max %.0f MB (sampled every second), peak (VmHWM, joins included) %.0f MB",
		u.Wall.Round(time.Second), u.CPUPercent(), u.CPU.Round(time.Millisecond), mb(u.RSSMax), mb(u.HWM))
	b.Logf("agents: %d tasks assigned, %d kills seen, %d statuses acknowledged in %d batches, %d batches failed, %d reports rejected, %d watch reconnects",
		tf.assigned.Load(), tf.kills.Load(), tf.reported.Load(), tf.batches.Load(), tf.reportErrs.Load(), tf.rejected.Load(), tf.watchEnds.Load())
	b.Logf("progress since apply: assigned %s; acknowledged running %s", &tf.assignProg, &tf.reportProg)
	b.Logf("server since apply: %s; now %s", serverCosts(m0, m1), mc.scrape(ctx, "go_goroutines", "go_memstats_heap_inuse_bytes"))
	b.Logf("server log: %s", logSummary(s.LogPath, 5))
	keepLog(b, s.Proc)
	b.Logf("machine: %.0f%% of a core busy: server %.0f%%, simulated agents (this process) %.0f%%, other processes %.0f%%",
		u.MachineBusy, u.CPUPercent(), self, u.MachineBusy-u.CPUPercent()-self)
	tf.mu.Lock()
	firstErr := tf.firstErr
	tf.mu.Unlock()
	if firstErr != nil {
		b.Logf("first agent error: %v", firstErr)
	}
}

// serverCosts words the change between two scrapes of the server's
// counters that say where the time of a placement goes.
func serverCosts(m0, m1 map[string]float64) string {
	d := func(name string) float64 { return m1[name] - m0[name] }
	mean := func(name string) float64 {
		if n := d(name + "_count"); n > 0 {
			return 1000 * d(name+"_sum") / n
		}
		return 0
	}
	return fmt.Sprintf("%.0f tasks placed; %.0f reconcile passes taking %.1f s in all (mean %.0f ms); "+
		"%.0f WAL fsyncs (mean %.1f ms); %.0f backend commits (mean %.1f ms)",
		d("corral_scheduler_tasks_placed_total"),
		d("corral_scheduler_reconcile_seconds_count"), d("corral_scheduler_reconcile_seconds_sum"), mean("corral_scheduler_reconcile_seconds"),
		d("etcd_disk_wal_fsync_duration_seconds_count"), mean("etcd_disk_wal_fsync_duration_seconds"),
		d("etcd_disk_backend_commit_duration_seconds_count"), mean("etcd_disk_backend_commit_duration_seconds"))
}

// keepLog copies a process's log next to the profiles, when profiles are
// asked for.
func keepLog(b *testing.B, p *Proc) {
	if profileDir() == "" {
		return
	}
	raw, err := os.ReadFile(p.LogPath)
	if err != nil {
		b.Logf("keep log: %v", err)
		return
	}
	dst := filepath.Join(profileDir(), fmt.Sprintf("log-%d.txt", p.PID()))
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		b.Logf("keep log: %v", err)
		return
	}
	b.Logf("log of pid %d: %s", p.PID(), dst)
}

// ratePer is n per d in 1/s, 0 when d is 0.
func ratePer(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// joinTaskFleet joins n task-running simulated agents through 16 workers
// and starts their heartbeats, watches and (with reports) report shipping,
// tracked by agents and ending with ctx. It returns how many joined and the
// errors of the others.
func joinTaskFleet(ctx context.Context, s *Server, token string, n int, tf *taskFleet, agents *sync.WaitGroup, reports bool) (int, []error) {
	epoch := time.Now()
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []error
	var workers sync.WaitGroup
	for range joinWorkers {
		workers.Go(func() {
			for i := range jobs {
				name := fmt.Sprintf("sim-%05d", i)
				sa, err := joinSim(ctx, s.Agent, token, name)
				var a *taskAgent
				var interval time.Duration
				if err == nil {
					a = newTaskAgent(sa)
					interval, err = a.helloOffer(ctx, i)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				if interval <= 0 {
					interval = 5 * time.Second
				}
				phase := time.Duration(i) * interval / time.Duration(n)
				agents.Go(func() {
					var wg sync.WaitGroup
					wg.Go(func() { a.watchTasks(ctx, tf) })
					if reports {
						wg.Go(func() { a.shipReports(ctx, tf, clusterShip) })
					}
					a.heartbeats(ctx, tf.fleet, epoch, phase, interval)
					wg.Wait()
					a.close()
				})
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	workers.Wait()
	return n - len(errs), errs
}

// Shape of BenchmarkApp200Instances.
const (
	app200Instances = 200
	app200Bound     = 90 * time.Second // apply → all healthy, at most
)

// BenchmarkApp200Instances runs one `corral server` and one real `corral
// agent` (--cpus 64 --mem-mb 65536 --port-range 40000-40999) and applies an
// exec app of 200 instances of `exec sleep 3600`, one dynamic port each,
// with a COMMAND health check `true` every second. It measures apply → the
// server counts 200 running and 200 healthy (polling GET
// /api/v1/apps/{id}); target: healthy under 15 s. It also reports when the
// last task first passed its check (its first_success), which a check
// timing out now and then does not delay, and the CPU and memory of the
// task processes (a supervisor and the command per task). Then it deletes
// the app and measures until no task is alive.
func BenchmarkApp200Instances(b *testing.B) {
	skipUnlessLinux(b)
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.StartReady(b)
	defer stopServer(b, s)
	c := s.Client(b)
	const name = "app200"
	agentDir := filepath.Join(parent, name)
	ag := startAgent(b, s, parent, name, s.JoinToken(b), realAgentArgs(64, 65536, "40000-40999")...)
	defer func() {
		ag.Stop()
		if n := killTaskProcs(agentDir); n > 0 {
			b.Logf("killed %d leftover processes of %s", n, agentDir)
		}
	}()
	ctx := context.Background()
	if _, err := waitNodeReady(ctx, c, name, ag); err != nil {
		b.Fatal(err)
	}

	const id = "/bench/sleep200"
	doc := appDocument(id, "exec sleep 3600", app200Instances, 0.1, 16, map[string]any{
		"ports":         []map[string]any{{"name": "http"}},
		"health_checks": []map[string]any{commandCheck()},
	})
	srvCPU0, _ := cpuTime(s.PID())
	agCPU0, _ := cpuTime(ag.PID())
	idle0, cores, _ := machineIdle()
	stopSrvProfile := profile(b, s.Proc, "apply to 200 healthy (server)")
	stopAgProfile := profile(b, ag, "apply to 200 healthy (agent)")
	stopProfile := func() { stopSrvProfile(); stopAgProfile() }
	start := time.Now()
	if _, err := c.Apply(ctx, api.ApplyRequest{Documents: []api.Document{doc}}); err != nil {
		stopProfile()
		b.Fatal(err)
	}
	applyTime := time.Since(start)
	var firstAt, runningAt, healthyAt time.Duration
	var last api.AppStatus
	wctx, wcancel := context.WithTimeout(ctx, app200Bound)
	err := poll(wctx, 100*time.Millisecond, func() (bool, error) {
		st, err := c.App(wctx, id)
		if err != nil {
			return false, err
		}
		last = st
		if firstAt == 0 && st.TasksRunning > 0 {
			firstAt = time.Since(start)
		}
		if runningAt == 0 && st.TasksRunning >= app200Instances {
			runningAt = time.Since(start)
		}
		if st.TasksHealthy >= app200Instances {
			healthyAt = time.Since(start)
			return true, nil
		}
		return false, nil
	})
	wcancel()
	stopProfile()
	wall := time.Since(start)
	srvCPU1, _ := cpuTime(s.PID())
	agCPU1, _ := cpuTime(ag.PID())
	idle1, _, _ := machineIdle()
	_, agHWM, _ := memory(ag.PID())
	if err != nil {
		b.Errorf("after %s: %d staged, %d running, %d healthy, %d unhealthy of %d (waiting: %q, last failure: %+v; health: %s): %v\n%s",
			app200Bound, last.TasksStaged, last.TasksRunning, last.TasksHealthy, last.TasksUnhealthy, app200Instances, last.Waiting,
			last.LastFailure, healthSummary(last.Tasks), err, ag.LogTail(10))
	}
	nodes := map[string]int{}
	var passedAt time.Duration // when the last task first passed its check
	passed := 0
	for _, t := range last.Tasks {
		nodes[t.Node]++
		if len(t.Health) > 0 && !t.Health[0].FirstSuccess.IsZero() {
			passed++
			passedAt = max(passedAt, t.Health[0].FirstSuccess.Sub(start))
		}
	}
	if passed < app200Instances {
		passedAt = 0
	}
	// The agent's task processes: a supervisor and the command per task.
	var taskPIDs []int
	for _, pid := range procsUnder(agentDir) {
		if pid != ag.PID() {
			taskPIDs = append(taskPIDs, pid)
		}
	}
	costs := procsCost(taskPIDs)
	var tasksCPU time.Duration
	var tasksPSS int64
	var byComm []string
	for _, comm := range slices.Sorted(maps.Keys(costs)) {
		c := costs[comm]
		tasksCPU, tasksPSS = tasksCPU+c.CPU, tasksPSS+c.PSS
		byComm = append(byComm, fmt.Sprintf("%d %s: %s CPU, RSS %.0f MB, PSS %.0f MB", c.N, comm, c.CPU.Round(time.Millisecond), mb(c.RSS), mb(c.PSS)))
	}

	// Tear down: delete the app and wait until no task is alive.
	delStart := time.Now()
	var alive int
	var teardown time.Duration
	if err := c.DeleteApp(ctx, id); err != nil {
		b.Errorf("delete %s: %v", id, err)
	} else {
		dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
		err = poll(dctx, 100*time.Millisecond, func() (bool, error) {
			ts, err := c.Tasks(dctx, client.TaskQuery{App: id})
			if err != nil {
				return false, err
			}
			alive = countTasks(ts, func(t api.Task) bool { return !api.TaskTerminal(t.State) })
			return alive == 0, nil
		})
		dcancel()
		teardown = time.Since(delStart)
		if err != nil {
			b.Errorf("60 s after deleting %s, %d tasks are not ended: %v", id, alive, err)
		}
	}

	b.ReportMetric(float64(healthyAt.Nanoseconds()), "ns/op")
	b.ReportMetric(healthyAt.Seconds(), "healthy-s")
	b.ReportMetric(passedAt.Seconds(), "passed-once-s")
	b.ReportMetric(tasksCPU.Seconds(), "task-procs-cpu-s")
	b.ReportMetric(mb(tasksPSS), "task-procs-pss-MB")
	b.ReportMetric(runningAt.Seconds(), "running-s")
	b.ReportMetric(applyTime.Seconds()*1000, "apply-ms")
	b.ReportMetric(teardown.Seconds(), "teardown-s")
	b.ReportMetric(100*(srvCPU1-srvCPU0).Seconds()/wall.Seconds(), "server-cpu-%")
	b.ReportMetric(100*(agCPU1-agCPU0).Seconds()/wall.Seconds(), "agent-cpu-%")
	b.ReportMetric(mb(agHWM), "agent-hwm-MB")
	busy := 100 * (float64(cores)*wall.Seconds() - (idle1 - idle0).Seconds()) / wall.Seconds()
	b.ReportMetric(busy, "machine-busy-%")
	b.Logf("%d instances of `exec sleep 3600` (COMMAND check `true` every 1 s) on one agent: apply answered in %s, first running after %s, all running after %s, all healthy after %s (target < 15 s); tasks by node %v",
		app200Instances, applyTime.Round(time.Millisecond), firstAt.Round(time.Millisecond), runningAt.Round(time.Millisecond),
		healthyAt.Round(time.Millisecond), nodes)
	b.Logf("every task had passed its check once %s after the apply (from the tasks' first_success; 0: not all did; all healthy at once: %s)",
		passedAt.Round(time.Millisecond), healthyAt.Round(time.Millisecond))
	b.Logf("task processes (supervisor and command of each task), at all healthy: %s", strings.Join(byComm, "; "))
	b.Logf("during it: server CPU %.0f%% of a core, agent CPU %.0f%% of a core, agent peak RSS %.0f MB, machine %.0f%% of a core busy (of %d cores); delete → no task alive in %s",
		100*(srvCPU1-srvCPU0).Seconds()/wall.Seconds(), 100*(agCPU1-agCPU0).Seconds()/wall.Seconds(), mb(agHWM), busy, cores,
		teardown.Round(time.Millisecond))
}

// realAgentArgs are the flags of a real agent running tasks in a benchmark:
// its offer, its own port range, and no listeners or collectors that would
// clash with another agent on the machine.
func realAgentArgs(cpus, memMB int, ports string) []string {
	return []string{"--cpus", fmt.Sprint(cpus), "--mem-mb", fmt.Sprint(memMB), "--port-range", ports,
		"--checks=false", "--host-metrics-interval", "0", "--statsd-addr", ""}
}

// commandCheck is a health check that passes at once: `true` every second
// (its timeout is capped at the interval), with 10 failures in a row
// before a kill, so a check timed out on a busy machine does not make the
// task churn.
func commandCheck() map[string]any {
	return map[string]any{"protocol": "COMMAND", "command": "true", "grace_period": "0s", "interval": "1s",
		"timeout": "1s", "max_consecutive_failures": 10}
}

// healthSummary counts tasks by state and names the most common cause of
// a failing health check.
func healthSummary(ts []api.Task) string {
	states, causes := map[string]int{}, map[string]int{}
	for _, t := range ts {
		states[t.State]++
		for _, h := range t.Health {
			if !h.Alive && h.LastFailureCause != "" {
				causes[h.LastFailureCause]++
			}
		}
	}
	return fmt.Sprintf("states %s; failing checks by cause %s", sortedCounts(states), sortedCounts(causes))
}

// countTasks counts the tasks matching keep.
func countTasks(ts []api.Task, keep func(api.Task) bool) int {
	n := 0
	for _, t := range ts {
		if keep(t) {
			n++
		}
	}
	return n
}

// Shape of BenchmarkNodeKilled.
const (
	nodeKilledInstances = 20
	nodeKilledTTL       = 5 * time.Second
	nodeKilledBound     = 60 * time.Second // SIGKILL → all healthy elsewhere, at most
)

// BenchmarkNodeKilled runs `corral server --lease-ttl 5s
// --heartbeat-interval 1s` and two real agents, applies an app of 20
// instances (spread over both: placement prefers the node with fewer of the
// app's tasks), SIGKILLs the agent of one node and measures until the
// server counts all 20 instances healthy on the other node. Target: within
// the lease TTL + 5 s.
func BenchmarkNodeKilled(b *testing.B) {
	skipUnlessLinux(b)
	parent := b.TempDir()
	s := newServer(b, filepath.Join(parent, "server"))
	s.Args = []string{"--lease-ttl", nodeKilledTTL.String(), "--heartbeat-interval", "1s"}
	s.StartReady(b)
	defer stopServer(b, s)
	c := s.Client(b)
	token := s.JoinToken(b)
	ctx := context.Background()
	names := []string{"node-a", "node-b"}
	procs := map[string]*Proc{}
	for i, name := range names {
		from := 41000 + 500*i
		procs[name] = startAgent(b, s, parent, name, token, realAgentArgs(8, 8192, fmt.Sprintf("%d-%d", from, from+499))...)
	}
	defer func() {
		for _, name := range names {
			procs[name].Stop()
			if n := killTaskProcs(filepath.Join(parent, name)); n > 0 {
				b.Logf("killed %d leftover processes of %s", n, name)
			}
		}
	}()
	for _, name := range names {
		if _, err := waitNodeReady(ctx, c, name, procs[name]); err != nil {
			b.Fatal(err)
		}
	}

	const id = "/bench/failover"
	doc := appDocument(id, "exec sleep 3600", nodeKilledInstances, 0.1, 16, map[string]any{
		"ports":         []map[string]any{{"name": "http"}},
		"health_checks": []map[string]any{commandCheck()},
	})
	if _, err := c.Apply(ctx, api.ApplyRequest{Documents: []api.Document{doc}}); err != nil {
		b.Fatal(err)
	}
	var before map[string]int
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err := poll(wctx, 100*time.Millisecond, func() (bool, error) {
		ts, err := c.AppTasks(wctx, id)
		if err != nil {
			return false, err
		}
		before = healthyByNode(ts)
		return before["node-a"]+before["node-b"] >= nodeKilledInstances, nil
	})
	wcancel()
	if err != nil {
		b.Fatalf("instances never all healthy: %v (healthy by node %v)", err, before)
	}
	victim, survivor := "node-b", "node-a"
	if before["node-b"] == 0 {
		victim, survivor = survivor, victim
	}
	moving := before[victim]

	stopProfile := profile(b, s.Proc, "node killed to all healthy elsewhere")
	killed := time.Now()
	if err := procs[victim].Cmd.Process.Kill(); err != nil {
		b.Fatal(err)
	}
	var lostAt, recovered time.Duration
	var now map[string]int
	rctx, rcancel := context.WithTimeout(ctx, nodeKilledBound)
	err = poll(rctx, 100*time.Millisecond, func() (bool, error) {
		ts, err := c.AppTasks(rctx, id)
		if err != nil {
			return false, err
		}
		if lostAt == 0 && countTasks(ts, func(t api.Task) bool { return t.Node == victim && t.State == api.TaskLost }) > 0 {
			lostAt = time.Since(killed)
		}
		now = healthyByNode(ts)
		if now[survivor] >= nodeKilledInstances {
			recovered = time.Since(killed)
			return true, nil
		}
		return false, nil
	})
	rcancel()
	stopProfile()
	if err != nil {
		b.Errorf("%s after SIGKILL of %s: healthy by node %v: %v\n%s", nodeKilledBound, victim, now, err, s.LogTail(10))
	}

	// Tear down: delete the app; the survivor stops its tasks, the victim's
	// are killed by the deferred cleanup.
	if err := c.DeleteApp(ctx, id); err != nil {
		b.Logf("delete %s: %v", id, err)
	} else {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		err := poll(dctx, 100*time.Millisecond, func() (bool, error) {
			ts, err := c.Tasks(dctx, client.TaskQuery{App: id})
			if err != nil {
				return false, err
			}
			return countTasks(ts, func(t api.Task) bool { return t.Node == survivor && api.TaskAlive(t.State) }) == 0, nil
		})
		dcancel()
		if err != nil {
			b.Logf("30 s after deleting %s, tasks still alive on %s: %v", id, survivor, err)
		}
	}

	b.ReportMetric(float64(recovered.Nanoseconds()), "ns/op")
	b.ReportMetric(recovered.Seconds(), "recover-s")
	b.ReportMetric(lostAt.Seconds(), "lost-detect-s")
	b.ReportMetric((recovered - lostAt).Seconds(), "replace-s")
	b.ReportMetric(float64(moving), "moved-tasks")
	b.Logf("%d instances healthy as %v; SIGKILL of %s (%d instances): its tasks lost after %s, all %d healthy on %s after %s (target < lease TTL %s + 5 s = %s)",
		nodeKilledInstances, sortedCounts(before), victim, moving, lostAt.Round(time.Millisecond), nodeKilledInstances, survivor,
		recovered.Round(time.Millisecond), nodeKilledTTL, nodeKilledTTL+5*time.Second)
}

// healthyByNode counts healthy tasks by node.
func healthyByNode(ts []api.Task) map[string]int {
	out := map[string]int{}
	for _, t := range ts {
		if t.State == api.TaskHealthy && t.Desired == api.DesiredRun {
			out[t.Node]++
		}
	}
	return out
}
