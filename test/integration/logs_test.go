package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	lumber "github.com/elastic/go-lumber/client/v2"

	"corral/internal/api"
	"corral/internal/client"
)

// The logs feature end to end: a server and an agent as real processes,
// files followed through LogInputs, real nginx and rsyslogd, a Beats
// client, LogOutputs to fake Elasticsearch and Loki, restarts and
// rotation, bad input, log lines as metrics, Corral's own logs and
// `corral logs -f`.
//
// Programs some tests run (each skips with a message when it is missing):
// Debian's nginx-light (/usr/sbin/nginx) and rsyslog (rsyslogd).

// logsWait bounds every wait for log entries to arrive.
const logsWait = 45 * time.Second

// logsEnv is a server and one agent whose log listeners are on free
// loopback ports.
type logsEnv struct {
	srv    *Server
	agent  *Agent
	admin  *client.Client
	flags  []string // CLI flags with the admin token
	syslog string   // the agent's syslog listener (UDP and TCP)
	json   string   // its JSON lines listener
	beats  string   // its Beats listener
}

// startLogsEnv starts a server and an agent called name, and waits until
// the node is ready and its listeners answer.
func startLogsEnv(t *testing.T, name string) *logsEnv {
	t.Helper()
	srv := StartServer(t, ServerOptions{})
	ports := freePorts(t, 3)
	pr := portRange(t)
	e := &logsEnv{srv: srv, admin: srv.Admin(t), flags: srv.CLIFlags(srv.AdminToken()),
		syslog: loopback(ports[0]), json: loopback(ports[1]), beats: loopback(ports[2])}
	e.agent = StartAgent(t, srv, AgentOptions{Name: name, Args: []string{
		"--port-range", fmt.Sprintf("%d-%d", pr, pr+99), "--checks=false", "--converge=false",
		"--host-metrics-interval", "0", "--statsd-addr", "",
		"--syslog-addr", e.syslog, "--json-logs-addr", e.json, "--beats-addr", e.beats,
	}})
	e.agent.WaitReady()
	e.waitListeners(t)
	return e
}

// waitListeners waits until the agent's TCP listeners accept connections.
func (e *logsEnv) waitListeners(t *testing.T) {
	t.Helper()
	eventually(t, readyTimeout, func() error {
		for _, addr := range []string{e.syslog, e.json, e.beats} {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
}

// applyLogInput applies a LogInput of one file that every node follows
// from its beginning.
func (e *logsEnv) applyLogInput(t *testing.T, name, path, parser string, fields map[string]string) {
	t.Helper()
	doc := map[string]any{"kind": "LogInput", "name": name, "type": "file", "paths": []string{path},
		"from_beginning": true}
	if parser != "" {
		doc["parser"] = parser
	}
	if len(fields) > 0 {
		doc["fields"] = fields
	}
	apply(t, e.admin, doc)
}

// page returns up to limit entries matching q, newest first.
func (e *logsEnv) page(t *testing.T, q string, limit int) []api.LogEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es, _, err := e.admin.LogsPage(ctx, client.LogQuery{Q: q, Limit: limit, Desc: true})
	if err != nil {
		t.Fatalf("GET /api/v1/logs q=%q: %v", q, err)
	}
	return es
}

// all returns every entry matching q, newest first, page by page.
func (e *logsEnv) all(t *testing.T, q string) []api.LogEntry {
	t.Helper()
	var out []api.LogEntry
	cursor := ""
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		es, next, err := e.admin.LogsPage(ctx, client.LogQuery{Q: q, Limit: 5000, Desc: true, Cursor: cursor})
		cancel()
		if err != nil {
			t.Fatalf("GET /api/v1/logs q=%q cursor=%q: %v", q, cursor, err)
		}
		out = append(out, es...)
		if next == "" || len(es) == 0 {
			return out
		}
		cursor = next
	}
	t.Fatalf("GET /api/v1/logs q=%q: more than 1000 pages", q)
	return nil
}

// waitCount waits until q matches at least n entries and returns them,
// newest first.
func (e *logsEnv) waitCount(t *testing.T, q string, n int) []api.LogEntry {
	t.Helper()
	var es []api.LogEntry
	eventually(t, logsWait, func() error {
		es = e.all(t, q)
		if len(es) < n {
			return fmt.Errorf("%d entries match %q, want %d", len(es), q, n)
		}
		return nil
	})
	return es
}

// cli runs the CLI against the server with the admin token and fails the
// test on a non-zero exit.
func (e *logsEnv) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := RunCLI(t, CLIEnv{Home: e.srv.Home}, append(args, e.flags...)...)
	if code != 0 {
		t.Fatalf("corral %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// appendFile appends lines (each ended by "\n") to path.
func appendFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// cliMessages returns the messages of `corral logs` table output: what
// follows "| " on each line.
func cliMessages(out string) []string {
	var msgs []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if _, m, ok := strings.Cut(l, "| "); ok {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

func messages(es []api.LogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

// accessLine is one line of an access log in the combined format.
type accessLine struct {
	at     time.Time
	method string
	path   string
	status int
}

func (l accessLine) String() string {
	return fmt.Sprintf(`10.0.0.%d - - [%s] "%s %s HTTP/1.1" %d %d "-" "it-client/1.0"`,
		l.status%200+1, l.at.Format("02/Jan/2006:15:04:05 -0700"), l.method, l.path, l.status, 100+l.status)
}

// TestLogsFileInput follows an access log through a LogInput with the
// combined parser and searches it with the CLI and the API: a query with a
// numeric comparison and an exclusion (newest first), counts by status and
// a histogram.
func TestLogsFileInput(t *testing.T) {
	env := startLogsEnv(t, "logs-file")
	path := filepath.Join(t.TempDir(), "access.log")
	base := time.Now().UTC().Add(-6 * time.Minute).Truncate(time.Minute)
	lines := []accessLine{
		{base.Add(5 * time.Second), "GET", "/", 200},
		{base.Add(20 * time.Second), "POST", "/api/orders", 500},
		{base.Add(40 * time.Second), "GET", "/health", 503},
		{base.Add(70 * time.Second), "GET", "/missing", 404},
		{base.Add(95 * time.Second), "GET", "/api/items", 502},
		{base.Add(130 * time.Second), "GET", "/health", 500},
		{base.Add(150 * time.Second), "PUT", "/api/items/7", 201},
		{base.Add(185 * time.Second), "GET", "/api/slow", 504},
		{base.Add(200 * time.Second), "GET", "/health", 200},
		{base.Add(241 * time.Second), "DELETE", "/api/items/7", 500},
		{base.Add(250 * time.Second), "GET", "/old", 301},
		{base.Add(299 * time.Second), "GET", "/api/items", 499},
	}
	text := make([]string, len(lines))
	for i, l := range lines {
		text[i] = l.String()
	}
	appendFile(t, path, text...)
	env.applyLogInput(t, "web-a", path, "combined", map[string]string{"service": "web-a"})
	all := env.waitCount(t, "service:web-a", len(lines))
	if len(all) != len(lines) {
		t.Fatalf("service:web-a matches %d entries, want %d: %q", len(all), len(lines), messages(all))
	}

	// The expected answer, computed from the lines: status >= 500 and not
	// /health, newest first.
	var want []string
	for i := len(lines) - 1; i >= 0; i-- {
		if l := lines[i]; l.status >= 500 && l.path != "/health" {
			want = append(want, text[i])
		}
	}
	const q = "status>=500 -path:/health service:web-a"
	if got := messages(env.page(t, q, 100)); !slices.Equal(got, want) {
		t.Errorf("API %q:\n got %q\nwant %q", q, got, want)
	}
	if got := cliMessages(env.cli(t, "logs", q)); !slices.Equal(got, want) {
		t.Errorf("corral logs %q:\n got %q\nwant %q", q, got, want)
	}

	// One entry in full: parsed fields, the input's field, node, source
	// and the line's own time.
	es := env.page(t, `path:/api/orders`, 10)
	if len(es) != 1 {
		t.Fatalf("path:/api/orders: %d entries, want 1", len(es))
	}
	e := es[0]
	wantFields := map[string]string{"method": "POST", "path": "/api/orders", "status": "500", "bytes": "600",
		"client_ip": "10.0.0.101", "protocol": "HTTP/1.1", "user_agent": "it-client/1.0", "service": "web-a"}
	for k, v := range wantFields {
		if e.Fields[k] != v {
			t.Errorf("entry field %s = %q, want %q (all %v)", k, e.Fields[k], v, e.Fields)
		}
	}
	if e.Node != "logs-file" || e.Source != "file:"+path || !e.Time.Equal(lines[1].at) || e.Message != text[1] {
		t.Errorf("entry node %q source %q time %v message %q, want logs-file, file:%s, %v, %q",
			e.Node, e.Source, e.Time, e.Message, path, lines[1].at, text[1])
	}

	// --count status.
	wantCount := map[string]int64{}
	for _, l := range lines {
		wantCount[strconv.Itoa(l.status)]++
	}
	out := env.cli(t, "logs", "service:web-a", "--count", "status", "--since", "1h", "--top", "20")
	gotCount := map[string]int64{}
	var order []int64
	for i, row := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(row)
		if i == 0 {
			if len(f) != 2 || f[0] != "STATUS" || f[1] != "COUNT" {
				t.Errorf("--count header %q, want STATUS COUNT", row)
			}
			continue
		}
		if len(f) != 2 {
			t.Errorf("--count row %q", row)
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Errorf("--count row %q: %v", row, err)
		}
		gotCount[f[0]] = n
		order = append(order, n)
	}
	if fmt.Sprint(gotCount) != fmt.Sprint(wantCount) {
		t.Errorf("corral logs --count status = %v, want %v", gotCount, wantCount)
	}
	if !slices.IsSortedFunc(order, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("--count rows are not most frequent first: %v", order)
	}

	// --histogram: ten one-minute steps from base.
	wantHist := make([]int64, 10)
	for _, l := range lines {
		wantHist[int(l.at.Sub(base)/time.Minute)]++
	}
	since, until := base.Format(time.RFC3339), base.Add(10*time.Minute).Format(time.RFC3339)
	out = env.cli(t, "logs", "service:web-a", "--histogram", "--since", since, "--until", until, "--step", "1m")
	var gotHist []int64
	for _, row := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(row) // date, time, count, bar
		if len(f) < 3 {
			t.Errorf("--histogram row %q", row)
			continue
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Errorf("--histogram row %q: %v", row, err)
		}
		gotHist = append(gotHist, n)
		if bar := strings.Count(row, "#"); (n == 0) != (bar == 0) {
			t.Errorf("--histogram row %q: count %d with a bar of %d", row, n, bar)
		}
	}
	if !slices.Equal(gotHist, wantHist) {
		t.Errorf("corral logs --histogram = %v, want %v", gotHist, wantHist)
	}
	bs, err := env.admin.LogHistogram(testCtx(t), client.LogQuery{Q: "service:web-a", Since: since, Until: until}, "1m")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bs {
		if i >= len(wantHist) || b.Count != wantHist[i] || !b.Time.Equal(base.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("histogram bucket %d = %v %d, want %v %d", i, b.Time, b.Count, base.Add(time.Duration(i)*time.Minute), wantHist[min(i, len(wantHist)-1)])
		}
	}
	if len(bs) != len(wantHist) {
		t.Errorf("histogram has %d buckets, want %d", len(bs), len(wantHist))
	}
}

// logsProgram returns the path of a program, or skips the test naming the
// Debian package that has it.
func logsProgram(t *testing.T, prog, pkg string) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/" + prog, "/sbin/" + prog, "/usr/bin/" + prog} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	t.Skipf("%s not found: install Debian's %s to run this test", prog, pkg)
	return ""
}

// logsDaemon runs a foreground daemon for the test; at the end it gets
// SIGTERM, and SIGKILL (its process group too) when it does not exit.
func logsDaemon(t *testing.T, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	var out lockedBuffer
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

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsNginx runs a real nginx whose access log a LogInput follows:
// the requests a client makes arrive with their status, path and method.
func TestLogsNginx(t *testing.T) {
	nginx := logsProgram(t, "nginx", "nginx-light")
	env := startLogsEnv(t, "logs-nginx")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	access := filepath.Join(dir, "access.log")
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log combined;
    client_body_temp_path %[1]s/body;
    server {
        listen 127.0.0.1:%[2]d;
        location = /missing { return 404; }
        location = /boom { return 503; }
        location / { return 200 "ok\n"; }
    }
}
`, dir, port)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The log exists before nginx starts, so that the input follows it
	// from its first line.
	if err := os.WriteFile(access, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env.applyLogInput(t, "nginx-it", access, "combined", map[string]string{"service": "nginx-it"})
	logsDaemon(t, nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", confPath, "-g", "daemon off;")

	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	url := "http://" + loopback(port)
	eventually(t, 20*time.Second, func() error {
		resp, err := hc.Get(url + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	reqs := []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"GET", "/missing", 404},
		{"POST", "/boom", 503},
		{"GET", "/shop/cart?id=7", 200},
	}
	for _, r := range reqs {
		req, err := http.NewRequest(r.method, url+r.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Fatalf("%s %s: nginx answered %d, want %d", r.method, r.path, resp.StatusCode, r.status)
		}
	}
	// The /ready probes come first; then the requests, oldest last.
	es := env.waitCount(t, "service:nginx-it -path:/ready", len(reqs))
	if len(es) != len(reqs) {
		t.Fatalf("%d entries, want %d: %q", len(es), len(reqs), messages(es))
	}
	// nginx writes them in order, within the same second: match by path.
	byPath := map[string]api.LogEntry{}
	for _, e := range es {
		byPath[e.Fields["path"]] = e
	}
	for _, r := range reqs {
		e, ok := byPath[r.path]
		if !ok {
			t.Errorf("no entry with path %s: %q", r.path, messages(es))
			continue
		}
		if e.Fields["status"] != strconv.Itoa(r.status) || e.Fields["method"] != r.method || e.Fields["client_ip"] != "127.0.0.1" ||
			e.Node != "logs-nginx" || e.Source != "file:"+access {
			t.Errorf("entry of %s %s: fields %v node %q source %q", r.method, r.path, e.Fields, e.Node, e.Source)
		}
		if !strings.Contains(e.Message, fmt.Sprintf(`"%s %s HTTP/1.1" %d `, r.method, r.path, r.status)) {
			t.Errorf("entry of %s %s: message %q", r.method, r.path, e.Message)
		}
	}
	if got := env.page(t, "service:nginx-it status>=400", 10); len(got) != 2 {
		t.Errorf("status>=400: %q, want the 404 and the 503", messages(got))
	}
}

// TestLogsRsyslog has a real rsyslogd read a file and forward each line
// to the agent twice: RFC 5424 over TCP, octet-counted, to the syslog
// listener, and a JSON template to the JSON lines listener.
func TestLogsRsyslog(t *testing.T) {
	rsyslogd := logsProgram(t, "rsyslogd", "rsyslog")
	env := startLogsEnv(t, "logs-rsyslog")
	dir := t.TempDir()
	_, sysPort, _ := net.SplitHostPort(env.syslog)
	_, jsonPort, _ := net.SplitHostPort(env.json)
	conf := fmt.Sprintf(`global(workDirectory=%[1]q)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="%[1]s/in.log" Tag="itapp[42]:" Severity="warning" Facility="local3")
template(name="corraljson" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="program" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
action(type="omfwd" target="127.0.0.1" port="%[2]s" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="%[3]s" protocol="tcp" template="corraljson")
`, dir, sysPort, jsonPort)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs := []string{"rsyslog line one", `second "quoted" line grüße`, "third line"}
	if err := os.WriteFile(filepath.Join(dir, "in.log"), []byte(strings.Join(msgs, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logsDaemon(t, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))

	for _, route := range []struct {
		source string
		fields map[string]string
	}{
		{"syslog", map[string]string{"app_name": "itapp", "procid": "42", "facility": "local3", "host": "<any>"}},
		// The severity becomes the level.
		{"json", map[string]string{"program": "itapp", "facility": "local3", "host": "<any>"}},
	} {
		es := env.waitCount(t, "source:"+route.source+" facility:local3", len(msgs))
		got := messages(es)
		slices.Reverse(got)
		if !slices.Equal(got, msgs) {
			t.Errorf("%s: messages %q, want %q", route.source, got, msgs)
		}
		for _, e := range es {
			if e.Level != "warn" || e.Node != "logs-rsyslog" {
				t.Errorf("%s entry %q: level %q node %q, want warn logs-rsyslog", route.source, e.Message, e.Level, e.Node)
			}
			for k, v := range route.fields {
				if got, ok := e.Fields[k]; !ok || (v != "<any>" && got != v) {
					t.Errorf("%s entry %q: field %s = %q, want %q (all %v)", route.source, e.Message, k, got, v, e.Fields)
				}
			}
		}
	}
	// Both routes are searchable by the level.
	if es := env.all(t, "level:warn facility:local3"); len(es) != 2*len(msgs) {
		t.Errorf("level:warn facility:local3: %d entries, want %d", len(es), 2*len(msgs))
	}
}

// seqWriter appends numbered lines ("<prefix> seq=000042 ...") to a file
// at a steady pace until stopped, reopening the file for every line, as a
// logger that follows its path does (a rename rotation takes effect at
// once). Rotations run under its lock, so that no line is written between
// a copytruncate's copy and its truncate.
type seqWriter struct {
	path, prefix string
	mu           sync.Mutex
	n            int
	stop         chan struct{}
	done         chan struct{}
	err          error
}

func startSeqWriter(path, prefix string, every time.Duration) *seqWriter {
	w := &seqWriter{path: path, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			w.mu.Lock()
			err := w.write()
			w.mu.Unlock()
			if err != nil {
				w.err = err
				return
			}
		}
	}()
	return w
}

func (w *seqWriter) write() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	w.n++
	_, err = fmt.Fprintf(f, "%s seq=%06d some payload to make the line longer\n", w.prefix, w.n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stop stops the writer and returns how many lines it wrote.
func (w *seqWriter) Stop(t *testing.T) int {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatalf("writer of %s: %v", w.path, w.err)
	}
	return w.n
}

// locked runs fn between two lines.
func (w *seqWriter) locked(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fn()
}

// countSeq counts the distinct sequence numbers of entries (seq=N in the
// message) and the entries beyond the first of each, and returns the
// numbers from 1 to n that are missing.
func countSeq(t *testing.T, es []api.LogEntry, n int) (distinct, dups int, missing []int, dupRanges string) {
	t.Helper()
	seen := map[int]int{}
	for _, e := range es {
		_, rest, ok := strings.Cut(e.Message, "seq=")
		if !ok || len(rest) < 6 {
			t.Errorf("entry without a sequence number: %q", e.Message)
			continue
		}
		k, err := strconv.Atoi(rest[:6])
		if err != nil {
			t.Errorf("entry with a bad sequence number: %q", e.Message)
			continue
		}
		seen[k]++
	}
	for k, c := range seen {
		if k < 1 || k > n {
			t.Errorf("sequence number %d was never written (1..%d)", k, n)
		}
		dups += c - 1
	}

	for k := 1; k <= n; k++ {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	return len(seen), dups, missing, seqRanges(seen)
}

// seqRanges writes the sequence numbers seen more than once as ranges
// ("120-180 x2, 990 x3").
func seqRanges(seen map[int]int) string {
	var keys []int
	for k, c := range seen {
		if c > 1 {
			keys = append(keys, k)
		}
	}
	sort.Ints(keys)
	var parts []string
	for i := 0; i < len(keys); {
		j := i
		for j+1 < len(keys) && keys[j+1] == keys[j]+1 && seen[keys[j+1]] == seen[keys[i]] {
			j++
		}
		r := strconv.Itoa(keys[i])
		if j > i {
			r += "-" + strconv.Itoa(keys[j])
		}
		parts = append(parts, fmt.Sprintf("%s x%d", r, seen[keys[i]]))
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// waitSeq waits until every line 1..n matching q arrived, and reports the
// duplicates.
func (e *logsEnv) waitSeq(t *testing.T, q string, n int) (dups int) {
	t.Helper()
	var distinct int
	var missing []int
	var ranges string
	deadline := time.Now().Add(90 * time.Second)
	for {
		es := e.all(t, q)
		distinct, dups, missing, ranges = countSeq(t, es, n)
		if distinct == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if distinct != n {
		if len(missing) > 20 {
			missing = missing[:20]
		}
		t.Errorf("%s: %d distinct lines of %d arrived; missing (first 20) %v", q, distinct, n, missing)
	}
	t.Logf("%s: %d lines written, %d distinct arrived, %d duplicates (%s)", q, n, distinct, dups, ranges)
	return dups
}

// waitFirstLine waits until one line of q arrived: the input follows its
// file.
func (e *logsEnv) waitFirstLine(t *testing.T, q string) {
	t.Helper()
	eventually(t, logsWait, func() error {
		if len(e.page(t, q, 1)) == 0 {
			return fmt.Errorf("no entry matches %q yet", q)
		}
		return nil
	})
}

// TestLogsRotation rotates two files while a writer writes steadily: one
// by rename (app.log → app.log.N, a new app.log), one by copytruncate
// (copied to app.log.N, then truncated). Every line arrives.
func TestLogsRotation(t *testing.T) {
	env := startLogsEnv(t, "logs-rotate")
	renameDir, copyDir := t.TempDir(), t.TempDir()
	renamed := filepath.Join(renameDir, "app.log")
	copied := filepath.Join(copyDir, "app.log")
	env.applyLogInput(t, "rot-rename", renamed, "none", map[string]string{"rot": "rename"})
	env.applyLogInput(t, "rot-copy", copied, "none", map[string]string{"rot": "copy"})
	wr := startSeqWriter(renamed, "rename", 3*time.Millisecond)
	wc := startSeqWriter(copied, "copy", 3*time.Millisecond)
	defer func() {
		select {
		case <-wr.stop:
		default:
			close(wr.stop)
		}
		select {
		case <-wc.stop:
		default:
			close(wc.stop)
		}
	}()
	env.waitFirstLine(t, "rot:rename")
	env.waitFirstLine(t, "rot:copy")
	for i := 1; i <= 4; i++ {
		time.Sleep(700 * time.Millisecond)
		if err := wr.locked(func() error {
			return os.Rename(renamed, fmt.Sprintf("%s.%d", renamed, i))
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		if err := wc.locked(func() error { return copyTruncate(copied, fmt.Sprintf("%s.%d", copied, i)) }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(700 * time.Millisecond)
	nr, nc := wr.Stop(t), wc.Stop(t)
	env.waitSeq(t, "rot:rename", nr)
	env.waitSeq(t, "rot:copy", nc)
}

// copyTruncate does what logrotate's copytruncate does: copy the file,
// then truncate it to zero.
func copyTruncate(path, copyPath string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// TestLogsRestarts writes steadily while the agent is killed (SIGKILL)
// and started again, and while the server is killed and started again:
// every line arrives at least once; the duplicates are reported.
func TestLogsRestarts(t *testing.T) {
	env := startLogsEnv(t, "logs-restart")
	path := filepath.Join(t.TempDir(), "app.log")
	env.applyLogInput(t, "restarts", path, "none", map[string]string{"it": "restart"})
	w := startSeqWriter(path, "restart", 5*time.Millisecond)
	defer func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
		}
	}()
	env.waitFirstLine(t, "it:restart")

	mark := func(what string) {
		w.mu.Lock()
		t.Logf("%s after line %d", what, w.n)
		w.mu.Unlock()
	}
	time.Sleep(time.Second)
	mark("agent killed")
	env.agent.Kill()
	time.Sleep(time.Second)
	env.agent.Restart()
	env.agent.WaitReady()
	time.Sleep(2 * time.Second)

	mark("server killed")
	env.srv.Kill()
	time.Sleep(2 * time.Second)
	env.srv.Restart()
	env.agent.WaitReady()
	time.Sleep(time.Second)

	// Both at once: the agent comes back while the server is away.
	mark("agent and server killed")
	env.agent.Kill()
	env.srv.Kill()
	env.agent.Restart()
	time.Sleep(2 * time.Second)
	env.srv.Restart()
	env.agent.WaitReady()
	time.Sleep(time.Second)

	n := w.Stop(t)
	dups := env.waitSeq(t, "it:restart", n)
	t.Logf("restarts: %d lines written, %d duplicates (at least once)", n, dups)
}

// TestLogsBeats ships events with go-lumber's client (as Filebeat does)
// to the agent's Beats listener: they are searchable with their fields.
func TestLogsBeats(t *testing.T) {
	env := startLogsEnv(t, "logs-beats")
	cl, err := lumber.SyncDial(env.beats, lumber.CompressionLevel(3), lumber.Timeout(30*time.Second))
	if err != nil {
		t.Fatalf("dial the Beats listener: %v", err)
	}
	defer cl.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 25
	var batch []any
	for i := range n {
		batch = append(batch, map[string]any{
			"@timestamp": now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano),
			"@metadata":  map[string]any{"beat": "filebeat", "type": "_doc", "version": "8.13.0"},
			"message":    fmt.Sprintf("beats event %02d", i),
			"log":        map[string]any{"offset": i * 80, "file": map[string]any{"path": "/var/log/shop.log"}},
			"host":       map[string]any{"name": "web9"},
			"fields":     map[string]any{"env": "it-beats"},
		})
	}
	acked, err := cl.Send(batch)
	if err != nil || acked != n {
		t.Fatalf("send %d events: acked %d, %v", n, acked, err)
	}
	es := env.waitCount(t, "source:beats fields.env:it-beats", n)
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	slices.Reverse(es)
	for i, e := range es {
		wantTime := now.Add(time.Duration(i) * time.Millisecond)
		if e.Message != fmt.Sprintf("beats event %02d", i) || !e.Time.Equal(wantTime) || e.Node != "logs-beats" ||
			e.Fields["host.name"] != "web9" || e.Fields["log.file.path"] != "/var/log/shop.log" ||
			e.Fields["log.offset"] != strconv.Itoa(i*80) {
			t.Errorf("entry %d: %+v, want message %q time %v", i, e, fmt.Sprintf("beats event %02d", i), wantTime)
		}
	}
	if es := env.page(t, `"beats event 07"`, 10); len(es) != 1 || es[0].Message != "beats event 07" {
		t.Errorf("phrase search: %q", messages(es))
	}
}

// fakeES is an Elasticsearch _bulk endpoint that checks the format, fails
// with 503 while failing is set, and keeps the messages it took.
type fakeES struct {
	t        *testing.T
	mu       sync.Mutex
	failLeft int // requests still to answer 503
	failed   int
	docs     map[string]int // message → times indexed
	problems []string
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.problems = append(f.problems, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if f.failLeft > 0 {
		f.failLeft--
		f.failed++
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"unavailable"}`)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
		f.problems = append(f.problems, fmt.Sprintf("%s %s content type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type")))
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		f.problems = append(f.problems, "body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines)%2 != 0 {
		f.problems = append(f.problems, fmt.Sprintf("%d lines: not action and document pairs", len(lines)))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var items []string
	for i := 0; i < len(lines); i += 2 {
		var action map[string]map[string]string
		var doc map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &action); err != nil || len(action) != 1 || action["index"] == nil {
			f.problems = append(f.problems, fmt.Sprintf("action line %q", lines[i]))
			continue
		}
		if err := json.Unmarshal([]byte(lines[i+1]), &doc); err != nil {
			f.problems = append(f.problems, fmt.Sprintf("document line %q: %v", lines[i+1], err))
			continue
		}
		ts, _ := doc["@timestamp"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			f.problems = append(f.problems, fmt.Sprintf("document @timestamp %q", ts))
		} else if want := "logs-" + at.UTC().Format("2006.01.02"); action["index"]["_index"] != want {
			f.problems = append(f.problems, fmt.Sprintf("index %q for @timestamp %s, want %q", action["index"]["_index"], ts, want))
		}
		msg, _ := doc["message"].(string)
		if doc["out"] != "es" || doc["node"] != "logs-out" {
			f.problems = append(f.problems, fmt.Sprintf("document fields: %s", lines[i+1]))
		}
		f.docs[msg]++
		items = append(items, `{"index":{"_index":"x","status":201}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
}

// fakeLoki is a Loki push endpoint that checks the format and keeps the
// lines it took.
type fakeLoki struct {
	mu       sync.Mutex
	lines    map[string]int // message → times pushed
	problems []string
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var push struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		} `json:"streams"`
	}
	err := json.NewDecoder(r.Body).Decode(&push)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/json" || err != nil {
		f.problems = append(f.problems, fmt.Sprintf("%s %s content type %q: %v", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, s := range push.Streams {
		if s.Stream["node"] != "logs-out" || !strings.HasPrefix(s.Stream["source"], "file:") {
			f.problems = append(f.problems, fmt.Sprintf("stream labels %v", s.Stream))
		}
		for _, v := range s.Values {
			ns, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil || time.Since(time.Unix(0, ns)) > time.Hour || time.Until(time.Unix(0, ns)) > time.Minute {
				f.problems = append(f.problems, fmt.Sprintf("value time %q", v[0]))
			}
			msg, _, _ := strings.Cut(v[1], " out=") // the message, then the other fields as logfmt
			f.lines[msg]++
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestLogsOutputs forwards what a LogInput collects to an Elasticsearch
// and a Loki output (fake ones in this process that check the formats).
// The Elasticsearch one answers 503 for a while: nothing is lost.
func TestLogsOutputs(t *testing.T) {
	es := &fakeES{t: t, docs: map[string]int{}, failLeft: 4}
	loki := &fakeLoki{lines: map[string]int{}}
	esSrv, lokiSrv := httptest.NewServer(es), httptest.NewServer(loki)
	defer esSrv.Close()
	defer lokiSrv.Close()

	env := startLogsEnv(t, "logs-out")
	apply(t, env.admin,
		map[string]any{"kind": "LogOutput", "name": "it-es", "type": "elasticsearch", "url": esSrv.URL,
			"match": "out:es", "flush_interval": "200ms", "batch_size": 50},
		map[string]any{"kind": "LogOutput", "name": "it-loki", "type": "loki", "url": lokiSrv.URL,
			"match": "out:es", "flush_interval": "200ms"},
	)
	path := filepath.Join(t.TempDir(), "app.log")
	env.applyLogInput(t, "out", path, "none", map[string]string{"out": "es"})
	const n = 300
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("forwarded line %04d", i))
	}
	// In three parts, so that some go while Elasticsearch fails.
	for part := range 3 {
		appendFile(t, path, want[part*n/3:(part+1)*n/3]...)
		time.Sleep(time.Second)
	}
	env.waitCount(t, "out:es", n)

	count := func(mu *sync.Mutex, m map[string]int) (distinct, dups int, missing []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range want {
			switch c := m[w]; {
			case c == 0:
				missing = append(missing, w)
			default:
				distinct++
				dups += c - 1
			}
		}
		return
	}
	eventually(t, 90*time.Second, func() error {
		d1, _, _ := count(&es.mu, es.docs)
		d2, _, _ := count(&loki.mu, loki.lines)
		if d1 != n || d2 != n {
			return fmt.Errorf("elasticsearch has %d of %d lines, loki %d", d1, n, d2)
		}
		return nil
	})
	d1, dup1, _ := count(&es.mu, es.docs)
	d2, dup2, _ := count(&loki.mu, loki.lines)
	es.mu.Lock()
	failed, extra := es.failed, len(es.docs)-d1
	esProblems := slices.Clone(es.problems)
	es.mu.Unlock()
	loki.mu.Lock()
	lokiProblems := slices.Clone(loki.problems)
	lokiExtra := len(loki.lines) - d2
	loki.mu.Unlock()
	t.Logf("elasticsearch: %d lines, %d duplicates, %d requests answered 503; loki: %d lines, %d duplicates", d1, dup1, failed, d2, dup2)
	if failed != 4 {
		t.Errorf("elasticsearch answered 503 %d times, want 4 (the forwarder gave up?)", failed)
	}
	if extra != 0 || lokiExtra != 0 {
		t.Errorf("outputs got lines the match excludes: elasticsearch %d, loki %d", extra, lokiExtra)
	}
	for _, p := range esProblems[:min(len(esProblems), 10)] {
		t.Errorf("elasticsearch request: %s", p)
	}
	for _, p := range lokiProblems[:min(len(lokiProblems), 10)] {
		t.Errorf("loki request: %s", p)
	}
}

// TestLogsBadInput feeds the agent what it must survive: invalid UTF-8
// and a 10 MB line in a file, broken JSON with the json parser, garbage
// and a huge octet count on the syslog TCP port. The agent keeps running
// and shipping.
func TestLogsBadInput(t *testing.T) {
	env := startLogsEnv(t, "logs-bad")
	dir := t.TempDir()
	plain, jsonPath := filepath.Join(dir, "plain.log"), filepath.Join(dir, "json.log")
	env.applyLogInput(t, "bad-plain", plain, "none", map[string]string{"bad": "plain"})
	env.applyLogInput(t, "bad-json", jsonPath, "json", map[string]string{"bad": "json"})

	const huge = 10 << 20
	const maxLine = 1 << 20 // the tail's bound on a line
	appendFile(t, plain,
		"before the bad lines",
		"bad \xff\xfe utf8 tail",
		"H"+strings.Repeat("x", huge-1),
		"after the huge line")
	appendFile(t, jsonPath,
		`{"level":"error","msg":"good json","user":{"id":7}}`,
		`{"level":"error","msg":"broken json", "user":`,
		`{"level":"info","msg":"after broken"}`)

	// Garbage on the syslog TCP port, then a frame that announces 10^12
	// bytes and sends a few.
	for _, payload := range [][]byte{
		{0x00, 0xff, 0x13, 0x37, '\n', 0xfe, 0x00, '\n'},
		[]byte("999999999999 <13>1 2026-01-01T00:00:00Z h a - - - never ends"),
		[]byte("123abc\n\n\n<<<>>>\n"),
	} {
		c, err := net.DialTimeout("tcp", env.syslog, 5*time.Second)
		if err != nil {
			t.Fatalf("dial syslog: %v", err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(payload)
		time.Sleep(200 * time.Millisecond)
		c.Close()
	}
	// Garbage on the JSON lines and Beats ports too.
	for _, addr := range []string{env.json, env.beats} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("\x00\xff2W\xff\xff\xff\xff{\"not\": json\n\x02C\x7f\xff\xff\xff"))
		time.Sleep(200 * time.Millisecond)
		c.Close()
	}
	jc, err := net.DialTimeout("tcp", env.json, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jc.Write([]byte(`{"message":"json after garbage","app_name":"itbad"}` + "\n"))
	jc.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A valid frame afterwards, on a new connection, and on UDP.
	sendSyslog(t, "tcp", env.syslog, "<11>1 2026-11-25T10:00:00Z host1 itbad 99 - - syslog after garbage tcp")
	sendSyslog(t, "udp", env.syslog, "<11>1 2026-11-25T10:00:00Z host1 itbad 99 - - syslog after garbage udp")

	es := env.waitCount(t, "bad:plain", 4)
	slices.Reverse(es)
	if len(es) != 4 {
		t.Fatalf("bad:plain: %d entries, want 4: %q", len(es), messages(es))
	}
	if es[0].Message != "before the bad lines" || es[3].Message != "after the huge line" {
		t.Errorf("first and last: %q, %q", es[0].Message, es[3].Message)
	}
	if m := es[1].Message; !utf8.ValidString(m) || !strings.HasPrefix(m, "bad ") || !strings.HasSuffix(m, " utf8 tail") || !strings.Contains(m, "\uFFFD") {
		t.Errorf("invalid UTF-8 line became %q, want valid UTF-8 with U+FFFD", m)
	}
	wantHuge := "H" + strings.Repeat("x", maxLine-1) + fmt.Sprintf(" …[truncated %d bytes]", huge-maxLine)
	if m := es[2].Message; m != wantHuge {
		t.Errorf("10 MB line: %d bytes ending %q, want %d bytes ending %q", len(m), m[max(0, len(m)-40):], len(wantHuge), wantHuge[len(wantHuge)-40:])
	}

	js := env.waitCount(t, "bad:json", 3)
	slices.Reverse(js)
	if len(js) == 3 {
		if js[0].Message != "good json" || js[0].Level != "error" || js[0].Fields["user.id"] != "7" {
			t.Errorf("good json: %+v", js[0])
		}
		if js[1].Message != `{"level":"error","msg":"broken json", "user":` {
			t.Errorf("broken json kept as %q, want the line", js[1].Message)
		}
		if js[2].Message != "after broken" || js[2].Level != "info" {
			t.Errorf("after broken: %+v", js[2])
		}
	} else {
		t.Errorf("bad:json: %d entries, want 3: %q", len(js), messages(js))
	}

	sys := env.waitCount(t, "app_name:itbad", 3)
	got := messages(sys)
	sort.Strings(got)
	if !slices.Equal(got, []string{"json after garbage", "syslog after garbage tcp", "syslog after garbage udp"}) {
		t.Errorf("after garbage: %q", got)
	}
	if exited, code := env.agent.Exited(); exited {
		t.Fatalf("agent exited with %d", code)
	}
	if exited, code := env.srv.proc.Exited(); exited {
		t.Fatalf("server exited with %d", code)
	}
	// Still shipping files.
	appendFile(t, plain, "still shipping")
	env.waitCount(t, `bad:plain "still shipping"`, 1)
}

// sendSyslog sends one RFC 5424 message, octet-counted over TCP or as a
// datagram.
func sendSyslog(t *testing.T, network, addr, msg string) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	frame := msg
	if network == "tcp" {
		frame = fmt.Sprintf("%d %s", len(msg), msg)
	}
	if _, err := c.Write([]byte(frame)); err != nil {
		t.Fatalf("send syslog: %v", err)
	}
}

// TestLogsMetrics: access lines become corral.logs.http.<node>.<service>.
// <code> series (every 10 s), found with `corral metrics find`.
func TestLogsMetrics(t *testing.T) {
	env := startLogsEnv(t, "logs-metrics")
	path := filepath.Join(t.TempDir(), "access.log")
	now := time.Now().UTC()
	var text []string
	for i, st := range []int{200, 200, 404, 500, 200} {
		text = append(text, accessLine{now.Add(time.Duration(i) * time.Second), "GET", fmt.Sprintf("/m/%d", i), st}.String())
	}
	appendFile(t, path, text...)
	env.applyLogInput(t, "metrics-web", path, "combined", map[string]string{"service": "shopweb"})
	env.waitCount(t, "service:shopweb", len(text))

	want := []string{
		"corral.logs.http.logs-metrics.shopweb.200", "corral.logs.http.logs-metrics.shopweb.2xx",
		"corral.logs.http.logs-metrics.shopweb.404", "corral.logs.http.logs-metrics.shopweb.4xx",
		"corral.logs.http.logs-metrics.shopweb.500", "corral.logs.http.logs-metrics.shopweb.5xx",
	}
	// Poll the API (the series appear within a 10 s flush), then ask the
	// CLI once.
	eventually(t, 40*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nodes, err := env.admin.FindMetrics(ctx, "corral.logs.http.*.*.*")
		if err != nil {
			return err
		}
		var got []string
		for _, n := range nodes {
			got = append(got, n.Path)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("/metrics/find has no %s: %v", w, got)
			}
		}
		return nil
	})
	out := env.cli(t, "metrics", "find", "corral.logs.http.*.*.*")
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("corral metrics find shows no %s:\n%s", w, out)
		}
	}
	// The counts: render the sum over the whole time.
	status, body := env.srv.HTTP(t, "GET", "/render?format=json&from=-10min&target="+
		"sumSeries(corral.logs.http.logs-metrics.shopweb.200)", env.srv.AdminToken(), nil)
	if status != 200 {
		t.Fatalf("render: %d %s", status, body)
	}
	var series []struct {
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &series); err != nil || len(series) != 1 {
		t.Fatalf("render: %v %s", err, body)
	}
	var sum float64
	for _, p := range series[0].Datapoints {
		if p[0] != nil {
			sum += *p[0]
		}
	}
	if sum != 3 {
		t.Errorf("corral.logs.http.logs-metrics.shopweb.200 sums to %v, want 3: %s", sum, body)
	}
}

// TestLogsOwn: `corral logs source:corral` shows the server's and the
// agent's own log records.
func TestLogsOwn(t *testing.T) {
	env := startLogsEnv(t, "logs-own")
	// A restart of the agent logs a few lines more on both sides.
	env.agent.Kill()
	env.agent.Restart()
	env.agent.WaitReady()
	var out string
	eventually(t, logsWait, func() error {
		out = env.cli(t, "logs", "source:corral", "-n", "1000", "-o", "json")
		nodes := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var e api.LogEntry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				return fmt.Errorf("line %q: %v", l, err)
			}
			if e.Source != "corral" || e.Message == "" || e.Level == "" {
				return fmt.Errorf("entry %+v", e)
			}
			nodes[e.Node]++
		}
		if nodes["logs-own"] == 0 {
			return fmt.Errorf("no entry of the agent logs-own: %v", nodes)
		}
		if len(nodes) < 2 {
			return fmt.Errorf("no entry of the server: %v", nodes)
		}
		return nil
	})
	// The table output names the source.
	if tab := env.cli(t, "logs", "source:corral", "-n", "5"); !strings.Contains(tab, " corral| ") {
		t.Errorf("table output:\n%s", tab)
	}
}

// TestLogsFollow: `corral logs -f QUERY` prints a line written after it
// started.
func TestLogsFollow(t *testing.T) {
	env := startLogsEnv(t, "logs-follow")
	path := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, path, "follow line before")
	env.applyLogInput(t, "follow", path, "none", map[string]string{"it": "follow"})
	env.waitCount(t, "it:follow", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, corralBin, append([]string{"logs", "-f", "it:follow"}, env.flags...)...)
	cmd.Env = childEnv(env.srv.Home)
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("corral logs -f stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	}()
	waitOut := func(want string) {
		t.Helper()
		eventually(t, logsWait, func() error {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("corral logs -f ended: %v", err)
			default:
			}
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("corral logs -f has not printed %q", want)
			}
			return nil
		})
	}
	// The page of the newest lines first, then the new ones.
	waitOut("| follow line before")
	appendFile(t, path, "follow line after")
	waitOut("| follow line after")
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	var got []string
	for sc.Scan() {
		if _, m, ok := strings.Cut(sc.Text(), "| "); ok {
			got = append(got, m)
		}
	}
	if !slices.Equal(got, []string{"follow line before", "follow line after"}) {
		t.Errorf("corral logs -f printed %q", got)
	}
}
