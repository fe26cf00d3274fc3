package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCollectdWriteGraphite runs Debian's collectd with its write_graphite
// plugin pointed at the server's carbon port, and checks that its series
// are found and render with values.
func TestCollectdWriteGraphite(t *testing.T) {
	bin, err := exec.LookPath("collectd")
	if err != nil {
		t.Skip("collectd not installed (Debian package collectd-core; `make test` installs it as root)")
	}
	plugins := "/usr/lib/collectd"
	if _, err := os.Stat(filepath.Join(plugins, "write_graphite.so")); err != nil {
		t.Skipf("collectd's write_graphite plugin not found in %s", plugins)
	}
	srv := StartServer(t, ServerOptions{})
	host, port, err := net.SplitHostPort(srv.CarbonAddr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "collectd.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`Hostname "it-collectd"
FQDNLookup false
Interval 1
BaseDir %q
PIDFile %q
PluginDir %q
TypesDB "/usr/share/collectd/types.db"
LoadPlugin load
LoadPlugin memory
LoadPlugin write_graphite
<Plugin write_graphite>
  <Node "corral">
    Host %q
    Port %q
    Protocol "tcp"
    Prefix "collectd."
    StoreRates true
    AlwaysAppendDS false
    EscapeCharacter "_"
  </Node>
</Plugin>
`, dir, filepath.Join(dir, "collectd.pid"), plugins, host, port)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(t, "collectd", dir, os.Environ(), []string{"-f", "-C", conf})
	p.bin = bin
	p.start()

	admin := srv.AdminToken()
	eventually(t, 20*time.Second, func() error {
		got := findPaths(t, srv, "collectd.it-collectd.*")
		if !strings.Contains(got, "collectd.it-collectd.load") || !strings.Contains(got, "collectd.it-collectd.memory") {
			return fmt.Errorf("find collectd.it-collectd.* = %q", got)
		}
		return nil
	})
	// The series render: load and used memory have values.
	eventually(t, 20*time.Second, func() error {
		for _, target := range []string{"collectd.it-collectd.load.load.shortterm", "collectd.it-collectd.memory.memory-used"} {
			q := url.Values{"target": {target}, "from": {"-5min"}, "format": {"json"}}
			status, body := srv.HTTP(t, "GET", "/render?"+q.Encode(), admin, nil)
			if status != http.StatusOK {
				return fmt.Errorf("render %s: %d %s", target, status, body)
			}
			var series []struct {
				Target     string        `json:"target"`
				Datapoints [][2]*float64 `json:"datapoints"`
			}
			if err := json.Unmarshal(body, &series); err != nil {
				return fmt.Errorf("render %s: %v: %s", target, err, body)
			}
			if len(series) != 1 || series[0].Target != target {
				return fmt.Errorf("render %s: got %s", target, body)
			}
			n := 0
			for _, dp := range series[0].Datapoints {
				if dp[0] != nil && *dp[0] >= 0 {
					n++
				}
			}
			if n == 0 {
				return fmt.Errorf("render %s: no values yet", target)
			}
		}
		return nil
	})
}
