package parse

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/peertest"
)

// These tests parse what the real programs write. They need Debian's
// rsyslog and nginx-light and skip without them.

// eventually polls cond; the deadline only bounds a failing test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestRsyslogOutput feeds lines to rsyslogd (imfile) and parses what it
// writes with its traditional, high-precision and RFC 5424 file templates
// and forwards over TCP, octet-counted and newline-framed.
func TestRsyslogOutput(t *testing.T) {
	rsyslogd := peertest.LookPath(t, "rsyslogd", "rsyslog")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	frames := map[string][]string{} // by framing
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 4096), DefaultMaxFrame+16)
				sc.Split(SplitSyslog(0))
				for sc.Scan() {
					f := sc.Text()
					kind := "newline"
					if strings.HasPrefix(f, "<156>1 ") {
						kind = "octet"
					}
					mu.Lock()
					frames[kind] = append(frames[kind], f)
					mu.Unlock()
				}
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	conf := fmt.Sprintf(`global(workDirectory=%[1]q)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="%[1]s/in.log" Tag="myapp[42]:" Severity="warning" Facility="local3")
action(type="omfile" file="%[1]s/traditional.log" template="RSYSLOG_TraditionalFileFormat")
action(type="omfile" file="%[1]s/precise.log" template="RSYSLOG_FileFormat")
action(type="omfile" file="%[1]s/rfc5424.log" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="%[2]d" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="%[2]d" protocol="tcp" template="RSYSLOG_ForwardFormat")
`, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs := []string{"hello from rsyslog 1", `grüße "quoted" [x] a=b 2`, "the third line"}
	if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(strings.Join(msgs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	peertest.Daemon(t, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
	eventually(t, "rsyslog's output", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(frames["octet"]) == len(msgs) && len(frames["newline"]) == len(msgs) &&
			len(readLines(filepath.Join(dir, "traditional.log"))) == len(msgs) &&
			len(readLines(filepath.Join(dir, "precise.log"))) == len(msgs) &&
			len(readLines(filepath.Join(dir, "rfc5424.log"))) == len(msgs)
	})
	after := time.Now().Add(time.Second)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	p := Syslog{Location: time.Local}
	check := func(kind string, lines []string, withPRI bool) {
		t.Logf("%s: %d lines, first %q", kind, len(lines), lines[0])
		for i, line := range lines {
			var e api.LogEntry
			if err := p.Parse([]byte(line), &e); err != nil {
				t.Errorf("%s %q: %v", kind, line, err)
				continue
			}
			if e.Message != msgs[i] {
				t.Errorf("%s %q: message %q, want %q", kind, line, e.Message, msgs[i])
			}
			if e.Time.Before(before) || e.Time.After(after) {
				t.Errorf("%s %q: time %v not between %v and %v", kind, line, e.Time, before, after)
			}
			want := map[string]string{"host": host, "app_name": "myapp", "procid": "42"}
			wantLevel := ""
			if withPRI {
				want["facility"] = "local3"
				wantLevel = "warn"
			}
			if e.Level != wantLevel {
				t.Errorf("%s %q: level %q, want %q", kind, line, e.Level, wantLevel)
			}
			for k, v := range want {
				if e.Fields[k] != v {
					t.Errorf("%s %q: field %s = %q, want %q", kind, line, k, e.Fields[k], v)
				}
			}
		}
	}
	check("traditional file", readLines(filepath.Join(dir, "traditional.log")), false)
	check("high-precision file", readLines(filepath.Join(dir, "precise.log")), false)
	check("RFC 5424 file", readLines(filepath.Join(dir, "rfc5424.log")), true)
	mu.Lock()
	defer mu.Unlock()
	check("TCP octet-counted", frames["octet"], true)
	check("TCP newline-framed", frames["newline"], true)
}

// TestNginxAccessLog sends requests to nginx and parses its access log in
// the combined format and with a request time appended.
func TestNginxAccessLog(t *testing.T) {
	nginx := peertest.LookPath(t, "nginx", "nginx-light")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello nginx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time';
  access_log %[1]s/access.log combined;
  access_log %[1]s/timed.log timed;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server {
    listen 127.0.0.1:%[2]d;
    root %[1]s;
  }
}
`, dir, port)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	peertest.Daemon(t, nginx, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-e", filepath.Join(dir, "error.log"))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, "nginx to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	type request struct {
		path, referer, agent string
		status               string
		bytes                string
	}
	reqs := []request{
		{"/index.html?q=1", "https://example.com/from", "corral-test/1.0 (with spaces; and \"quotes\")", "200", "12"},
		{"/missing", "", "curl/8.0", "404", ""},
	}
	for _, r := range reqs {
		req, _ := http.NewRequest("GET", base+r.path, nil)
		req.Header.Set("User-Agent", r.agent)
		if r.referer != "" {
			req.Header.Set("Referer", r.referer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	after := time.Now().Add(time.Second)
	for _, file := range []string{"access.log", "timed.log"} {
		var lines []string
		eventually(t, file, func() bool { lines = readLines(filepath.Join(dir, file)); return len(lines) == len(reqs) })
		t.Logf("%s: %q", file, lines)
		for i, line := range lines {
			var e api.LogEntry
			if err := (Combined{}).Parse([]byte(line), &e); err != nil {
				t.Errorf("%s %q: %v", file, line, err)
				continue
			}
			if e.Time.Before(before) || e.Time.After(after) {
				t.Errorf("%q: time %v not between %v and %v", line, e.Time, before, after)
			}
			r := reqs[i]
			path, _, _ := strings.Cut(r.path, "#")
			// nginx writes a quote in a header as \x22.
			agent := strings.ReplaceAll(r.agent, `"`, `\x22`)
			want := map[string]string{"client_ip": "127.0.0.1", "method": "GET", "path": path, "protocol": "HTTP/1.1",
				"status": r.status, "user_agent": agent, "referrer": r.referer}
			if r.bytes != "" {
				want["bytes"] = r.bytes
			}
			for k, v := range want {
				if e.Fields[k] != v {
					t.Errorf("%s %q: field %s = %q, want %q", file, line, k, e.Fields[k], v)
				}
			}
			if _, ok := e.Fields["request_time"]; ok != (file == "timed.log") {
				t.Errorf("%s %q: request_time %q", file, line, e.Fields["request_time"])
			}
		}
	}
}
