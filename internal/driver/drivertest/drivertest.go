// Package drivertest is the conformance suite every driver.Driver passes:
// start and wait for an exit code, output in the logs, inspect a running
// task, stop with a grace period (a task ignoring SIGTERM is killed after
// it), stop an ended task, recover running tasks from a new driver instance,
// start failures wrapping driver.ErrStartFailed, destroy. Driver packages
// import it from their tests:
//
//	drivertest.Run(t, func(t *testing.T) driver.Driver { ... }, drivertest.Caps{})
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/driver"
)

// Behavior is what a task of the suite does; Caps.Spec turns it into the
// driver's own spec.
type Behavior int

const (
	ExitCode3      Behavior = iota // exits at once with code 3
	PrintHello                     // prints Hello on stdout and exits 0
	RunForever                     // runs until stopped; SIGTERM ends it
	IgnoreTerm                     // ignores SIGTERM (then prints Ready); only SIGKILL ends it
	MissingProgram                 // its program does not exist: Start fails
)

// Hello is the line PrintHello prints.
const Hello = "hello from corral"

// Ready is the line IgnoreTerm prints once it ignores SIGTERM; the suite
// waits for it in the logs of a driver that is a driver.Logger.
const Ready = "ignoring SIGTERM"

// ShellSpec is the spec of each behavior for drivers that run `sh -c Cmd`
// (exec; docker with an image that has a shell).
func ShellSpec(b Behavior) driver.Spec {
	switch b {
	case ExitCode3:
		return driver.Spec{Cmd: "exit 3"}
	case PrintHello:
		return driver.Spec{Cmd: "echo '" + Hello + "'"}
	case RunForever:
		return driver.Spec{Cmd: "sleep 600"}
	case IgnoreTerm:
		return driver.Spec{Cmd: "trap '' TERM; echo '" + Ready + "'; sleep 600"}
	case MissingProgram:
		return driver.Spec{Args: []string{"/nonexistent/corral-drivertest"}}
	}
	panic(fmt.Sprintf("drivertest: unknown behavior %d", b))
}

// Caps adapts the suite to a driver.
type Caps struct {
	// Spec gives the spec of a behavior (Cmd, Args, Image, Env); the suite
	// sets ID, App, Node, Sandbox and KillGrace. nil: ShellSpec.
	Spec func(b Behavior) driver.Spec
	// Reopen returns a new instance over the same node state, as after an
	// agent restart. nil: Recover is tested on the same instance.
	Reopen func(t *testing.T, old driver.Driver) driver.Driver
	// Grace is the kill grace the suite uses; 0: 500ms.
	Grace time.Duration
	// Timeout bounds each Wait; 0: 60s.
	Timeout time.Duration
}

var seq atomic.Int64

// Run runs the suite; newDriver is called once per subtest.
func Run(t *testing.T, newDriver func(t *testing.T) driver.Driver, caps Caps) {
	if caps.Spec == nil {
		caps.Spec = ShellSpec
	}
	if caps.Grace == 0 {
		caps.Grace = 500 * time.Millisecond
	}
	if caps.Timeout == 0 {
		caps.Timeout = 60 * time.Second
	}
	s := suite{caps: caps}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, driver.Driver)
	}{
		{"ExitCode", s.exitCode},
		{"Logs", s.logs},
		{"InspectRunningThenStop", s.inspectRunningThenStop},
		{"StopKillsAfterGrace", s.stopKillsAfterGrace},
		{"StopEnded", s.stopEnded},
		{"Recover", s.recover},
		{"StartFailure", s.startFailure},
		{"Destroy", s.destroy},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDriver(t)) })
	}
}

type suite struct{ caps Caps }

func (s suite) spec(t *testing.T, b Behavior) driver.Spec {
	sp := s.caps.Spec(b)
	sp.ID = fmt.Sprintf("drivertest-%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
	sp.App = "/drivertest"
	sp.Node = "node-1"
	sp.Sandbox = t.TempDir()
	sp.KillGrace = s.caps.Grace
	return sp
}

// start starts a task and stops it when the test ends.
func (s suite) start(t *testing.T, d driver.Driver, b Behavior) (driver.Handle, driver.Spec) {
	t.Helper()
	sp := s.spec(t, b)
	h, err := d.Start(context.Background(), sp)
	if err != nil {
		t.Fatalf("Start(%s): %v", sp.Cmd, err)
	}
	if h.TaskID != sp.ID {
		t.Errorf("handle TaskID = %q, want %q", h.TaskID, sp.ID)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
		defer cancel()
		_ = d.Stop(ctx, h, 0)
		_ = d.Destroy(ctx, h)
	})
	return h, sp
}

func (s suite) wait(t *testing.T, d driver.Driver, h driver.Handle) driver.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
	defer cancel()
	st, err := d.Wait(ctx, h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.State != driver.StateExited {
		t.Fatalf("Wait: state %q (%s), want exited", st.State, st.Reason)
	}
	return st
}

func (s suite) exitCode(t *testing.T, d driver.Driver) {
	h, _ := s.start(t, d, ExitCode3)
	st := s.wait(t, d, h)
	if st.ExitCode != 3 || st.Signal != "" || st.OOM || st.Stopped {
		t.Errorf("status = %+v, want exit code 3, no signal, not stopped", st)
	}
	if !strings.Contains(st.Reason, "3") {
		t.Errorf("reason %q does not mention the exit code", st.Reason)
	}
	if st.FinishedAt.IsZero() || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("started %v, finished %v", st.StartedAt, st.FinishedAt)
	}
	again, err := d.Inspect(context.Background(), h)
	if err != nil || again.State != driver.StateExited || again.ExitCode != 3 {
		t.Errorf("Inspect after exit = %+v, %v", again, err)
	}
}

func (s suite) logs(t *testing.T, d driver.Driver) {
	lg, ok := d.(driver.Logger)
	if !ok {
		t.Skip("driver does not implement driver.Logger")
	}
	h, _ := s.start(t, d, PrintHello)
	if st := s.wait(t, d, h); st.ExitCode != 0 || st.Reason != "" {
		t.Errorf("status = %+v, want exit code 0 and no reason", st)
	}
	rc, err := lg.Logs(context.Background(), h, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Hello) {
		t.Errorf("logs = %q, want %q in them", b, Hello)
	}
	// Following an ended task returns its output and ends.
	ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
	defer cancel()
	rc, err = lg.Logs(ctx, h, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || !strings.Contains(string(b), Hello) {
		t.Errorf("followed logs = %q, %v; want %q in them", b, err, Hello)
	}
}

func (s suite) inspectRunningThenStop(t *testing.T, d driver.Driver) {
	h, _ := s.start(t, d, RunForever)
	st, err := d.Inspect(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != driver.StateRunning || st.StartedAt.IsZero() {
		t.Fatalf("Inspect = %+v, want running with a start time", st)
	}
	if err := d.Stop(context.Background(), h, s.caps.Grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st = s.wait(t, d, h)
	if !st.Stopped {
		t.Errorf("status = %+v, want Stopped", st)
	}
	if st.Signal == "SIGKILL" {
		t.Errorf("a task that ends on SIGTERM was killed: %+v", st)
	}
}

func (s suite) stopKillsAfterGrace(t *testing.T, d driver.Driver) {
	h, _ := s.start(t, d, IgnoreTerm)
	s.waitReady(t, d, h)
	if err := d.Stop(context.Background(), h, s.caps.Grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st := s.wait(t, d, h)
	if !st.Stopped || st.Signal != "SIGKILL" {
		t.Errorf("status = %+v, want Stopped and killed by SIGKILL", st)
	}
	if !strings.Contains(st.Reason, "SIGKILL") {
		t.Errorf("reason %q does not mention SIGKILL", st.Reason)
	}
}

// waitReady waits until the task printed Ready, if the driver serves logs.
func (s suite) waitReady(t *testing.T, d driver.Driver, h driver.Handle) {
	t.Helper()
	lg, ok := d.(driver.Logger)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
	defer cancel()
	rc, err := lg.Logs(ctx, h, true)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	var seen []byte
	buf := make([]byte, 512)
	for !strings.Contains(string(seen), Ready) {
		n, err := rc.Read(buf)
		seen = append(seen, buf[:n]...)
		if err != nil {
			t.Fatalf("task never printed %q (got %q): %v", Ready, seen, err)
		}
	}
}

func (s suite) stopEnded(t *testing.T, d driver.Driver) {
	h, _ := s.start(t, d, ExitCode3)
	s.wait(t, d, h)
	if err := d.Stop(context.Background(), h, s.caps.Grace); err != nil {
		t.Errorf("Stop of an ended task: %v", err)
	}
	st, err := d.Inspect(context.Background(), h)
	if err != nil || st.Stopped || st.ExitCode != 3 {
		t.Errorf("Inspect after Stop of an ended task = %+v, %v; want exit code 3, not stopped", st, err)
	}
}

func (s suite) recover(t *testing.T, d driver.Driver) {
	if _, ok := d.(driver.Recoverer); !ok {
		t.Skip("driver does not implement driver.Recoverer")
	}
	h, _ := s.start(t, d, RunForever)
	before, err := d.Inspect(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	d2 := d
	if s.caps.Reopen != nil {
		d2 = s.caps.Reopen(t, d)
	}
	hs, err := d2.(driver.Recoverer).Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got *driver.Handle
	for i := range hs {
		if hs[i].TaskID == h.TaskID {
			got = &hs[i]
		}
	}
	if got == nil {
		t.Fatalf("Recover = %v, want %s among them", hs, h.TaskID)
	}
	st, err := d2.Inspect(context.Background(), *got)
	if err != nil || st.State != driver.StateRunning || st.PID != before.PID {
		t.Fatalf("Inspect(recovered) = %+v, %v; want running with pid %d", st, err, before.PID)
	}
	if err := d2.Stop(context.Background(), *got, s.caps.Grace); err != nil {
		t.Fatalf("Stop(recovered): %v", err)
	}
	if st := s.wait(t, d2, *got); !st.Stopped {
		t.Errorf("recovered task status = %+v, want Stopped", st)
	}
}

func (s suite) startFailure(t *testing.T, d driver.Driver) {
	sp := s.spec(t, MissingProgram)
	h, err := d.Start(context.Background(), sp)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
		defer cancel()
		_ = d.Stop(ctx, h, 0)
		t.Fatalf("Start of a missing program succeeded: %+v", h)
	}
	if !errors.Is(err, driver.ErrStartFailed) {
		t.Errorf("err = %v, want one wrapping ErrStartFailed", err)
	}
	if msg := strings.TrimPrefix(err.Error(), driver.ErrStartFailed.Error()); len(strings.Trim(msg, ": ")) == 0 {
		t.Errorf("err %q gives no reason", err)
	}
}

func (s suite) destroy(t *testing.T, d driver.Driver) {
	h, _ := s.start(t, d, ExitCode3)
	s.wait(t, d, h)
	if err := d.Destroy(context.Background(), h); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if r, ok := d.(driver.Recoverer); ok {
		hs, err := r.Recover(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range hs {
			if x.TaskID == h.TaskID {
				t.Errorf("Recover after Destroy still lists %s", h.TaskID)
			}
		}
	}
}
