package input

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/peertest"
)

// These tests receive from the real programs. They need Debian's rsyslog
// (rsyslogd) and bsdutils (logger) and skip without them.

func shortHostname(t *testing.T) string {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	return host
}

// TestRsyslogForwards has rsyslogd read lines from a file (imfile) and
// forward each to the inputs four ways: RFC 5424 over TCP octet-counted,
// its forward format over TCP newline-framed, RFC 5424 over UDP, and a
// JSON template over TCP to the JSON lines input.
func TestRsyslogForwards(t *testing.T) {
	rsyslogd := peertest.LookPath(t, "rsyslogd", "rsyslog")
	dir := t.TempDir()
	// One syslog input per route, so that each route's entries are known.
	routes := []struct {
		name, proto, extra, template string
	}{
		{"RFC 5424 over TCP octet-counted", "tcp", ` TCP_Framing="octet-counted"`, "RSYSLOG_SyslogProtocol23Format"},
		{"forward format over TCP newline-framed", "tcp", "", "RSYSLOG_ForwardFormat"},
		{"RFC 5424 over UDP", "udp", "", "RSYSLOG_SyslogProtocol23Format"},
	}
	sys := make([]*collector, len(routes))
	inputs := make([]*Syslog, len(routes))
	var actions strings.Builder
	for i, r := range routes {
		sys[i] = &collector{}
		inputs[i] = &Syslog{Addr: "127.0.0.1:0", Node: "n1", Sink: sys[i].sink, Location: time.Local}
		start(t, inputs[i])
		fmt.Fprintf(&actions, "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=%q%s template=%q)\n",
			inputs[i].LocalAddr().(*net.TCPAddr).Port, r.proto, r.extra, r.template)
	}
	var js collector
	j := &JSONLines{Addr: "127.0.0.1:0", Node: "n1", Sink: js.sink}
	start(t, j)
	fmt.Fprintf(&actions, "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"tcp\" template=\"corraljson\")\n",
		j.LocalAddr().(*net.TCPAddr).Port)

	conf := fmt.Sprintf(`global(workDirectory=%[1]q)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="%[1]s/in.log" Tag="myapp[42]:" Severity="warning" Facility="local3")
template(name="corraljson" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="program" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
%[2]s`, dir, actions.String())
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs := []string{"hello from rsyslog 1", `grüße "quoted" [x] a=b {"not":"json"} 2`, "the third line"}
	if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(strings.Join(msgs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	peertest.Daemon(t, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
	got := make([][]api.LogEntry, len(routes))
	for i := range routes {
		got[i] = sys[i].wait(t, len(msgs))
	}
	jsGot := js.wait(t, len(msgs))
	after := time.Now().Add(time.Second)
	host := shortHostname(t)

	check := func(kind string, got []api.LogEntry, source string, fields map[string]string) {
		t.Helper()
		for i, e := range got {
			if e.Message != msgs[i] || e.Level != "warn" || e.Source != source || e.Node != "n1" {
				t.Errorf("%s %d: message %q level %q source %q node %q, want %q warn %s n1", kind, i, e.Message, e.Level, e.Source, e.Node, msgs[i], source)
			}
			if e.Time.Before(before) || e.Time.After(after) {
				t.Errorf("%s %d: time %v not between %v and %v", kind, i, e.Time, before, after)
			}
			for k, v := range fields {
				if e.Fields[k] != v {
					t.Errorf("%s %d: field %s = %q, want %q (all: %v)", kind, i, k, e.Fields[k], v, e.Fields)
				}
			}
		}
	}
	for i, r := range routes {
		t.Logf("%s: %d entries, first %+v", r.name, len(got[i]), got[i][0])
		check(r.name, got[i], "syslog", map[string]string{"host": host, "app_name": "myapp", "procid": "42", "facility": "local3", "peer": "127.0.0.1"})
		if st := inputs[i].Stats(); st.Malformed != 0 || st.Connections != map[string]uint64{"tcp": 1, "udp": 0}[r.proto] {
			t.Errorf("%s: stats %+v", r.name, st)
		}
	}
	t.Logf("json: %+v", jsGot[0])
	check("json", jsGot, "json", map[string]string{"host": host, "program": "myapp", "facility": "local3", "peer": "127.0.0.1"})
	if st := j.Stats(); st.Malformed != 0 || st.Connections != 1 {
		t.Errorf("json stats %+v", st)
	}
}

// TestLogger sends with util-linux's logger: RFC 5424 over TCP with octet
// counting and RFC 3164 over UDP.
func TestLogger(t *testing.T) {
	logger := peertest.LookPath(t, "logger", "bsdutils")
	var c collector
	s := &Syslog{Addr: "127.0.0.1:0", Node: "n1", Sink: c.sink, Location: time.Local}
	start(t, s)
	port := fmt.Sprint(s.LocalAddr().(*net.TCPAddr).Port)
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	runs := [][]string{
		{"--server", "127.0.0.1", "--port", port, "--tcp", "--octet-count", "--rfc5424", "-t", "tcpapp", "-p", "local2.err", "--id=77", "--sd-id", "meta@32473", "--sd-param", `k="v"`, "over tcp"},
		{"--server", "127.0.0.1", "--port", port, "--udp", "--rfc3164", "-t", "udpapp", "-p", "daemon.info", "over udp"},
	}
	for _, args := range runs {
		if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", args, err, out)
		}
	}
	got := c.wait(t, 2)
	after := time.Now().Add(time.Second)
	byMsg := map[string]api.LogEntry{}
	for _, e := range got {
		byMsg[e.Message] = e
	}
	wants := map[string]want{
		"over tcp": {Level: "error", Fields: map[string]string{"app_name": "tcpapp", "procid": "77", "facility": "local2", "sd.meta@32473.k": "v"}},
		"over udp": {Level: "info", Fields: map[string]string{"app_name": "udpapp", "facility": "daemon"}},
	}
	for msg, w := range wants {
		e, ok := byMsg[msg]
		if !ok {
			t.Errorf("no entry %q in %v", msg, got)
			continue
		}
		if e.Time.Before(before) || e.Time.After(after) {
			t.Errorf("%q: time %v not between %v and %v", msg, e.Time, before, after)
		}
		w.Message, w.Time = msg, e.Time
		checkEntry(t, 0, e, w, "n1", "syslog")
	}
	if st := s.Stats(); st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
}
