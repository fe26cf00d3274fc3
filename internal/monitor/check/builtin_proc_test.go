package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func TestFileAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backup.done")
	if err := os.WriteFile(path, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     Args
		age      time.Duration
		want     int
		wantText string
	}{
		{"fresh", Args{"path": path}, 10 * time.Second, api.StatusOK, "FILE_AGE OK - " + path + " is 10 seconds old and 5 bytes | age=10s;240;600 size=5B;;;0"},
		{"warning", Args{"path": path}, 300 * time.Second, api.StatusWarning, "FILE_AGE WARNING - " + path + " is 300 seconds old"},
		{"critical", Args{"path": path}, 700 * time.Second, api.StatusCritical, "FILE_AGE CRITICAL - " + path + " is 700 seconds old"},
		{"own thresholds", Args{"path": path, "warning": "1h", "critical": "1d"}, 2 * time.Hour, api.StatusWarning, "FILE_AGE WARNING"},
		{"seconds as numbers", Args{"path": path, "warning": 5, "critical": 8.0}, 9 * time.Second, api.StatusCritical, "FILE_AGE CRITICAL"},
		{"missing", Args{"path": path + ".gone"}, 0, api.StatusCritical, "FILE_AGE CRITICAL - " + path + ".gone: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := mtime.Add(tt.age)
			o := mustProbe(t, "file_age", tt.args).Probe(context.Background(), Env{Now: func() time.Time { return now }})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}

func TestProcess(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skipf("no /proc/self/comm: %v", err)
	}
	self := strings.TrimSpace(string(comm))
	// A child with a command line nothing else has.
	marker := "301." + strconv.Itoa(os.Getpid())
	cmd := exec.Command("sleep", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pattern := `^sleep 301\.` + strconv.Itoa(os.Getpid()) + `$`
	tests := []struct {
		name     string
		args     Args
		want     int
		wantText string
	}{
		{"this test by name", Args{"name": self}, api.StatusOK, "PROCS OK: "},
		{"one sleeper", Args{"pattern": pattern}, api.StatusOK, "PROCS OK: 1 process with args '" + pattern + "' | procs=1;;1:;0;"},
		{"name and pattern", Args{"name": "sleep", "pattern": pattern}, api.StatusOK, "PROCS OK: 1 process with name 'sleep' and args"},
		{"wrong name", Args{"name": "no-such-proc", "pattern": pattern}, api.StatusCritical, "PROCS CRITICAL: 0 processes"},
		{"min 2", Args{"pattern": pattern, "min": 2}, api.StatusCritical, "PROCS CRITICAL: 1 process"},
		{"max 0", Args{"pattern": pattern, "max": 0}, api.StatusCritical, "PROCS CRITICAL: 1 process"},
		{"warning range", Args{"pattern": pattern, "warning": "2:", "critical": "1:"}, api.StatusWarning, "PROCS WARNING: 1 process"},
		{"inside range", Args{"pattern": pattern, "critical": "@1:1"}, api.StatusCritical, "PROCS CRITICAL: 1 process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustProbe(t, "process", tt.args).Probe(context.Background(), Env{})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}

func TestServicePidfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pidfile  string
		want     int
		wantText string
	}{
		{"running", write("self.pid", strconv.Itoa(os.Getpid())+"\n"), api.StatusOK, "SERVICE OK - pid " + strconv.Itoa(os.Getpid())},
		{"dead pid", write("dead.pid", strconv.Itoa(dead.Process.Pid)), api.StatusCritical, "SERVICE CRITICAL - pid "},
		{"garbage", write("bad.pid", "nope"), api.StatusCritical, "SERVICE CRITICAL - "},
		{"missing", filepath.Join(dir, "none.pid"), api.StatusCritical, "SERVICE CRITICAL - open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustProbe(t, "service", Args{"pidfile": tt.pidfile}).Probe(context.Background(), Env{})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}

func TestServiceByName(t *testing.T) {
	p := mustProbe(t, "service", Args{"name": "corral-no-such-service"}).(*serviceProbe)
	sysv := func() bool { return false }
	if p.systemd() {
		if _, err := exec.LookPath("systemctl"); err != nil {
			t.Skip("systemd runs but systemctl is missing")
		}
	} else {
		if _, err := exec.LookPath("service"); err != nil {
			t.Skip("no systemd and no `service` command (Debian package init-system-helpers)")
		}
		p.systemd = sysv
	}
	o := p.Probe(context.Background(), Env{Timeout: 10 * time.Second})
	if o.Status == api.StatusOK || !strings.Contains(o.Output, "corral-no-such-service") {
		t.Errorf("got %d %q, want a non-ok status naming the service", o.Status, o.Output)
	}
}
