//go:build unix

package check

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

// pluginDir is where Debian's monitoring-plugins-basic installs the
// plugins.
const pluginDir = "/usr/lib/nagios/plugins"

func plugin(t *testing.T, name string) string {
	t.Helper()
	p := pluginDir + "/" + name
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s missing: install Debian's monitoring-plugins-basic (%v)", p, err)
	}
	return p
}

// runPlugin runs command as a check with nagios_perfdata metrics.
func runPlugin(t *testing.T, name, command string) api.CheckResult {
	t.Helper()
	s := NewScheduler(SchedulerOptions{Node: "n1"})
	return s.Execute(context.Background(), api.CheckSpec{Name: name, Command: command,
		Timeout: api.Duration(20 * time.Second), OutputMetricFormat: api.MetricFormatNagios})
}

func metricNames(r api.CheckResult) []string {
	var out []string
	for _, m := range r.Metrics {
		out = append(out, m.Name)
	}
	return out
}

func TestPluginCheckDisk(t *testing.T) {
	p := plugin(t, "check_disk")
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	// check_disk judges free space as available / (used + available).
	used := float64(st.Blocks - st.Bfree)
	free := float64(st.Bavail) / (used + float64(st.Bavail)) * 100
	want := api.StatusOK
	switch {
	case free < 10:
		want = api.StatusCritical
	case free < 20:
		want = api.StatusWarning
	}
	if free > 9.5 && free < 10.5 || free > 19.5 && free < 20.5 {
		t.Skipf("/ has %.2f%% free, too close to a threshold to predict", free)
	}
	r := runPlugin(t, "disk_root", p+" -w 20% -c 10% -p /")
	if r.Status != want {
		t.Errorf("status %d, want %d (%.1f%% free): %s", r.Status, want, free, r.Output)
	}
	if len(r.Metrics) == 0 || r.Metrics[0].Name != "corral.n1.checks.disk_root.root" {
		t.Fatalf("metrics %v, want corral.n1.checks.disk_root.root: %s", metricNames(r), r.Output)
	}
	// The value is in the unit check_disk printed (MB in older releases,
	// B in Debian 12's); compare with statfs in that unit.
	perfs, _ := ParsePerfdata(SplitPerfdata(r.Output))
	scale := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "MiB": 1 << 20, "GiB": 1 << 30}[perfs[0].UOM]
	if scale == 0 {
		t.Fatalf("unit %q of %s", perfs[0].UOM, r.Output)
	}
	wantUsed := used * float64(st.Bsize) / scale
	if got := r.Metrics[0].Value; got < wantUsed*0.95 || got > wantUsed*1.05 {
		t.Errorf("used %v %s, statfs says %.0f", got, perfs[0].UOM, wantUsed)
	}
}

func TestPluginCheckProcs(t *testing.T) {
	p := plugin(t, "check_procs")
	marker := "302." + strconv.Itoa(os.Getpid())
	cmd := exec.Command("sleep", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	tests := []struct {
		name, args string
		want       int
	}{
		{"exactly one", "-c 1:1 -a " + marker, api.StatusOK},
		{"want two", "-c 2: -a " + marker, api.StatusCritical},
		{"warn on one", "-w 0:0 -c 5 -a " + marker, api.StatusWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(t, "procs", p+" "+tt.args)
			if r.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.want, r.Output)
			}
			if len(r.Metrics) != 1 || r.Metrics[0].Name != "corral.n1.checks.procs.procs" || r.Metrics[0].Value != 1 {
				t.Errorf("metrics %+v, want corral.n1.checks.procs.procs = 1 (%s)", r.Metrics, r.Output)
			}
		})
	}
}

func TestPluginCheckHTTP(t *testing.T) {
	p := plugin(t, "check_http")
	body := strings.Repeat("x", 123)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	command := p + " -H " + host + " -p " + port
	r := runPlugin(t, "web", command)
	if r.Status != api.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Output)
	}
	var size float64 = -1
	for _, m := range r.Metrics {
		if m.Name == "corral.n1.checks.web.size" {
			size = m.Value
		}
	}
	// check_http counts the whole response, headers and body.
	if size <= float64(len(body)) {
		t.Errorf("size metric %v, want more than the %d body bytes: %v", size, len(body), r.Metrics)
	}
	if !strings.Contains(strings.Join(metricNames(r), " "), "corral.n1.checks.web.time") {
		t.Errorf("no time metric: %v", metricNames(r))
	}
	srv.Close()
	r = runPlugin(t, "web", command)
	if r.Status != api.StatusCritical {
		t.Errorf("after the server stopped: status %d, want critical: %s", r.Status, r.Output)
	}
}
