package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/scheduler"
	"corral/internal/scheduler/deploy"
	"corral/internal/store"
)

// The cluster (cluster*.go): apps and jobs run as tasks on the agents.
// Every server answers the API and takes task reports; only the leader,
// elected through etcd, places tasks, drives deployments and starts job
// runs. All of the state lives in etcd (tasks, running deployments, active
// job runs, the scheduler's per-app record), so a new leader carries on
// where the last one stopped; finished deployments and job runs go to the
// history store.

const (
	kindApp = "App"
	kindJob = "Job"

	// electionTTL is the leader's etcd session TTL: a second server takes
	// over at most this long after the leader dies.
	electionTTL = 5
	// leaderTick is how often the leader reconciles even when nothing changed.
	leaderTick = 2 * time.Second
)

// appState is the leader's record of an app (store.AppStateKey): what it
// last set out to deploy, and why it is not there yet.
type appState struct {
	Version    int64     `json:"version"`
	Config     string    `json:"config"`
	Instances  int       `json:"instances"`
	Restart    int       `json:"restart"`
	Deployment string    `json:"deployment,omitempty"` // the running one
	Waiting    string    `json:"waiting,omitempty"`
	Since      time.Time `json:"since"`
	// Backoff is the app's crash backoff, kept so a new leader goes on
	// with it.
	Backoff *deploy.Backoff `json:"backoff,omitempty"`
}

// sameAppState compares two app records as stored.
func sameAppState(a, b appState) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// jobState is the leader's record of a job (store.JobStateKey).
type jobState struct {
	Version       int64     `json:"version"`
	Schedule      string    `json:"schedule"`
	LastScheduled time.Time `json:"last_scheduled,omitzero"`
	Since         time.Time `json:"since"`
}

type clusterSvc struct {
	apps, jobs, tasks, status, deps, appstate, restarts, jobruns, jobstate *store.Mirror

	leader   atomic.Bool
	leaderID atomic.Value // string: the current leader's name, as etcd says
	wake     chan struct{}

	// Leader-only memory, reset when leadership is won.
	mu       sync.Mutex
	backoff  map[string]deploy.Backoff
	compile  map[string]compiledJob
	appCache *specCache[api.AppSpec, *api.AppSpec]
	jobCache *specCache[api.JobSpec, *api.JobSpec]

	// lastWrite is the etcd revision of the leader's last write: the next
	// reconcile reads the mirrors only once they hold it.
	lastWrite atomic.Int64

	// For self metrics.
	placed, killed, lost atomic.Int64
	reconcileSeconds     prometheus.Histogram
}

// startCluster starts the mirrors, the leader election and the leader's
// loop.
func (s *Server) startCluster(ctx context.Context, g *errgroup.Group) error {
	cli := s.etcd.Client()
	c := &clusterSvc{wake: make(chan struct{}, 1)}
	c.apps = store.NewMirror(cli, store.ResourcesPrefix(kindApp), store.Decoder[store.ResourceRecord]())
	c.jobs = store.NewMirror(cli, store.ResourcesPrefix(kindJob), store.Decoder[store.ResourceRecord]())
	c.tasks = store.NewMirror(cli, store.TasksPrefix(), store.Decoder[api.Task]())
	c.status = store.NewMirror(cli, store.TaskStatusPrefix(), store.Decoder[api.TaskStatus]())
	c.deps = store.NewMirror(cli, store.DeploymentsPrefix(), store.Decoder[api.Deployment]())
	c.appstate = store.NewMirror(cli, store.AppStatePrefix(), store.Decoder[appState]())
	c.restarts = store.NewMirror(cli, store.RestartsPrefix(), func(b []byte) (any, error) { return strconv.Atoi(string(b)) })
	c.jobruns = store.NewMirror(cli, store.JobRunsPrefix(), store.Decoder[api.JobRun]())
	c.jobstate = store.NewMirror(cli, store.JobStatePrefix(), store.Decoder[jobState]())
	c.appCache = newSpecCache[api.AppSpec](c.apps)
	c.jobCache = newSpecCache[api.JobSpec](c.jobs)
	mirrors := c.mirrors()
	for _, m := range mirrors {
		g.Go(func() error { return m.Run(ctx) })
	}
	for _, m := range mirrors {
		select {
		case <-m.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.leaderID.Store("")
	c.reconcileSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corral_scheduler_reconcile_seconds",
		Help: "Time the leader takes to reconcile apps and jobs once.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)})
	s.cluster = c
	s.reg.MustRegister(&clusterCollector{s: s})
	g.Go(func() error { return s.elect(ctx) })
	return nil
}

func (c *clusterSvc) mirrors() []*store.Mirror {
	return []*store.Mirror{c.apps, c.jobs, c.tasks, c.status, c.deps, c.appstate, c.restarts, c.jobruns, c.jobstate}
}

// poke asks the leader loop to reconcile soon.
func (c *clusterSvc) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// elect campaigns for leadership until ctx ends; while this server leads it
// runs the leader loop. Losing the etcd session (a partition, etcd
// restarting) ends the term; the server campaigns again.
func (s *Server) elect(ctx context.Context) error {
	c := s.cluster
	log := s.log.With("component", "scheduler")
	// Campaign once the API listens: the leader's name is where its API
	// answers (Marathon's /v2/leader), host:port.
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(s.addrs.HTTP)
	name := net.JoinHostPort(host, port)
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(s.etcd.Client(), concurrency.WithTTL(electionTTL), concurrency.WithContext(ctx))
		if err != nil {
			log.Warn("election session", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		el := concurrency.NewElection(sess, store.Prefix+"leader/scheduler")
		go s.followLeader(ctx, el)
		if err := el.Campaign(ctx, name); err != nil {
			sess.Close()
			if ctx.Err() == nil {
				log.Warn("campaign", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		log.Info("leading the scheduler", "server", name)
		c.leader.Store(true)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
				log.Warn("lost the scheduler leadership (etcd session ended)")
			case <-lctx.Done():
			}
			cancel()
		}()
		err = s.lead(lctx)
		c.leader.Store(false)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Error("scheduler", "err", err)
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = el.Resign(rctx)
		rcancel()
		sess.Close()
	}
	return nil
}

// followLeader keeps the name of the current leader for the API and metrics.
func (s *Server) followLeader(ctx context.Context, el *concurrency.Election) {
	for resp := range el.Observe(ctx) {
		if len(resp.Kvs) > 0 {
			s.cluster.leaderID.Store(string(resp.Kvs[0].Value))
		}
	}
}

// lead is the leader loop: reconcile whenever apps, jobs, tasks, nodes or
// liveness change, and every leaderTick.
func (s *Server) lead(ctx context.Context) error {
	c := s.cluster
	c.mu.Lock()
	c.backoff = map[string]deploy.Backoff{}
	for id, st := range c.appStates() {
		if st.Backoff != nil {
			c.backoff[id] = *st.Backoff
		}
	}
	c.compile = map[string]compiledJob{}
	c.mu.Unlock()
	watched := append(c.mirrors(), s.nodes, s.alive)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		chans := make([]<-chan struct{}, len(watched))
		for i, m := range watched {
			_, chans[i] = m.Gen()
		}
		start := time.Now()
		if err := c.catchUp(ctx); err != nil {
			return nil
		}
		wake, err := s.reconcile(ctx)
		c.reconcileSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("reconcile", "component", "scheduler", "err", err)
			wake = time.Now().Add(time.Second)
		}
		next := leaderTick
		if !wake.IsZero() {
			next = min(next, max(time.Until(wake), 10*time.Millisecond))
		}
		timer.Reset(next)
		if !waitAny(ctx, chans, c.wake, timer.C) {
			return nil
		}
		// Let a burst of changes (an apply of many apps, a report batch)
		// settle into one reconcile.
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

// write stores a batch of the leader's decisions and remembers its revision.
func (s *Server) write(ctx context.Context, groups [][]store.Op) error {
	rev, err := s.store.Batch(ctx, groups)
	for {
		cur := s.cluster.lastWrite.Load()
		if rev <= cur || s.cluster.lastWrite.CompareAndSwap(cur, rev) {
			break
		}
	}
	return err
}

// catchUp waits until the mirrors the reconciler reads hold the leader's
// own last write, so that no pass acts on state older than what the last
// one decided (it would place the same instances again). A mirror far
// behind (etcd overloaded) is waited for at most 30 s.
func (c *clusterSvc) catchUp(ctx context.Context) error {
	rev := c.lastWrite.Load()
	if rev == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, m := range c.mirrors() {
		if err := m.WaitRev(wctx, rev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
	}
	return nil
}

// waitAny waits for one of chans, wake or tick; false when ctx ended.
func waitAny(ctx context.Context, chans []<-chan struct{}, wake <-chan struct{}, tick <-chan time.Time) bool {
	done := make(chan struct{})
	fired := make(chan struct{}, 1)
	for _, ch := range chans {
		go func() {
			select {
			case <-ch:
				select {
				case fired <- struct{}{}:
				default:
				}
			case <-done:
			}
		}()
	}
	defer close(done)
	select {
	case <-ctx.Done():
		return false
	case <-fired:
	case <-wake:
	case <-tick:
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reconcile runs one pass over apps and jobs and returns when it wants to
// run again at the latest (zero: at the next tick).
func (s *Server) reconcile(ctx context.Context) (time.Time, error) {
	nodes := s.schedulerNodes()
	tasks, err := s.launchTimeouts(ctx, s.cluster.allTasks())
	if err != nil {
		return time.Time{}, err
	}
	wakeApps, err := s.reconcileApps(ctx, nodes, tasks)
	if err != nil {
		return time.Time{}, err
	}
	wakeJobs, err := s.reconcileJobs(ctx, nodes, tasks)
	if err != nil {
		return time.Time{}, err
	}
	if err := s.sweepStatuses(ctx); err != nil {
		return time.Time{}, err
	}
	switch {
	case wakeApps.IsZero():
		return wakeJobs, nil
	case wakeJobs.IsZero() || wakeApps.Before(wakeJobs):
		return wakeApps, nil
	}
	return wakeJobs, nil
}

// schedulerNodes returns every registered node as placement sees it.
func (s *Server) schedulerNodes() []scheduler.Node {
	vals, _ := s.nodes.Values()
	out := make([]scheduler.Node, 0, len(vals))
	for name, v := range vals {
		rec, ok := v.(store.NodeRecord)
		if !ok {
			continue
		}
		_, alive := s.alive.Get(name)
		out = append(out, scheduler.NodeFromAPI(rec.API(alive)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// allTasks returns every task, sorted by id: its record (placement, what
// the leader decided) with the last status its agent reported. A state the
// leader set itself (lost, or killed before it started) is final.
func (c *clusterSvc) allTasks() []api.Task {
	vals, _ := c.tasks.Values()
	sts, _ := c.status.Values()
	out := make([]api.Task, 0, len(vals))
	for id, v := range vals {
		t, ok := v.(api.Task)
		if !ok {
			continue
		}
		if sv, ok := sts[id]; ok && !api.TaskTerminal(t.State) {
			if st := sv.(api.TaskStatus); st.Node == t.Node {
				withStatus(&t, st)
			}
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// launchTimeouts fails the tasks their agents never reported on within
// --task-launch-timeout (an agent that is up but does not take them), and
// returns the tasks as they are now.
func (s *Server) launchTimeouts(ctx context.Context, tasks []api.Task) ([]api.Task, error) {
	now := s.cfg.Now().UTC()
	launchTimeout := s.cfg.TaskLaunchTimeout
	if launchTimeout <= 0 {
		launchTimeout = Defaults().TaskLaunchTimeout
	}
	var groups [][]store.Op
	for i, t := range tasks {
		if t.State != api.TaskStaging || !t.UpdatedAt.IsZero() || now.Sub(t.StagedAt) < launchTimeout {
			continue
		}
		if _, up := s.alive.Get(t.Node); !up {
			continue // the node is down: its tasks are lost instead
		}
		t.State, t.FinishedAt = api.TaskFailed, now
		t.Reason = fmt.Sprintf("not started by the agent of %s within %s (launch timeout)", t.Node, launchTimeout)
		tasks[i] = t
		groups = append(groups, []store.Op{store.Put(store.TaskKey(t.ID), t), store.Del(store.TaskAssignKey(t.Node, t.ID))})
	}
	return tasks, s.write(ctx, groups)
}

// removeTask deletes a task's record, status and assignment.
func removeTask(t api.Task) []store.Op {
	return []store.Op{store.Del(store.TaskKey(t.ID)), store.Del(store.TaskStatusKey(t.ID)), store.Del(store.TaskAssignKey(t.Node, t.ID))}
}

// sweepStatuses deletes statuses whose task is gone (a report that came
// after the task was removed), once they are a minute old.
func (s *Server) sweepStatuses(ctx context.Context) error {
	sts, _ := s.cluster.status.Values()
	var groups [][]store.Op
	now := s.cfg.Now()
	for id, v := range sts {
		if _, ok := s.cluster.tasks.Value(id); ok {
			continue
		}
		if st, ok := v.(api.TaskStatus); ok && now.Sub(st.Time) > time.Minute {
			groups = append(groups, []store.Op{store.Del(store.TaskStatusKey(id))})
		}
	}
	return s.write(ctx, groups)
}

// withStatus puts an agent's status into a task.
func withStatus(t *api.Task, st api.TaskStatus) {
	t.State, t.Reason, t.ExitCode, t.Signal, t.OOM = st.State, st.Reason, st.ExitCode, st.Signal, st.OOM
	t.Health = st.Health
	if !st.StartedAt.IsZero() {
		t.StartedAt = st.StartedAt
	}
	t.FinishedAt = st.FinishedAt
	t.UpdatedAt = st.Time
}

// newTaskSuffix returns 12 random hex digits for a task or run id.
func newTaskSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runConfig identifies what an app's tasks run: its spec without the
// instance count, and its restart count. Tasks with another config are
// replaced by a deployment.
func runConfig(spec api.AppSpec, restart int) string {
	spec.Instances = nil
	b, _ := json.Marshal(spec)
	h := sha256.New()
	h.Write(b)
	fmt.Fprintf(h, "\x00restart=%d", restart)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// deploymentID names the deployment of an app's version and restart count.
func deploymentID(app string, version int64, restart int) string {
	id := api.TaskID(app, "v"+strconv.FormatInt(version, 10))
	if restart > 0 {
		id += ".r" + strconv.Itoa(restart)
	}
	return id
}

// assignment is what the agent of t's node is told to run.
func assignment(t api.Task, run api.RunSpec, checks []api.HealthCheck) api.TaskAssignment {
	return api.TaskAssignment{ID: t.ID, Kind: t.Kind, App: t.App, Version: t.Version, Run: run, Ports: t.Ports,
		HealthChecks: checks, Desired: t.Desired, KillReason: t.KillReason, StagedAt: t.StagedAt}
}

// reportTasks takes task statuses from a node's agent ("task" reports):
// the newest status of each task is stored under its status key, all of a
// batch in one write. Any server takes them; the leader reacts through the
// status mirror. A status older than the one stored is ignored; a task the
// leader already ended (declared lost: its agent was cut off past its
// lease) keeps that end, and the agent kills it because its assignment is
// gone.
func (s *Server) reportTasks(ctx context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	rejected := map[uint64]string{}
	newest := map[string]api.TaskStatus{}
	for _, r := range reports {
		var sts []api.TaskStatus
		if err := json.Unmarshal(r.Data, &sts); err != nil {
			rejected[r.Seq] = fmt.Sprintf("bad task report: %v", err)
			continue
		}
		for _, st := range sts {
			if st.ID == "" || st.State == "" {
				continue
			}
			st.Node = node
			if cur, ok := newest[st.ID]; ok && st.Time.Before(cur.Time) {
				continue
			}
			newest[st.ID] = st
		}
	}
	var groups [][]store.Op
	for id, st := range newest {
		if v, ok := s.cluster.status.Value(id); ok && st.Time.Before(v.(api.TaskStatus).Time) {
			continue
		}
		groups = append(groups, []store.Op{store.Put(store.TaskStatusKey(id), st)})
	}
	if _, err := s.store.Batch(ctx, groups); err != nil {
		return nil, err
	}
	return rejected, nil
}

// clusterCollector exports the scheduler's gauges.
type clusterCollector struct{ s *Server }

var (
	descLeader   = prometheus.NewDesc("corral_scheduler_leader", "1 when this server is the scheduler's leader.", nil, nil)
	descTasks    = prometheus.NewDesc("corral_tasks", "Task records by state.", []string{"state"}, nil)
	descApps     = prometheus.NewDesc("corral_apps", "Apps applied.", nil, nil)
	descDeploys  = prometheus.NewDesc("corral_deployments_running", "Deployments in progress.", nil, nil)
	descPlaced   = prometheus.NewDesc("corral_scheduler_tasks_placed_total", "Tasks placed by this server as leader.", nil, nil)
	descKilled   = prometheus.NewDesc("corral_scheduler_tasks_killed_total", "Tasks this server as leader asked to stop.", nil, nil)
	descLost     = prometheus.NewDesc("corral_scheduler_tasks_lost_total", "Tasks this server as leader declared lost (their node went down).", nil, nil)
	descJobsActv = prometheus.NewDesc("corral_job_runs_active", "Job runs in progress.", nil, nil)
)

func (cc *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTasks, descApps, descDeploys, descPlaced, descKilled, descLost, descJobsActv} {
		ch <- d
	}
	cc.s.cluster.reconcileSeconds.Describe(ch)
}

func (cc *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	c := cc.s.cluster
	leader := 0.0
	if c.leader.Load() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	byState := map[string]int{}
	for _, t := range c.allTasks() {
		byState[t.State]++
	}
	for st, n := range byState {
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), st)
	}
	apps, _ := c.apps.Values()
	deps, _ := c.deps.Values()
	runs, _ := c.jobruns.Values()
	ch <- prometheus.MustNewConstMetric(descApps, prometheus.GaugeValue, float64(len(apps)))
	ch <- prometheus.MustNewConstMetric(descDeploys, prometheus.GaugeValue, float64(len(deps)))
	ch <- prometheus.MustNewConstMetric(descJobsActv, prometheus.GaugeValue, float64(len(runs)))
	ch <- prometheus.MustNewConstMetric(descPlaced, prometheus.CounterValue, float64(c.placed.Load()))
	ch <- prometheus.MustNewConstMetric(descKilled, prometheus.CounterValue, float64(c.killed.Load()))
	ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(c.lost.Load()))
	c.reconcileSeconds.Collect(ch)
}
