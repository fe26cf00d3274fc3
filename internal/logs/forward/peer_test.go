package forward

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
	"corral/internal/logs/peertest"
)

// TestRsyslogReceives sends entries to a real rsyslogd (imtcp, which
// takes octet-counted framing) and parses what it writes with its RFC 5424
// file template. It needs Debian's rsyslog and skips without it.
func TestRsyslogReceives(t *testing.T) {
	rsyslogd := peertest.LookPath(t, "rsyslogd", "rsyslog")
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`global(workDirectory=%[1]q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%[2]s")
action(type="omfile" file="%[1]s/out.log" template="RSYSLOG_SyslogProtocol23Format")
`, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	peertest.Daemon(t, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))

	spec := api.LogOutputSpec{Name: "rsyslog", Type: "syslog", Address: addr, Facility: "local5", FlushInterval: api.Duration(time.Millisecond)}
	f, err := New(spec, t.TempDir(), testOptions()) // retried until rsyslogd listens
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	base := time.Date(2026, 11, 25, 18, 0, 0, 250000000, time.UTC)
	in := []api.LogEntry{
		{Time: base, Node: "web1", App: "shop/api", Task: "shop-api.3", Source: "task", Stream: "stderr", Level: "error",
			Message: "payment failed", Fields: map[string]string{"status": "502", "q": `say "hi" \ [ok]`}},
		{Time: base.Add(time.Second), Node: "db1", Source: "syslog", Level: "notice", Message: `grüße "quoted" [x] a=b`},
		{Time: base.Add(2 * time.Second), Node: "db1", Message: "no level, no fields"},
	}
	f.Offer(in)
	outLog := filepath.Join(dir, "out.log")
	var lines []string
	waitFor(t, "rsyslogd's file", func() bool {
		b, _ := os.ReadFile(outLog)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= len(in)
	})
	sd := func(k string) string { return "sd." + SDID + "." + k }
	want := []api.LogEntry{
		{Time: base, Level: "error", Message: "payment failed", Fields: map[string]string{"facility": "local5", "host": "web1",
			"app_name": "shop/api", "procid": "shop-api.3", sd("source"): "task", sd("app"): "shop/api", sd("task"): "shop-api.3",
			sd("stream"): "stderr", sd("status"): "502", sd("q"): `say "hi" \ [ok]`}},
		{Time: base.Add(time.Second), Level: "notice", Message: `grüße "quoted" [x] a=b`, Fields: map[string]string{"facility": "local5",
			"host": "db1", "app_name": "corral", sd("source"): "syslog"}},
		{Time: base.Add(2 * time.Second), Level: "info", Message: "no level, no fields", Fields: map[string]string{"facility": "local5",
			"host": "db1", "app_name": "corral"}},
	}
	t.Logf("rsyslogd wrote %q", lines[0])
	for i, line := range lines {
		var got api.LogEntry
		if err := (parse.Syslog{}).Parse([]byte(line), &got); err != nil {
			t.Errorf("line %q: %v", line, err)
			continue
		}
		if i >= len(want) {
			t.Errorf("extra line %q", line)
			continue
		}
		w := want[i]
		if !got.Time.Equal(w.Time) || got.Level != w.Level || got.Message != w.Message || !maps.Equal(got.Fields, w.Fields) {
			t.Errorf("rsyslogd wrote %q, parsed\n%+v\nwant\n%+v", line, got, w)
		}
	}
}
