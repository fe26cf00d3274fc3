// Package peertest runs the real programs that log tests talk to (rsyslogd,
// nginx, logger): it finds them, or skips the test naming the Debian
// package to install, and runs daemons in the foreground for one test.
package peertest

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LookPath returns the path of prog (also searched in /usr/sbin and
// /sbin), or skips the test saying which Debian package has it.
func LookPath(t testing.TB, prog, pkg string) string {
	t.Helper()
	for _, dir := range []string{"/usr/sbin/", "/sbin/", "/usr/bin/"} {
		if _, err := os.Stat(dir + prog); err == nil {
			return dir + prog
		}
	}
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	t.Skipf("%s not found: install Debian's %s to run this test", prog, pkg)
	return ""
}

// Daemon runs a foreground daemon until the test ends: then it gets
// SIGTERM, and SIGKILL (its process group too) when it does not exit within
// 10 s. Its output is logged when the test failed.
func Daemon(t testing.TB, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	var out Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prog, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", prog, out.String())
		}
	})
}

// Buffer is a bytes.Buffer safe for a writer and a reader (a daemon
// writing its output while a test reads it).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
