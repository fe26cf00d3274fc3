package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"corral/internal/api"
)

// NodeInfo is what templates and the hosts resource know about a node.
type NodeInfo struct {
	Name      string            `json:"name"`
	Hostname  string            `json:"hostname"`
	PrivateIP string            `json:"private_ip"`
	Aliases   []string          `json:"aliases,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Env is what a converge run works with. Only Exec is required for
// resources that run commands; the rest have working zero values.
type Env struct {
	// Root prefixes every path a resource touches ("" or "/" is the machine).
	Root string
	// Node is this node; Facts are its facts; Attributes are the role's
	// attributes merged for this node. Templates see all three.
	Node       NodeInfo
	Facts      api.Facts
	Attributes map[string]any
	// Secret returns a secret's value ({{ secret "db-password" }}). Values it
	// returns are redacted from the whole report.
	Secret func(name string) (string, error)
	// Redact are more values to keep out of reports: the secrets the node
	// holds, so that a file that held one before its template stopped using
	// it does not show it in a diff (the runner remembers the values of its
	// earlier runs, but not across restarts).
	Redact []string
	// Nodes returns the cluster's nodes matching a selector ("role=api";
	// see ParseSelector). NodesFrom makes one from a list.
	Nodes func(selector string) ([]NodeInfo, error)
	// Sources are the files stored with the role, by name: template sources
	// and file sources.
	Sources map[string][]byte
	// Exec runs the commands of package, service, user, group and exec
	// (OSRunner on a real machine).
	Exec CommandRunner
	// HTTP fetches downloads (http.DefaultClient when nil).
	HTTP *http.Client
	// CorralPath is the corral binary that cron check-ins call
	// (/usr/local/bin/corral when empty).
	CorralPath string
	// BackupDir keeps the previous versions of replaced files
	// (/var/lib/corral/backup when empty; under Root like every path).
	BackupDir string
	// LockFile, when set, is locked (flock) for the run, so that runs in
	// other processes (an agent and a `corral converge` from a shell) take
	// turns too: /var/lib/corral/converge.lock on a machine.
	LockFile string
	// DryRun checks every resource and reports what would change, with
	// diffs, changing nothing.
	DryRun bool
	// Only, when not empty, restricts the run to the resources with these
	// IDs ("file[/etc/motd]"): the others are neither checked nor in the
	// report, but the selected ones may still notify them. The agent's
	// drift report is a dry run of the drifted resources.
	Only []string
	// NoSync skips syncing written files to disk (tests on throw-away
	// roots); writes stay atomic with respect to readers either way.
	NoSync bool
	Logger *slog.Logger
	Now    func() time.Time

	run *runState
}

// runState is what one run shares between its resources.
type runState struct {
	mu        sync.Mutex
	secrets   map[string]bool // values handed out by Secret
	users     *idMap          // name → id from the root's /etc/passwd, read once
	groups    *idMap
	written   []string // files written and not yet synced
	templates *templateCache
}

// Path returns p under the root.
func (e *Env) Path(p string) string {
	if e.Root == "" || e.Root == "/" {
		return filepath.Clean(p)
	}
	return filepath.Join(e.Root, p)
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// secret returns a secret's value and remembers it for redaction.
func (e *Env) secret(name string) (string, error) {
	if e.Secret == nil {
		return "", fmt.Errorf("secret %q: no secrets are available here", name)
	}
	v, err := e.Secret(name)
	if err != nil {
		return "", fmt.Errorf("secret %q: %w", name, err)
	}
	if e.run != nil && v != "" {
		e.run.mu.Lock()
		e.run.secrets[v] = true
		e.run.mu.Unlock()
	}
	return v, nil
}

// mentionsSecret reports whether b holds a secret value known to the run.
func (e *Env) mentionsSecret(b []byte) bool {
	if e.run == nil || len(b) == 0 {
		return false
	}
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	for v := range e.run.secrets {
		if bytes.Contains(b, []byte(v)) {
			return true
		}
	}
	return false
}

// redact replaces every secret value handed out in this run.
func (e *Env) redact(s string) string {
	if e.run == nil || s == "" {
		return s
	}
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	if len(e.run.secrets) == 0 {
		return s
	}
	vals := make([]string, 0, len(e.run.secrets))
	for v := range e.run.secrets {
		vals = append(vals, v)
		// A multi-line secret shows in a diff line by line.
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" && line != v {
				vals = append(vals, line)
			}
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, api.Redacted)
	}
	return s
}

// ErrBusy is returned by Runner.Run while another run is in progress.
var ErrBusy = errors.New("a converge run is already in progress")

// Runner runs converges, one at a time.
type Runner struct {
	mu        sync.Mutex
	templates templateCache
	known     map[string]bool // secret values handed out in earlier runs
}

// maxKnownSecrets bounds the secret values a Runner remembers.
const maxKnownSecrets = 10000

// NewRunner returns a Runner.
func NewRunner() *Runner { return &Runner{} }

// Run converges resources in order, returning ErrBusy if a run is in
// progress. A resource that fails stops the run (the resources before it
// stay converged, the ones after it are skipped) unless it has
// ignore_failure. Notifications from changed resources are run after the
// last resource, once each, in the order they were first sent; they run
// even when the run stopped early, since the changes that sent them were
// made. Files are written atomically (a reader sees the old file or the
// new one) and synced to disk together, concurrently, before the
// notifications and at the end of the run. A dry run checks everything and
// changes nothing. Secret values never appear in the report.
func (r *Runner) Run(ctx context.Context, env Env, resources []Resource) (Report, error) {
	if !r.mu.TryLock() {
		return Report{}, ErrBusy
	}
	defer r.mu.Unlock()
	if env.LockFile != "" {
		unlock, err := lockFile(env.Path(env.LockFile))
		if err != nil {
			return Report{}, err
		}
		defer unlock()
	}
	r.templates.rotate()
	env.run = &runState{secrets: make(map[string]bool, len(r.known)+len(env.Redact)), templates: &r.templates}
	for v := range r.known {
		env.run.secrets[v] = true
	}
	for _, v := range env.Redact {
		if v != "" {
			env.run.secrets[v] = true
		}
	}
	e := &env
	defer func() {
		if len(env.run.secrets) <= maxKnownSecrets {
			r.known = env.run.secrets
		}
	}()
	log := e.logger().With("component", "converge")
	rep := Report{Started: e.now(), DryRun: e.DryRun, Resources: make([]ResourceResult, 0, len(resources))}
	byID := make(map[string]Provider, len(resources))
	for _, res := range resources {
		byID[res.ID()] = res.provider
	}
	if len(e.Only) > 0 {
		only := make(map[string]bool, len(e.Only))
		for _, id := range e.Only {
			only[id] = true
		}
		selected := make([]Resource, 0, len(e.Only))
		for _, res := range resources {
			if only[res.ID()] {
				selected = append(selected, res)
			}
		}
		resources = selected
	}
	var queued []Notification
	queuedSet := map[Notification]bool{}
	stopped := -1
	for i, res := range resources {
		if stopped < 0 && ctx.Err() != nil {
			stopped = i
			rep.Error = fmt.Sprintf("stopped before %s: %v", res.ID(), ctx.Err())
		}
		if stopped >= 0 {
			rep.Resources = append(rep.Resources, ResourceResult{Type: res.Type, Name: res.Name, Status: StatusSkipped})
			continue
		}
		rr := e.converge(ctx, res.Type, res.Name, "", res.provider, nil)
		switch rr.Status {
		case StatusChanged:
			log.Info("resource changed", "resource", res.ID(), "dry_run", e.DryRun)
			for _, n := range res.Notify {
				if !queuedSet[n] {
					queuedSet[n] = true
					queued = append(queued, n)
				}
			}
		case StatusFailed:
			log.Error("resource failed", "resource", res.ID(), "err", rr.Error, "ignored", res.IgnoreFailure)
			if res.IgnoreFailure {
				rr.Ignored = true
			} else {
				stopped = i
				after := len(resources) - i - 1
				rep.Error = fmt.Sprintf("%s failed: %s; the %d resources before it are converged, the %d after it were skipped", res.ID(), rr.Error, i, after)
			}
		}
		rep.Resources = append(rep.Resources, rr)
	}
	// What the resources wrote reaches the disk before services are told.
	syncErr := e.syncWritten()
	for _, n := range queued {
		id := n.Type + "[" + n.Name + "]"
		p, _ := byID[id].(Notifiable)
		rr := e.converge(ctx, n.Type, n.Name, n.Action, p, func(ctx context.Context) (Plan, error) {
			if p == nil {
				return Plan{}, fmt.Errorf("%s cannot be notified", id)
			}
			return p.Notified(ctx, e, n.Action)
		})
		if rr.Status == StatusFailed {
			log.Error("notification failed", "notification", n.String(), "err", rr.Error)
			msg := fmt.Sprintf("notification %q failed: %s", n.String(), rr.Error)
			if rep.Error == "" {
				rep.Error = msg
			} else {
				rep.Error += "; " + msg
			}
		} else {
			log.Info("notification run", "notification", n.String(), "dry_run", e.DryRun)
		}
		rep.Notifications = append(rep.Notifications, rr)
	}
	if err := e.syncWritten(); err != nil || syncErr != nil {
		msg := "sync written files: " + errors.Join(syncErr, err).Error()
		log.Error("sync failed", "err", msg)
		if rep.Error == "" {
			rep.Error = msg
		} else {
			rep.Error += "; " + msg
		}
	}
	for _, rr := range rep.Resources {
		switch rr.Status {
		case StatusUpToDate:
			rep.Totals.UpToDate++
		case StatusChanged:
			rep.Totals.Changed++
		case StatusFailed:
			rep.Totals.Failed++
		case StatusSkipped:
			rep.Totals.Skipped++
		}
	}
	rep.Error = e.redact(rep.Error)
	rep.Duration = e.now().Sub(rep.Started)
	return rep, nil
}

// lockFile takes an exclusive flock on path without waiting: ErrBusy when
// another process holds it.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked by another process)", ErrBusy, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// converge checks one resource (or notification, when check is given) and
// applies its plan unless the run is dry, returning its redacted result.
func (e *Env) converge(ctx context.Context, typ, name, action string, p Provider, check func(context.Context) (Plan, error)) (rr ResourceResult) {
	start := e.now()
	rr = ResourceResult{Type: typ, Name: name, Action: action}
	defer func() {
		if v := recover(); v != nil {
			rr.Status, rr.Error = StatusFailed, fmt.Sprintf("panic: %v", v)
		}
		rr.Diff, rr.Note, rr.Error = cutDiff(e.redact(rr.Diff)), e.redact(rr.Note), e.redact(rr.Error)
		rr.Duration = e.now().Sub(start)
	}()
	if check == nil {
		if p == nil {
			rr.Status, rr.Error = StatusFailed, "resource was not decoded (use Kinds.Decode)"
			return rr
		}
		check = func(ctx context.Context) (Plan, error) { return p.Check(ctx, e) }
	}
	plan, err := check(ctx)
	if err != nil {
		rr.Status, rr.Error = StatusFailed, err.Error()
		return rr
	}
	rr.Note = plan.Note
	rr.Diff = plan.Diff
	if plan.Sensitive && rr.Diff != "" {
		rr.Diff = redactedDiff(rr.Diff)
	}
	if !plan.Changed {
		rr.Status = StatusUpToDate
		return rr
	}
	if !e.DryRun && plan.Apply != nil {
		if err := plan.Apply(ctx); err != nil {
			rr.Status, rr.Error = StatusFailed, err.Error()
			return rr
		}
	}
	rr.Status = StatusChanged
	return rr
}
