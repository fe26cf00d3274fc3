package mock

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/driver"
	"corral/internal/driver/drivertest"
)

func suiteSpec(b drivertest.Behavior) driver.Spec {
	switch b {
	case drivertest.ExitCode3:
		return driver.Spec{Cmd: "exit 3"}
	case drivertest.PrintHello:
		return driver.Spec{Cmd: "print " + drivertest.Hello}
	case drivertest.RunForever:
		return driver.Spec{Cmd: "run"}
	case drivertest.IgnoreTerm:
		return driver.Spec{Cmd: "term ignore; print " + drivertest.Ready + "; run"}
	case drivertest.MissingProgram:
		return driver.Spec{Cmd: `fail exec: "/nonexistent/prog": no such file or directory`}
	}
	panic("unknown behavior")
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Driver { return New(Options{}) }, drivertest.Caps{
		Spec: suiteSpec,
		Reopen: func(t *testing.T, old driver.Driver) driver.Driver {
			return New(Options{Node: old.(*Driver).node})
		},
	})
}

// fakeClock fires After channels when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// awaitWaiters yields until n timers are pending (the task goroutine got to
// its wait); it synchronizes, it does not time anything.
func (c *fakeClock) awaitWaiters(n int) {
	for {
		c.mu.Lock()
		got := len(c.waiters)
		c.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

func newFake() (*Driver, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return New(Options{Now: c.Now, After: c.After}), c
}

func logs(t *testing.T, d *Driver, h driver.Handle) string {
	t.Helper()
	rc, err := d.Logs(context.Background(), h, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestScriptOnFakeClock(t *testing.T) {
	d, c := newFake()
	t0 := c.Now()
	h, err := d.Start(context.Background(), driver.Spec{ID: "a", Cmd: "print one; run 10s; eprint two\nexit 3"})
	if err != nil {
		t.Fatal(err)
	}
	c.awaitWaiters(1)
	if got := logs(t, d, h); got != "one\n" {
		t.Errorf("logs before = %q", got)
	}
	if st, _ := d.Inspect(context.Background(), h); st.State != driver.StateRunning || !st.StartedAt.Equal(t0) {
		t.Errorf("Inspect = %+v, want running since %v", st, t0)
	}
	c.Advance(9 * time.Second)
	if st, _ := d.Inspect(context.Background(), h); st.State != driver.StateRunning {
		t.Errorf("ended after 9s of 10: %+v", st)
	}
	c.Advance(time.Second)
	st, err := d.Wait(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	want := driver.Status{State: driver.StateExited, PID: st.PID, ExitCode: 3, Reason: "exit code 3", StartedAt: t0, FinishedAt: t0.Add(10 * time.Second)}
	if st != want {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	if got := logs(t, d, h); got != "one\ntwo\n" {
		t.Errorf("logs after = %q", got)
	}
}

func TestEndings(t *testing.T) {
	tests := []struct {
		name   string
		spec   driver.Spec
		code   int
		signal string
		oom    bool
		reason string
	}{
		{"end of script", driver.Spec{Cmd: "print x"}, 0, "", false, ""},
		{"exit", driver.Spec{Cmd: "exit 42"}, 42, "", false, "exit code 42"},
		{"args", driver.Spec{Args: []string{"exit", "7"}}, 7, "", false, "exit code 7"},
		{"oom", driver.Spec{Cmd: "oom", MemMiB: 64}, 137, "SIGKILL", true, "OOM: exceeded 64 MiB"},
		{"oom no limit", driver.Spec{Cmd: "oom"}, 137, "SIGKILL", true, "OOM"},
		{"signal", driver.Spec{Cmd: "signal SIGSEGV"}, 139, "SIGSEGV", false, "killed by SIGSEGV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newFake()
			tt.spec.ID = "x"
			h, err := d.Start(context.Background(), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := d.Wait(context.Background(), h)
			if st.State != driver.StateExited || st.ExitCode != tt.code || st.Signal != tt.signal || st.OOM != tt.oom || st.Reason != tt.reason || st.Stopped {
				t.Errorf("status = %+v, want code %d signal %q oom %v reason %q", st, tt.code, tt.signal, tt.oom, tt.reason)
			}
		})
	}
}

func TestStopGrace(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
		code   int
		signal string
	}{
		{"term ends at once", "run", 5 * time.Second, 143, "SIGTERM"},
		{"graceful within grace", "term 3s; run", 5 * time.Second, 0, ""},
		{"graceful past grace", "term 3s; run", time.Second, 137, "SIGKILL"},
		{"ignore", "term ignore; run", 2 * time.Second, 137, "SIGKILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, c := newFake()
			h, err := d.Start(context.Background(), driver.Spec{ID: "s", Cmd: tt.script})
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- d.Stop(context.Background(), h, tt.grace) }()
			if tt.signal != "SIGTERM" {
				// Stop's grace timer, and the task's own for `term 3s`.
				n := 1
				if strings.HasPrefix(tt.script, "term 3s") {
					n = 2
				}
				c.awaitWaiters(n)
				c.Advance(min(tt.grace, 3*time.Second))
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			st, _ := d.Inspect(context.Background(), h)
			if !st.Stopped || st.ExitCode != tt.code || st.Signal != tt.signal {
				t.Errorf("status = %+v, want stopped with code %d signal %q", st, tt.code, tt.signal)
			}
			if err := d.Stop(context.Background(), h, tt.grace); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	for _, script := range []string{
		"fail image shop/api:1.4 not found", "run soon", "exit 300", "exit x",
		"dance", "signal 9", "term later",
	} {
		d, _ := newFake()
		_, err := d.Start(context.Background(), driver.Spec{ID: "f", Cmd: script})
		if !errors.Is(err, driver.ErrStartFailed) {
			t.Errorf("Start(%q) = %v, want ErrStartFailed", script, err)
		}
	}
	d, _ := newFake()
	_, err := d.Start(context.Background(), driver.Spec{ID: "f", Cmd: "print a; fail image shop/api:1.4 not found"})
	if err == nil || !strings.HasSuffix(err.Error(), ": image shop/api:1.4 not found") {
		t.Errorf("err = %v, want the fail reason", err)
	}
}

func TestRecoverSharedNode(t *testing.T) {
	node := NewNode()
	a := New(Options{Node: node})
	for _, id := range []string{"t1", "t2"} {
		if _, err := a.Start(context.Background(), driver.Spec{ID: id, Cmd: "run"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Start(context.Background(), driver.Spec{ID: "t1", Cmd: "run"}); err == nil {
		t.Error("a second task t1 started")
	}
	b := New(Options{Node: node})
	hs, _ := b.Recover(context.Background())
	if len(hs) != 2 {
		t.Fatalf("Recover = %v, want t1 and t2", hs)
	}
	for _, h := range hs {
		if err := b.Stop(context.Background(), h, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Destroy(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	if hs, _ := New(Options{Node: node}).Recover(context.Background()); len(hs) != 0 {
		t.Errorf("Recover after Destroy = %v", hs)
	}
}

func TestFollowLogs(t *testing.T) {
	d, c := newFake()
	h, _ := d.Start(context.Background(), driver.Spec{ID: "l", Cmd: "print a; run 1s; print b; run 1s; print c"})
	rc, err := d.Logs(context.Background(), h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	go func() {
		for i := 0; i < 2; i++ {
			c.awaitWaiters(1)
			c.Advance(time.Second)
		}
	}()
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "a\nb\nc\n" {
		t.Errorf("followed = %q, %v", b, err)
	}
}
