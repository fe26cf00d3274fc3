// Package mock is a driver whose tasks are scripts run in memory: they run
// for a while, print lines, exit with a code, die of a signal or OOM, fail
// to start, or ignore SIGTERM, all on an injected clock. Tests and
// simulations of the agent and the scheduler use it. A task's script is
// the spec's Cmd (or its Args joined by spaces): statements separated by ';'
// or newlines, e.g. "print starting; run 2s; print bye; exit 3".
//
//	run 2s | sleep 2s   run for 2s (on the driver's clock)
//	run | forever        run until stopped
//	print TEXT           write TEXT and a newline to stdout
//	eprint TEXT          write TEXT and a newline to stderr
//	exit N               end with exit code N (the script's end is exit 0)
//	oom                  end killed for exceeding the memory limit
//	signal SIGSEGV       end killed by that signal
//	fail REASON          Start fails with ErrStartFailed and REASON
//	term ignore          ignore SIGTERM from now on (Stop kills after grace)
//	term 3s              on SIGTERM, exit 0 after 3s (killed if grace is shorter)
//
// Without a term statement SIGTERM ends the task at once (killed by SIGTERM).
//
// Drivers made with the same Node share their tasks, as one node's agent
// before and after a restart: Recover on a new Driver finds them.
package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"corral/internal/driver"
)

// Name is the spec's `driver:` value.
const Name = "mock"

// Node holds the tasks of one simulated node.
type Node struct {
	mu    sync.Mutex
	tasks map[string]*task
	pid   int
}

// NewNode returns an empty node.
func NewNode() *Node { return &Node{tasks: map[string]*task{}, pid: 1000} }

// Options configure the mock driver.
type Options struct {
	Node  *Node                                // nil: a new node
	Now   func() time.Time                     // nil: time.Now
	After func(time.Duration) <-chan time.Time // nil: time.After
}

// Driver is the mock driver.
type Driver struct {
	node  *Node
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.Recoverer = (*Driver)(nil)
	_ driver.Logger    = (*Driver)(nil)
)

// New returns a mock driver.
func New(opts Options) *Driver {
	if opts.Node == nil {
		opts.Node = NewNode()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	return &Driver{node: opts.Node, now: opts.Now, after: opts.After}
}

// Name returns "mock".
func (d *Driver) Name() string { return Name }

type task struct {
	spec driver.Spec
	ops  []op

	term, kill         chan struct{}
	termOnce, killOnce sync.Once
	done               chan struct{}

	mu      sync.Mutex
	status  driver.Status
	out     bytes.Buffer
	changed chan struct{} // closed and replaced on every write and at the end
}

func (t *task) write(s string) {
	t.mu.Lock()
	t.out.WriteString(s + "\n")
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// Start parses the script and runs it. A `fail` statement or a bad script
// fails the start with ErrStartFailed.
func (d *Driver) Start(ctx context.Context, spec driver.Spec) (driver.Handle, error) {
	if err := ctx.Err(); err != nil {
		return driver.Handle{}, err
	}
	script := spec.Cmd
	if script == "" {
		script = strings.Join(spec.Args, " ")
	}
	ops, err := parse(script)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("%w: mock script: %w", driver.ErrStartFailed, err)
	}
	for _, o := range ops {
		if o.kind == "fail" {
			return driver.Handle{}, fmt.Errorf("%w: %s", driver.ErrStartFailed, o.text)
		}
	}
	t := &task{spec: spec, ops: ops, term: make(chan struct{}), kill: make(chan struct{}),
		done: make(chan struct{}), changed: make(chan struct{})}
	n := d.node
	n.mu.Lock()
	if _, ok := n.tasks[spec.ID]; ok {
		n.mu.Unlock()
		return driver.Handle{}, fmt.Errorf("mock: task %s exists", spec.ID)
	}
	n.pid++
	t.status = driver.Status{State: driver.StateRunning, PID: n.pid, StartedAt: d.now()}
	n.tasks[spec.ID] = t
	n.mu.Unlock()
	go d.run(t)
	return handle(spec.ID), nil
}

func handle(id string) driver.Handle {
	data, _ := json.Marshal(map[string]string{"task": id})
	return driver.Handle{TaskID: id, Driver: Name, Data: data}
}

// run executes the script until it ends or is stopped.
func (d *Driver) run(t *task) {
	termMode, termDelay := "", time.Duration(0)
	var termed bool
	var graceC <-chan time.Time // a `term <d>` shutdown in progress
	end := func(s driver.Status) {
		t.mu.Lock()
		s.State, s.PID, s.StartedAt, s.FinishedAt = driver.StateExited, t.status.PID, t.status.StartedAt, d.now()
		s.Stopped = termed
		t.status = s
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		close(t.done)
	}
	killed := func(sig string) driver.Status {
		return driver.Status{ExitCode: 128 + signalNumbers[sig], Signal: sig, Reason: "killed by " + sig}
	}
	// wait blocks for d (0: forever); false means the task ended meanwhile.
	wait := func(dur time.Duration) (driver.Status, bool) {
		var timer <-chan time.Time
		if dur > 0 {
			timer = d.after(dur)
		}
		term := t.term
		if termed {
			term = nil
		}
		for {
			select {
			case <-timer:
				return driver.Status{}, true
			case <-t.kill:
				return killed("SIGKILL"), false
			case <-graceC:
				return driver.Status{}, false
			case <-term:
				termed, term = true, nil
				switch termMode {
				case "ignore":
				case "delay":
					graceC = d.after(termDelay)
				default:
					return killed("SIGTERM"), false
				}
			}
		}
	}
	for _, o := range t.ops {
		switch o.kind {
		case "print":
			t.write(o.text)
		case "eprint":
			t.write(o.text)
		case "term":
			termMode, termDelay = o.mode, o.d
		case "run":
			if s, ok := wait(o.d); !ok {
				end(s)
				return
			}
		case "exit":
			end(driver.Status{ExitCode: o.n, Reason: exitReason(o.n)})
			return
		case "oom":
			s := killed("SIGKILL")
			s.OOM, s.Reason = true, "OOM"
			if t.spec.MemMiB > 0 {
				s.Reason = fmt.Sprintf("OOM: exceeded %d MiB", t.spec.MemMiB)
			}
			end(s)
			return
		case "signal":
			end(killed(o.text))
			return
		}
	}
	end(driver.Status{})
}

func exitReason(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf("exit code %d", code)
}

func (d *Driver) task(h driver.Handle) *task {
	d.node.mu.Lock()
	defer d.node.mu.Unlock()
	return d.node.tasks[h.TaskID]
}

var lost = driver.Status{State: driver.StateUnknown, Reason: "no such task on this node"}

// Inspect returns the task's status now.
func (d *Driver) Inspect(ctx context.Context, h driver.Handle) (driver.Status, error) {
	t := d.task(h)
	if t == nil {
		return lost, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status, nil
}

// Wait blocks until the task ends or ctx ends.
func (d *Driver) Wait(ctx context.Context, h driver.Handle) (driver.Status, error) {
	t := d.task(h)
	if t == nil {
		return lost, nil
	}
	select {
	case <-t.done:
		return d.Inspect(ctx, h)
	case <-ctx.Done():
		s, _ := d.Inspect(ctx, h)
		return s, ctx.Err()
	}
}

// Stop sends SIGTERM, waits up to grace on the driver's clock, then kills.
func (d *Driver) Stop(ctx context.Context, h driver.Handle, grace time.Duration) error {
	t := d.task(h)
	if t == nil {
		return nil
	}
	select {
	case <-t.done:
		return nil
	default:
	}
	t.termOnce.Do(func() { close(t.term) })
	var graceC <-chan time.Time
	if grace > 0 {
		graceC = d.after(grace)
	} else {
		t.killOnce.Do(func() { close(t.kill) })
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-graceC:
	}
	t.killOnce.Do(func() { close(t.kill) })
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Destroy forgets an ended task.
func (d *Driver) Destroy(ctx context.Context, h driver.Handle) error {
	t := d.task(h)
	if t == nil {
		return nil
	}
	select {
	case <-t.done:
	default:
		return fmt.Errorf("mock: destroy %s: task still running", h.TaskID)
	}
	d.node.mu.Lock()
	delete(d.node.tasks, h.TaskID)
	d.node.mu.Unlock()
	return nil
}

// Recover lists the node's tasks that were not destroyed.
func (d *Driver) Recover(ctx context.Context) ([]driver.Handle, error) {
	d.node.mu.Lock()
	defer d.node.mu.Unlock()
	out := make([]driver.Handle, 0, len(d.node.tasks))
	for id := range d.node.tasks {
		out = append(out, handle(id))
	}
	return out, nil
}

// Logs returns what the task printed (stdout and stderr interleaved); with
// follow, also what it prints until it ends or ctx ends.
func (d *Driver) Logs(ctx context.Context, h driver.Handle, follow bool) (io.ReadCloser, error) {
	t := d.task(h)
	if t == nil {
		return nil, fmt.Errorf("mock: no task %s", h.TaskID)
	}
	if !follow {
		t.mu.Lock()
		b := bytes.Clone(t.out.Bytes())
		t.mu.Unlock()
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		off := 0
		for {
			t.mu.Lock()
			b := bytes.Clone(t.out.Bytes()[off:])
			ch := t.changed
			ended := t.status.State != driver.StateRunning
			t.mu.Unlock()
			if len(b) > 0 {
				if _, err := pw.Write(b); err != nil {
					return
				}
				off += len(b)
			}
			if ended {
				pw.Close()
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return pipeCloser{pr, cancel}, nil
}

type pipeCloser struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (p pipeCloser) Close() error { p.cancel(); return p.PipeReader.Close() }
