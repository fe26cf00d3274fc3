//go:build unix

package check

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

func TestExecStatus(t *testing.T) {
	tests := []struct {
		name       string
		command    string
		wantStatus int
		wantOutput string // substring
	}{
		{"ok", "echo fine", api.StatusOK, "fine"},
		{"warning", "echo 'LOAD WARNING'; exit 1", api.StatusWarning, "LOAD WARNING"},
		{"critical", "echo down; exit 2", api.StatusCritical, "down"},
		{"unknown", "exit 3", api.StatusUnknown, ""},
		{"other code kept", "exit 42", 42, ""},
		{"stderr combined", "echo out; echo err >&2; exit 1", api.StatusWarning, "out\nerr"},
		{"missing command", "/nonexistent/check_thing -w 1", api.StatusUnknown, "command not found: "},
		{"killed by signal", "kill -9 $$", api.StatusUnknown, "signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Exec(context.Background(), tt.command, ExecOptions{Timeout: 10 * time.Second})
			if o.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (output %q)", o.Status, tt.wantStatus, o.Output)
			}
			if !strings.Contains(o.Output, tt.wantOutput) {
				t.Errorf("output = %q, want it to contain %q", o.Output, tt.wantOutput)
			}
		})
	}
}

func TestExecNotExecutable(t *testing.T) {
	path := t.TempDir() + "/check_plain"
	if err := os.WriteFile(path, []byte("exit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Exec(context.Background(), path, ExecOptions{})
	if o.Status != api.StatusUnknown || !strings.Contains(o.Output, "command not executable: ") {
		t.Fatalf("got %d %q, want unknown: not executable", o.Status, o.Output)
	}
}

func TestExecMissingCommandSaysWhy(t *testing.T) {
	o := Exec(context.Background(), "/nonexistent/check_thing", ExecOptions{})
	// dash says "not found", bash "No such file or directory".
	if o.Status != api.StatusUnknown || !strings.Contains(o.Output, "/nonexistent/check_thing") {
		t.Fatalf("got %d %q, want unknown naming the command", o.Status, o.Output)
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its reaper counts as gone).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no procfs: trust kill
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	tests := []struct {
		name    string
		command string
	}{
		// The child writes its pid, then both hang.
		{"child sleeps", "sleep 300 & echo $!; wait"},
		// A child that ignores SIGTERM is killed by the SIGKILL after the grace.
		{"child ignores TERM", "sh -c 'trap \"\" TERM; echo $$; while :; do sleep 1; done' & wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Exec(context.Background(), tt.command, ExecOptions{Timeout: 300 * time.Millisecond, Grace: 300 * time.Millisecond})
			if o.Status != api.StatusCritical || !strings.HasPrefix(o.Output, "Execution timed out after 300ms") {
				t.Fatalf("got %d %q, want critical timeout", o.Status, o.Output)
			}
			lines := strings.Split(strings.TrimSpace(o.Output), "\n")
			pid, err := strconv.Atoi(lines[len(lines)-1])
			if err != nil {
				t.Fatalf("no child pid in output %q", o.Output)
			}
			// The group was sent SIGKILL before Exec returned; the kernel
			// finishes the kill asynchronously but promptly.
			deadline := time.Now().Add(5 * time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("child %d survived the timeout", pid)
			}
		})
	}
}

func TestExecCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	o := Exec(ctx, "sleep 300", ExecOptions{Timeout: time.Minute, Grace: 100 * time.Millisecond})
	if o.Status != api.StatusUnknown || !strings.Contains(o.Output, "cancelled") {
		t.Fatalf("got %d %q, want unknown cancelled", o.Status, o.Output)
	}
}

func TestExecBackgroundChildHoldingOutput(t *testing.T) {
	// The shell exits at once, but its child keeps the output pipe open:
	// Exec returns after the grace and kills it.
	o := Exec(context.Background(), "echo started; sleep 300 & echo $!", ExecOptions{Grace: 200 * time.Millisecond})
	if o.Status != api.StatusOK || !strings.HasPrefix(o.Output, "started\n") {
		t.Fatalf("got %d %q", o.Status, o.Output)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(o.Output, "started\n")))
	if err != nil {
		t.Fatalf("no pid in %q", o.Output)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("background child %d survived", pid)
	}
}

func TestExecOutputCapped(t *testing.T) {
	tests := []struct {
		name      string
		command   string
		max       int
		wantLen   int // of the kept text before the marker
		truncated bool
	}{
		// 10 MiB of 'x' into a 1 MiB cap.
		{"10 MB", "head -c 10485760 /dev/zero | tr '\\0' x; exit 2", 0, DefaultMaxOutput, true},
		{"under the cap", "printf abc", 16, 3, false},
		{"exactly the cap", "printf abcd", 4, 4, false},
		// "é" is two bytes: cutting at 3 keeps "aé"... cut at 2 keeps only "a".
		{"cut inside a character", "printf 'aéé'", 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Exec(context.Background(), tt.command, ExecOptions{MaxOutput: tt.max})
			kept, marker, found := strings.Cut(o.Output, "\n…(output truncated at ")
			if found != tt.truncated {
				t.Fatalf("truncated = %v, want %v (output %.80q)", found, tt.truncated, o.Output)
			}
			if len(kept) != tt.wantLen {
				t.Errorf("kept %d bytes, want %d", len(kept), tt.wantLen)
			}
			if found {
				want := strconv.Itoa(max(tt.max, 0)) + " bytes)"
				if tt.max == 0 {
					want = strconv.Itoa(DefaultMaxOutput) + " bytes)"
				}
				if marker != want {
					t.Errorf("marker ends %q, want %q", marker, want)
				}
			}
		})
	}
	o := Exec(context.Background(), "head -c 10485760 /dev/zero | tr '\\0' x; exit 2", ExecOptions{})
	if o.Status != api.StatusCritical {
		t.Errorf("status after a capped output = %d, want 2", o.Status)
	}
}
