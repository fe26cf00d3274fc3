package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/monitor/check"
)

// Assignment keys of the monitoring checks (docs/protocol.md): the server
// puts "check/<name>" (an api.CheckSpec) for every applied Check the node is
// subscribed to, and "checkrun/<name>" ({"nonce": "..."}) to run one now.
const (
	checkKeyPrefix    = "check/"
	checkRunKeyPrefix = "checkrun/"
)

const (
	// checkReportEvery is how long a check result may wait for others to
	// share its "check" report; a non-ok result, a change of status, a run
	// requested now and checkReportMax results go at once.
	checkReportEvery = time.Second
	checkReportMax   = 100
	// checkDebounce lets a burst of assignment changes settle before the
	// checks are recomputed.
	checkDebounce = 100 * time.Millisecond
	// checkRunFile keeps the nonces of the runs already done, so a
	// re-snapshot or a restart does not run them again.
	checkRunFile = "checkrun.json"
)

// checksLoop runs the node's monitoring checks: check.Defaults merged with
// the checks assigned to the node, rescheduled when the assignments change,
// the runs the server asks for (checkrun/<name>), and the results sent as
// "check" reports through the spool. It starts with the defaults, before
// the server is reached, so results taken while it is away arrive later.
func (a *Agent) checksLoop(ctx context.Context) error {
	b := newResultBatcher(checkReportMax)
	s := check.NewScheduler(check.SchedulerOptions{Node: a.id.node, Deliver: b.add, Logger: a.cfg.Logger,
		// A proxy check's assignment lists the nodes taking turns.
		Subscribers: func(spec api.CheckSpec) []string { return spec.ProxyRunners }})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error {
		return shipCheckResults(gctx, b, checkReportEvery, time.After, func(rs []api.CheckResult) error {
			if err := a.Report("check", rs); err != nil {
				return fmt.Errorf("spool check results: %w", err)
			}
			return nil
		})
	})
	g.Go(func() error { return a.followChecks(gctx, s, b, check.Defaults()) })
	return g.Wait()
}

// followChecks keeps the scheduler's checks (defaults merged with the
// assigned ones) in line with the assignments and runs the checks the
// server asks for.
func (a *Agent) followChecks(ctx context.Context, s *check.Scheduler, b *resultBatcher, defaults []api.CheckSpec) error {
	log := a.cfg.Logger.With("component", "checks")
	path := filepath.Join(a.cfg.DataDir, checkRunFile)
	st := newCheckState(defaults, loadCheckRuns(path, log))
	var runs sync.WaitGroup
	defer runs.Wait()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil
			case <-a.checksWake:
			}
			if !sleep(ctx, checkDebounce) {
				return nil
			}
			select { // what came during the debounce is read below
			case <-a.checksWake:
			default:
			}
		}
		a.mu.Lock()
		assigned := maps.Clone(a.assignments)
		synced := a.synced
		a.mu.Unlock()
		ch := st.apply(assigned, synced)
		for key, err := range ch.bad {
			log.Warn("ignoring a check assignment that does not parse", "key", key, "err", err)
		}
		if ch.update != nil {
			s.Update(ch.update)
			log.Info("checks scheduled", "n", len(ch.update))
			log.Debug("checks scheduled", "checks", checkNames(ch.update))
		}
		// Saved before the runs start: a request runs at most once.
		if ch.runsChanged {
			if err := saveCheckRuns(path, st.handled); err != nil {
				log.Warn("cannot keep the nonces of requested check runs; a restart may run them again", "err", err)
			}
		}
		for _, spec := range ch.run {
			log.Info("running check on request", "check", spec.Name)
			runs.Add(1)
			go func() {
				defer runs.Done()
				r := s.Execute(ctx, spec)
				if ctx.Err() == nil {
					b.addNow(r)
				}
			}()
		}
	}
}

// wakeChecks tells the check loop that the check assignments may have
// changed. The watch calls it with a.mu held, after applying as.
func (a *Agent) wakeChecks(as api.Assignment, snapshot bool) {
	if as.Type == "sync" {
		a.synced = true
	}
	wakeOn(a.checksWake, as, snapshot, func(k string) bool {
		return strings.HasPrefix(k, checkKeyPrefix) || strings.HasPrefix(k, checkRunKeyPrefix)
	})
}

// checkState is what the check loop remembers between assignment changes:
// the checks last given to the scheduler and the nonces of the requested
// runs already done. It does no I/O.
type checkState struct {
	defaults  []api.CheckSpec
	scheduled []byte // JSON of the checks last given to the scheduler
	handled   map[string]string
}

func newCheckState(defaults []api.CheckSpec, handled map[string]string) *checkState {
	if handled == nil {
		handled = map[string]string{}
	}
	return &checkState{defaults: defaults, handled: handled}
}

// checkChanges is what one look at the assignments asks of the check loop.
type checkChanges struct {
	// update is the node's checks when they changed since the last look
	// (nil when they did not).
	update []api.CheckSpec
	// run are the checks to run once now, for new checkrun nonces.
	run []api.CheckSpec
	// runsChanged says that handled changed and should be saved.
	runsChanged bool
	// bad are assignments that do not parse, by key.
	bad map[string]error
}

// apply reads the node's assignments. synced says whether a full snapshot
// has arrived; until then nonces of runs that are not assigned are kept.
func (st *checkState) apply(assigned map[string]json.RawMessage, synced bool) checkChanges {
	var ch checkChanges
	sched, known, bad := mergeChecks(st.defaults, assigned)
	ch.bad = bad
	if b, _ := json.Marshal(sched); st.scheduled == nil || string(b) != string(st.scheduled) {
		st.scheduled = b
		ch.update = sched
		if ch.update == nil {
			ch.update = []api.CheckSpec{}
		}
	}
	requested := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(assigned)) {
		name, ok := strings.CutPrefix(key, checkRunKeyPrefix)
		if !ok {
			continue
		}
		var req struct {
			Nonce string `json:"nonce"`
		}
		if err := json.Unmarshal(assigned[key], &req); err != nil || req.Nonce == "" {
			if err == nil {
				err = errors.New("no nonce")
			}
			if ch.bad == nil {
				ch.bad = map[string]error{}
			}
			ch.bad[key] = err
			continue
		}
		requested[name] = req.Nonce
		if st.handled[name] == req.Nonce {
			continue
		}
		spec, ok := known[name]
		if !ok {
			continue // not (yet) assigned to this node: tried again at the next change
		}
		st.handled[name] = req.Nonce
		ch.runsChanged = true
		ch.run = append(ch.run, spec)
	}
	if synced {
		for name := range st.handled {
			if _, ok := requested[name]; !ok {
				delete(st.handled, name)
				ch.runsChanged = true
			}
		}
	}
	return ch
}

// mergeChecks returns the checks the node runs, sorted by name: defaults,
// each replaced by the assigned check of the same name, and the other
// assigned checks, leaving out disabled and ttl-only ones. The server has
// already chosen the checks by subscription, so none are filtered here.
// known holds every check that can run by name, disabled ones included
// (a run asked for by name runs them too). bad are the check assignments
// that do not parse; a default of that name keeps running.
func mergeChecks(defaults []api.CheckSpec, assigned map[string]json.RawMessage) (sched []api.CheckSpec, known map[string]api.CheckSpec, bad map[string]error) {
	byName := make(map[string]api.CheckSpec, len(defaults)+len(assigned))
	for _, d := range defaults {
		byName[d.Name] = d
	}
	for key, raw := range assigned {
		name, ok := strings.CutPrefix(key, checkKeyPrefix)
		if !ok {
			continue
		}
		var spec api.CheckSpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[key] = err
			continue
		}
		spec.Name = name // the key names the check
		byName[name] = spec
	}
	known = make(map[string]api.CheckSpec, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		spec := byName[name]
		if spec.Command == "" && spec.Builtin == "" {
			continue // ttl-only: fed by check-ins, nothing to run
		}
		known[name] = spec
		if !spec.Disabled {
			sched = append(sched, spec)
		}
	}
	return sched, known, bad
}

func checkNames(specs []api.CheckSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ",")
}

// loadCheckRuns reads the nonces of the requested runs already done; a
// missing or unreadable file is none.
func loadCheckRuns(path string, log *slog.Logger) map[string]string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var m map[string]string
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		log.Warn("cannot read the nonces of requested check runs; pending requests may run again", "path", path, "err", err)
		return nil
	}
	return m
}

// saveCheckRuns replaces the file of done nonces atomically.
func saveCheckRuns(path string, handled map[string]string) error {
	b, err := json.Marshal(handled)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}

// resultBatcher collects check results for shipCheckResults. add never
// blocks for long: the scheduler calls it from the checks' goroutines.
type resultBatcher struct {
	max int
	// sig (capacity 1) wakes the shipper when the first result of a batch
	// arrives and when the batch must go now.
	sig chan struct{}

	mu      sync.Mutex
	pending []api.CheckResult
	urgent  bool
	last    map[string]int // status last seen, by check and entity
}

func newResultBatcher(max int) *resultBatcher {
	return &resultBatcher{max: max, sig: make(chan struct{}, 1), last: map[string]int{}}
}

// add queues a scheduled run's result. A non-ok result, or one whose
// status differs from the check's previous one, makes the batch go now.
func (b *resultBatcher) add(r api.CheckResult) {
	b.mu.Lock()
	k := r.Check + "\x00" + r.Entity
	prev, seen := b.last[k]
	b.last[k] = r.Status
	b.mu.Unlock()
	b.queue(r, r.Status != api.StatusOK || (seen && prev != r.Status))
}

// addNow queues a result that goes at once (a run the server asked for).
func (b *resultBatcher) addNow(r api.CheckResult) {
	b.mu.Lock()
	b.last[r.Check+"\x00"+r.Entity] = r.Status
	b.mu.Unlock()
	b.queue(r, true)
}

func (b *resultBatcher) queue(r api.CheckResult, urgent bool) {
	b.mu.Lock()
	b.pending = append(b.pending, r)
	wake := len(b.pending) == 1 || (urgent && !b.urgent) || len(b.pending) == b.max
	b.urgent = b.urgent || urgent || len(b.pending) >= b.max
	b.mu.Unlock()
	if wake {
		select {
		case b.sig <- struct{}{}:
		default:
		}
	}
}

// state returns how many results wait and whether they must go now.
func (b *resultBatcher) state() (n int, urgent bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending), b.urgent
}

// take returns the waiting results and empties the batch.
func (b *resultBatcher) take() []api.CheckResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.pending
	b.pending, b.urgent = nil, false
	return out
}

// shipCheckResults hands the batched results to report: the results
// that waited every, or at once when the batch is urgent. What waits when ctx
// ends is reported before it returns. after is time.After, or a fake.
func shipCheckResults(ctx context.Context, b *resultBatcher, every time.Duration, after func(time.Duration) <-chan time.Time, report func([]api.CheckResult) error) error {
	flush := func() error {
		if rs := b.take(); len(rs) > 0 {
			return report(rs)
		}
		return nil
	}
	var deadline <-chan time.Time
	for {
		fired := false
		select {
		case <-ctx.Done():
			return flush()
		case <-b.sig:
		case <-deadline:
			fired = true
		}
		n, urgent := b.state()
		switch {
		case n == 0:
			deadline = nil
		case fired || urgent:
			if err := flush(); err != nil {
				return err
			}
			deadline = nil
		case deadline == nil:
			deadline = after(every)
		}
	}
}
