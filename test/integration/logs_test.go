package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
	"corral/internal/logs/peertest"
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

// TestLogsNginx runs a real nginx whose access log a LogInput follows:
// the requests a client makes arrive with their status, path and method.
func TestLogsNginx(t *testing.T) {
	nginx := peertest.LookPath(t, "nginx", "nginx-light")
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
	peertest.Daemon(t, nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", confPath, "-g", "daemon off;")

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
	rsyslogd := peertest.LookPath(t, "rsyslogd", "rsyslog")
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
	peertest.Daemon(t, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))

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
