package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"corral/internal/agent/facts"
	"corral/internal/api"
	"corral/internal/converge"
)

// convergeStateFile keeps the nonce of the last converge request handled,
// so that a re-snapshot of the assignments or a restart does not run it
// again.
const convergeStateFile = "converge.json"

// convergeDebounce lets a burst of file events (an editor's save is
// several) settle before the managed paths are looked at.
const convergeDebounce = 200 * time.Millisecond

// Triggers of converge runs, as reports name them.
const (
	triggerStart    = "start"
	triggerChange   = "change"
	triggerInterval = "interval"
	triggerManual   = "manual"
	triggerDrift    = "drift"
)

// convergeLoop converges the node's catalog (the assignment
// api.CatalogAssignKey) and sends each run's report as a "converge"
// report: once the watch has synced, whenever the catalog's hash changes,
// on every new api.ConvergeRunAssignKey nonce, when a managed file drifts
// and every ConvergeInterval plus a random splay. Runs go one at a time.
func (a *Agent) convergeLoop(ctx context.Context) error {
	corral, err := os.Executable()
	if err != nil {
		a.log.Warn("cannot find the corral binary; cron check-ins call /usr/local/bin/corral", "err", err)
		corral = ""
	}
	c := newConverger(convergeOptions{
		Node:       a.id.node,
		Labels:     a.cfg.Labels,
		Root:       a.cfg.Root,
		StateFile:  filepath.Join(a.cfg.DataDir, convergeStateFile),
		Interval:   a.cfg.ConvergeInterval,
		Splay:      a.cfg.ConvergeSplay,
		Report:     a.Report,
		Secrets:    a.fetchSecrets,
		Facts:      a.convergeFacts,
		Exec:       converge.OSRunner{},
		CorralPath: corral,
		Watch:      true,
		Logger:     a.cfg.Logger,
		Now:        a.cfg.Now,
	})
	return c.run(ctx, a.convergeWake, a.convergeAssignments)
}

// convergeAssignments reads the node's catalog, last converge request and
// the cluster's node list (a shared assignment).
func (a *Agent) convergeAssignments() convergeInputs {
	a.mu.Lock()
	defer a.mu.Unlock()
	return convergeInputs{catalog: a.assignments[api.CatalogAssignKey], run: a.assignments[api.ConvergeRunAssignKey],
		nodes: a.assignments[api.CatalogNodesAssignKey], synced: a.synced}
}

// convergeInputs are the assignments the converge loop reads.
type convergeInputs struct {
	catalog, run, nodes json.RawMessage
	synced              bool // the watch's snapshot is in
}

// wakeConverge tells the converge loop that its assignments may have
// changed. The watch calls it with a.mu held, after applying as (and after
// wakeChecks, which marks the sync).
func (a *Agent) wakeConverge(as api.Assignment, snapshot bool) {
	wakeOn(a.convergeWake, as, snapshot, func(k string) bool {
		return k == api.CatalogAssignKey || k == api.ConvergeRunAssignKey || k == api.CatalogNodesAssignKey
	})
}

// fetchSecrets asks the server for the values of the secrets the catalog
// names. They are kept in memory only.
func (a *Agent) fetchSecrets(ctx context.Context, names []string) (map[string]string, error) {
	var resp api.SecretsResponse
	if err := a.call(ctx, "/agent/v1/secrets", api.SecretsRequest{Names: names}, &resp); err != nil {
		return nil, err
	}
	return resp.Values, nil
}

// convergeFacts are the facts templates see, collected for each run.
func (a *Agent) convergeFacts(ctx context.Context) api.Facts {
	f, err := facts.Collect(ctx, a.cfg.Version)
	if err != nil {
		a.log.Debug("collect facts for converge", "err", err)
	}
	return f
}

// convergeOptions is what a converger works with; the agent passes its
// own, tests fakes.
type convergeOptions struct {
	Node   string
	Labels map[string]string
	// Root prefixes every path ("/" or "" is the machine).
	Root string
	// StateFile keeps the nonce of the last converge request handled.
	StateFile string
	// Interval between runs (0: no periodic runs) and the largest random
	// delay added to each (chef-client's splay).
	Interval, Splay time.Duration
	// Report queues a report for the server (Agent.Report).
	Report func(typ string, data any) error
	// Secrets fetches secret values by name (POST /agent/v1/secrets).
	Secrets func(ctx context.Context, names []string) (map[string]string, error)
	// Facts returns this node's facts for templates.
	Facts      func(ctx context.Context) api.Facts
	Exec       converge.CommandRunner
	CorralPath string
	// Watch turns on drift detection: the managed paths are watched
	// (fsnotify) and a change made by someone else is repaired or
	// reported, as the resource's drift setting says.
	Watch bool
	// NoSync skips syncing written files (tests).
	NoSync bool
	Logger *slog.Logger
	Now    func() time.Time
	// Rand returns a random number in [0, n) (the splay); After is
	// time.After (the interval timer). Both are faked in tests.
	Rand  func(n int64) int64
	After func(time.Duration) <-chan time.Time
	// Debounce is how long file events settle (convergeDebounce when 0).
	Debounce time.Duration
}

// converger runs the converges of one node. Its loop owns every field but
// the secrets and facts, which only the run in progress touches (runs go one at a
// time, handed over through a channel).
type converger struct {
	opt    convergeOptions
	log    *slog.Logger
	runner *converge.Runner

	catalogRaw json.RawMessage
	nodesRaw   json.RawMessage
	cat        *catalogState // nil: the node has no catalog
	seenSync   bool          // the first synced look happened
	handled    string        // nonce of the last converge request handled
	queue      runQueue

	secretVers map[string]int64  // the catalog Secrets the values were fetched for
	secretVals map[string]string // in memory only
	// cachedFacts were collected at factsAt (by runs, like the secrets).
	cachedFacts api.Facts
	factsAt     time.Time

	drift *driftWatch
}

// catalogState is a catalog and its decoded resources.
type catalogState struct {
	cat       api.Catalog
	nodes     []api.CatalogNode // the cluster's nodes, when the catalog needs them
	resources []converge.Resource
	err       error // why the resources do not decode
}

// runRequest is one run to make. Requests that wait are coalesced (see
// runQueue.add).
type runRequest struct {
	Trigger string
	Nonce   string
	DryRun  bool
	// Only restricts the run to these resources (a drift report).
	Only []string
}

func newConverger(opt convergeOptions) *converger {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Int64N
	}
	if opt.After == nil {
		opt.After = time.After
	}
	if opt.Debounce <= 0 {
		opt.Debounce = convergeDebounce
	}
	if opt.Root == "" {
		opt.Root = "/"
	}
	log := opt.Logger.With("component", "converge")
	c := &converger{opt: opt, log: log, runner: converge.NewRunner(), handled: loadConvergeNonce(opt.StateFile, log)}
	return c
}

// nextInterval is how long to wait for the next periodic run: the interval
// plus a random splay in [0, splay). Zero interval: never (ok false).
func nextInterval(interval, splay time.Duration, rnd func(int64) int64) (time.Duration, bool) {
	if interval <= 0 {
		return 0, false
	}
	d := interval
	if splay > 0 {
		d += time.Duration(rnd(int64(splay)))
	}
	return d, true
}

// runDone is what a run hands back to the loop.
type runDone struct {
	req       runRequest
	cat       *catalogState
	report    *api.ConvergeReport // nil: nothing ran
	startedAt time.Time
}

// run is the converge loop: it reads the assignments when wake fires,
// starts the queued runs one at a time and watches the managed paths.
func (c *converger) run(ctx context.Context, wake <-chan struct{}, read func() convergeInputs) error {
	if c.opt.Watch {
		dw, err := newDriftWatch(c.opt.Root, c.log)
		if err != nil {
			c.log.Warn("cannot watch managed files; drift is found by the next run only", "err", err)
		} else {
			c.drift = dw
			defer dw.close()
		}
	}
	done := make(chan runDone, 1)
	running := false
	var interval, debounce <-chan time.Time
	c.look(read())
	for {
		if !running {
			if req, ok := c.queue.next(); ok {
				running = true
				cat := c.cat
				go func() { done <- c.execute(ctx, req, cat) }()
			}
		}
		select {
		case <-ctx.Done():
			if running {
				<-done
			}
			return nil
		case <-wake:
			c.look(read())
		case d := <-done:
			running = false
			if c.afterRun(d) {
				if wait, ok := nextInterval(c.opt.Interval, c.opt.Splay, c.opt.Rand); ok {
					interval = c.opt.After(wait)
					c.log.Debug("next periodic converge", "in", wait)
				}
			}
			if c.drift != nil && c.drift.pending() {
				c.enqueueDrift()
			}
		case <-interval:
			interval = nil
			if c.cat != nil {
				c.queue.add(runRequest{Trigger: triggerInterval})
			}
		case ev, ok := <-c.drift.events():
			if !ok { // the watcher failed: runs still repair drift
				c.log.Warn("file watch ended; drift is found by the next run only")
				c.drift.close()
				c.drift = nil
				continue
			}
			if c.drift.note(ev) && debounce == nil {
				debounce = time.After(c.opt.Debounce)
			}
		case err, ok := <-c.drift.errors():
			if !ok {
				c.log.Warn("file watch ended; drift is found by the next run only")
				c.drift.close()
				c.drift = nil
				continue
			}
			c.log.Warn("file watch", "err", err)
		case <-debounce:
			debounce = nil
			if !running {
				c.enqueueDrift()
			} // else: looked at when the run is done
		}
	}
}

// look reads the assignments: a new catalog hash queues a run (trigger
// start the first time), a new converge request nonce queues a run of its
// own (dry or not).
func (c *converger) look(in convergeInputs) {
	if !in.synced {
		return // wait for the full snapshot
	}
	run := in.run
	first := !c.seenSync
	c.seenSync = true
	if first || !bytes.Equal(in.catalog, c.catalogRaw) || !bytes.Equal(in.nodes, c.nodesRaw) {
		c.catalogRaw, c.nodesRaw = bytes.Clone(in.catalog), bytes.Clone(in.nodes)
		c.setCatalog(in.catalog, in.nodes, first)
	}
	if len(run) > 0 {
		var req api.ConvergeRequest
		if err := json.Unmarshal(run, &req); err != nil || req.Nonce == "" {
			c.log.Warn("ignoring a converge request that does not parse", "err", err)
		} else if req.Nonce != c.handled {
			c.handled = req.Nonce
			// Saved before the run: a request runs at most once.
			if err := saveConvergeNonce(c.opt.StateFile, req.Nonce); err != nil {
				c.log.Warn("cannot keep the nonce of the converge request; a restart may run it again", "err", err)
			}
			c.log.Info("converge requested", "nonce", req.Nonce, "dry_run", req.DryRun, "by", req.By)
			c.queue.add(runRequest{Trigger: triggerManual, Nonce: req.Nonce, DryRun: req.DryRun})
		}
	}
}

// setCatalog takes a new catalog assignment and queues a run when its hash
// changed.
func (c *converger) setCatalog(raw, nodesRaw json.RawMessage, first bool) {
	if len(raw) == 0 {
		if c.cat != nil {
			c.log.Info("the node has no roles any more; nothing to converge")
		}
		c.cat = nil
		if c.drift != nil {
			c.drift.set(nil, nil)
		}
		return
	}
	var cat api.Catalog
	if err := json.Unmarshal(raw, &cat); err != nil {
		c.log.Warn("ignoring a catalog that does not parse", "err", err)
		return
	}
	var nodes []api.CatalogNode
	if cat.NodesDigest != "" {
		// The node list is a shared assignment; the server writes it
		// before a catalog that names it, and a catalog waits for it.
		var cn api.CatalogNodes
		if len(nodesRaw) == 0 || json.Unmarshal(nodesRaw, &cn) != nil || cn.Digest != cat.NodesDigest {
			c.log.Debug("catalog waits for the node list it names", "digest", cat.NodesDigest)
			c.catalogRaw = nil // looked at again when the list comes
			return
		}
		nodes = cn.Nodes
	}
	if c.cat != nil && c.cat.cat.Hash == cat.Hash && !first {
		return
	}
	st := &catalogState{cat: cat, nodes: nodes}
	list := make([]map[string]json.RawMessage, len(cat.Resources))
	for i, r := range cat.Resources {
		list[i] = r.Resource
	}
	st.resources, st.err = converge.DecodeResources(list)
	c.cat = st
	trigger := triggerChange
	if first {
		trigger = triggerStart
	}
	c.log.Info("catalog", "hash", cat.Hash, "roles", strings.Join(cat.Roles, ","), "resources", len(cat.Resources), "trigger", trigger)
	c.queue.add(runRequest{Trigger: trigger})
}

// afterRun updates the watched paths after a run (the paths of the
// resources it changed are taken as they are now: its own writes are not
// drift) and reports whether it was a full run, which restarts the
// interval.
func (c *converger) afterRun(d runDone) bool {
	if d.report == nil || d.req.DryRun || len(d.req.Only) > 0 {
		return false
	}
	if c.drift != nil && d.cat != nil && d.cat.err == nil && c.cat != nil {
		changed := map[string]bool{}
		for _, rr := range d.report.Resources {
			if rr.Status == api.StatusChanged {
				changed[rr.Type+"["+rr.Name+"]"] = true
			}
		}
		c.drift.set(converge.ManagedPaths(d.cat.resources), changed)
	}
	return true
}

// enqueueDrift looks at the paths changed since the last look and queues
// a run for those to repair and a dry run of those to report.
func (c *converger) enqueueDrift() {
	if c.drift == nil {
		return
	}
	repair, report := c.drift.check()
	if c.cat == nil {
		return
	}
	if len(repair) > 0 {
		c.log.Info("managed files changed; converging", "resources", strings.Join(repair, ","))
		c.queue.add(runRequest{Trigger: triggerDrift})
	}
	if len(report) > 0 {
		c.log.Info("managed files changed; reporting", "resources", strings.Join(report, ","))
		c.queue.add(runRequest{Trigger: triggerDrift, DryRun: true, Only: report})
	}
}

// runQueue holds the runs to make, in order. A request joins a waiting
// one of the same kind (dry or not) unless both carry different nonces:
// the joined run carries the nonce, and runs all resources unless both
// were restricted (then the union).
type runQueue struct {
	reqs []runRequest
}

func (q *runQueue) add(r runRequest) {
	for i := range q.reqs {
		p := &q.reqs[i]
		if p.DryRun != r.DryRun || (p.Nonce != "" && r.Nonce != "" && p.Nonce != r.Nonce) {
			continue
		}
		if r.Nonce != "" && p.Nonce == "" {
			p.Nonce, p.Trigger = r.Nonce, r.Trigger
		}
		if len(p.Only) == 0 || len(r.Only) == 0 {
			p.Only = nil
		} else {
			for _, id := range r.Only {
				if !slices.Contains(p.Only, id) {
					p.Only = append(p.Only, id)
				}
			}
		}
		return
	}
	q.reqs = append(q.reqs, r)
}

func (q *runQueue) next() (runRequest, bool) {
	if len(q.reqs) == 0 {
		return runRequest{}, false
	}
	r := q.reqs[0]
	q.reqs = q.reqs[1:]
	return r, true
}

// execute makes one run and reports it. Without a catalog only a requested
// run (one with a nonce) is reported, empty, so that whoever asked sees an
// answer.
func (c *converger) execute(ctx context.Context, req runRequest, cat *catalogState) runDone {
	d := runDone{req: req, cat: cat, startedAt: c.opt.Now()}
	rep := api.ConvergeReport{Started: d.startedAt, DryRun: req.DryRun, Resources: []api.ResourceResult{}}
	switch {
	case cat == nil && req.Nonce == "":
		return d
	case cat == nil:
	case cat.err != nil:
		rep.Error = fmt.Sprintf("catalog %s does not decode: %v", cat.cat.Hash, cat.err)
	default:
		var err error
		rep, err = c.converge(ctx, req, cat)
		if err != nil {
			rep = api.ConvergeReport{Started: d.startedAt, DryRun: req.DryRun, Resources: []api.ResourceResult{}, Error: err.Error()}
		}
	}
	rep.ID = fmt.Sprintf("%s-%d", c.opt.Node, d.startedAt.UnixNano())
	rep.Node, rep.Trigger, rep.Nonce = c.opt.Node, req.Trigger, req.Nonce
	if cat != nil {
		rep.CatalogHash, rep.Roles = cat.cat.Hash, cat.cat.Roles
	}
	if rep.Duration == 0 {
		rep.Duration = c.opt.Now().Sub(d.startedAt)
	}
	level := slog.LevelInfo
	if rep.Failed() {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "converge run", "id", rep.ID, "trigger", rep.Trigger, "nonce", rep.Nonce, "dry_run", rep.DryRun,
		"changed", rep.Totals.Changed, "up_to_date", rep.Totals.UpToDate, "failed", rep.Totals.Failed,
		"skipped", rep.Totals.Skipped, "duration", rep.Duration, "error", rep.Error)
	if err := c.opt.Report("converge", rep); err != nil {
		c.log.Error("cannot queue the converge report", "id", rep.ID, "err", err)
	}
	d.report = &rep
	return d
}

// loadConvergeNonce reads the nonce of the last converge request handled;
// "" when there is none or it cannot be read.
func loadConvergeNonce(path string, log *slog.Logger) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	var st struct {
		Nonce string `json:"nonce"`
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		log.Warn("cannot read the nonce of the last converge request; it may run again", "path", path, "err", err)
	}
	return st.Nonce
}

// saveConvergeNonce replaces the state file atomically.
func saveConvergeNonce(path, nonce string) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(map[string]string{"nonce": nonce})
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// sameSecrets reports whether the values held were fetched for these
// secret versions.
func sameSecrets(held, want map[string]int64) bool {
	return held != nil && maps.Equal(held, want)
}
