package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"corral/internal/api"
)

// taskKeyPrefix starts the assignment key of a task ("task/<id>").
const taskKeyPrefix = "task/"

// taskFleet counts what simulated agents running tasks see and report.
type taskFleet struct {
	*fleet
	want int64 // distinct tasks to be assigned before allAssigned closes

	assigned   atomic.Int64 // distinct tasks seen with desired run
	kills      atomic.Int64 // tasks seen with desired kill
	reported   atomic.Int64 // statuses the server acknowledged
	batches    atomic.Int64 // report batches acknowledged
	reportErrs atomic.Int64 // report batches that failed (resent)
	rejected   atomic.Int64 // reports the server rejected

	assignProg progress // of assigned
	reportProg progress // of reported

	once        sync.Once
	allAssigned chan struct{}
	assignedAt  atomic.Int64 // unix nanoseconds when want was reached
}

func newTaskFleet(want int) *taskFleet {
	tf := &taskFleet{fleet: &fleet{}, want: int64(want), allAssigned: make(chan struct{})}
	tf.assignProg.total, tf.reportProg.total = tf.want, tf.want
	return tf
}

// noteAssigned counts one newly assigned task and marks the moment the
// wanted number is reached.
func (tf *taskFleet) noteAssigned() {
	n := tf.assigned.Add(1)
	tf.assignProg.note(n)
	if n == tf.want {
		tf.once.Do(func() {
			tf.assignedAt.Store(time.Now().UnixNano())
			close(tf.allAssigned)
		})
	}
}

// taskAgent is a simulated agent that "runs" the tasks assigned to it: each
// task put with desired run is reported running, each put with desired
// kill is reported killed, in one report batch per ship interval, as the
// real agent ships its spool.
type taskAgent struct {
	*simAgent
	node string

	mu      sync.Mutex
	seen    map[string]string // task id → the desired state already handled
	pending []api.TaskStatus
	seq     uint64
}

func newTaskAgent(a *simAgent) *taskAgent {
	return &taskAgent{simAgent: a, node: a.name, seen: map[string]string{}}
}

// helloOffer registers the node with an offer big enough for many small
// tasks: 64 CPUs, 256 GiB, ports 31000-32000. It returns the heartbeat
// interval the server asks for.
func (a *taskAgent) helloOffer(ctx context.Context, i int) (time.Duration, error) {
	facts := simFacts(a.name, i)
	facts.CPUs, facts.MemoryBytes = 64, 256<<30
	var hr api.HelloResponse
	if err := postJSON(ctx, a.client, a.base+"/agent/v1/hello", api.HelloRequest{Protocol: api.ProtocolVersion,
		Facts: facts, Labels: map[string]string{"zone": "zone-" + strconv.Itoa(i%3), "role": "web"},
		Resources: api.NodeResources{CPUs: 64, MemMB: 256 << 10, DiskMB: 400 << 10, PortFrom: 31000, PortTo: 32000},
	}, &hr); err != nil {
		return 0, fmt.Errorf("hello %s: %w", a.name, err)
	}
	return time.Duration(hr.HeartbeatInterval), nil
}

// watchTasks keeps the node's assignment stream open until ctx ends,
// resuming from the last revision after a disconnect, and queues a status
// for every task assignment that asks for something new.
func (a *taskAgent) watchTasks(ctx context.Context, tf *taskFleet) {
	a.watch(ctx, tf.fleet, func(as api.Assignment) error {
		if as.Type == "put" && strings.HasPrefix(as.Key, taskKeyPrefix) {
			if err := a.takeAssignment(tf, as.Value); err != nil {
				return fmt.Errorf("assignment %s: %w", as.Key, err)
			}
		}
		return nil
	})
}

// takeAssignment queues the status a real agent would report for a task
// assignment: running for a new task to run, killed for a task to stop.
func (a *taskAgent) takeAssignment(tf *taskFleet, raw json.RawMessage) error {
	var ta api.TaskAssignment
	if err := json.Unmarshal(raw, &ta); err != nil {
		return err
	}
	now := time.Now().UTC()
	a.mu.Lock()
	defer a.mu.Unlock()
	done := a.seen[ta.ID]
	switch {
	case ta.Desired == api.DesiredRun && done == "":
		a.seen[ta.ID] = api.DesiredRun
		a.pending = append(a.pending, api.TaskStatus{ID: ta.ID, App: ta.App, Node: a.node, State: api.TaskRunning,
			PID: 100000 + len(a.seen), StartedAt: now, Time: now})
		tf.noteAssigned()
	case ta.Desired == api.DesiredKill && done != api.DesiredKill:
		a.seen[ta.ID] = api.DesiredKill
		a.pending = append(a.pending, api.TaskStatus{ID: ta.ID, App: ta.App, Node: a.node, State: api.TaskKilled,
			Reason: ta.KillReason, FinishedAt: now, Time: now})
		tf.kills.Add(1)
	}
	return nil
}

// shipReports POSTs the queued statuses to /agent/v1/report every interval
// (at a random phase, so agents do not ship in lockstep) until ctx ends.
// Each status is one report holding a one-element list, as the real agent
// spools them; a failed batch is queued again and resent.
func (a *taskAgent) shipReports(ctx context.Context, tf *taskFleet, interval time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(interval)):
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		sts := a.pending
		a.pending = nil
		a.mu.Unlock()
		if len(sts) == 0 {
			continue
		}
		batch := api.ReportBatch{Reports: make([]api.Report, 0, len(sts))}
		for _, st := range sts {
			data, err := json.Marshal([]api.TaskStatus{st})
			if err != nil {
				tf.noteErr(err)
				continue
			}
			a.seq++
			batch.Reports = append(batch.Reports, api.Report{Seq: a.seq, Type: "task", Time: st.Time, Data: data})
		}
		var ack api.ReportAck
		err := postJSON(ctx, a.client, a.base+"/agent/v1/report", batch, &ack)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			tf.reportErrs.Add(1)
			tf.noteErr(fmt.Errorf("report %s: %v", a.name, err))
			a.mu.Lock()
			a.pending = append(sts, a.pending...)
			a.mu.Unlock()
		default:
			tf.batches.Add(1)
			n := tf.reported.Add(int64(len(batch.Reports) - len(ack.Rejected)))
			for k := n - int64(len(batch.Reports)-len(ack.Rejected)) + 1; k <= n; k++ {
				tf.reportProg.note(k)
			}
			tf.rejected.Add(int64(len(ack.Rejected)))
			if len(ack.Rejected) > 0 {
				for seq, why := range ack.Rejected {
					tf.noteErr(fmt.Errorf("report %s: seq %d rejected: %s", a.name, seq, why))
					break
				}
			}
		}
	}
}

// appDocument is an apply document of an exec app; extra fields (ports,
// health checks, constraints) are merged into it.
func appDocument(id, cmd string, instances int, cpus float64, mem int64, extra map[string]any) api.Document {
	body := map[string]any{"kind": "App", "id": id, "cmd": cmd, "instances": instances, "cpus": cpus, "mem": mem}
	for k, v := range extra {
		body[k] = v
	}
	return api.Document{Source: "bench", Body: body}
}

// killTaskProcs SIGKILLs every process (but this one) whose working
// directory is under dir or whose command line mentions dir: the leftover
// tasks of an agent whose data dir is dir, and the agent itself. It
// returns how many it signalled.
func killTaskProcs(dir string) int {
	n := 0
	for _, pid := range procsUnder(dir) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// procsUnder returns the processes (but this one) whose working directory
// is under dir or whose command line mentions dir.
func procsUnder(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") || strings.Contains(string(cmd), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procCost is what a group of processes used.
type procCost struct {
	N   int
	CPU time.Duration
	RSS int64 // resident memory, shared pages counted in each process
	PSS int64 // proportional share: shared pages divided among their users
}

// procsCost sums the CPU time and memory of processes by command name
// (/proc/PID/comm).
func procsCost(pids []int) map[string]procCost {
	out := map[string]procCost{}
	for _, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		name := strings.TrimSpace(string(comm))
		r, _, _ := memory(pid)
		pc := out[name]
		pc.N++
		pc.CPU += c
		pc.RSS += r
		pc.PSS += pss(pid)
		out[name] = pc
	}
	return out
}

// pss returns the proportional set size of process pid in bytes, from
// /proc/PID/smaps_rollup; 0 when unknown.
func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// poll calls fn every interval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, fn func() (bool, error)) error {
	var last error
	for {
		done, err := fn()
		if err == nil && done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// logSummary counts the lines of a process log by level (slog's text
// format, level=WARN) and returns the counts with the first line of each
// distinct warning or error message, at most max of them.
func logSummary(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	levels := map[string]int{}
	seen := map[string]bool{}
	var firsts []string
	for line := range strings.Lines(string(b)) {
		_, rest, ok := strings.Cut(line, " level=")
		if !ok {
			continue
		}
		level, _, _ := strings.Cut(rest, " ")
		levels[level]++
		if level != "WARN" && level != "ERROR" {
			continue
		}
		_, msg, _ := strings.Cut(rest, " msg=")
		msg, _, _ = strings.Cut(msg, " component=")
		if !seen[msg] && len(firsts) < max {
			seen[msg] = true
			firsts = append(firsts, strings.TrimSpace(line))
		}
	}
	out := "lines by level: " + sortedCounts(levels)
	for _, l := range firsts {
		out += "\n  " + l
	}
	return out
}

// progress records when a growing count (growing by one at a time) first
// reaches each tenth of a total.
type progress struct {
	total   int64
	start   atomic.Int64     // unix nanoseconds; counting starts when set
	deciles [10]atomic.Int64 // nanoseconds since start; 0 until reached
}

// begin sets the start of the clock.
func (p *progress) begin(t time.Time) { p.start.Store(t.UnixNano()) }

// note records that the count is now n.
func (p *progress) note(n int64) {
	start := p.start.Load()
	if start == 0 || p.total <= 0 {
		return
	}
	for i := range p.deciles {
		if n == (p.total*int64(i+1)+9)/10 {
			p.deciles[i].CompareAndSwap(0, time.Now().UnixNano()-start)
		}
	}
}

// String lists the time each tenth was reached.
func (p *progress) String() string {
	var parts []string
	for i := range p.deciles {
		if d := p.deciles[i].Load(); d > 0 {
			parts = append(parts, fmt.Sprintf("%d%%:%s", 10*(i+1), time.Duration(d).Round(100*time.Millisecond)))
		}
	}
	return strings.Join(parts, " ")
}

// sortedCounts formats counts by key in key order.
func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
