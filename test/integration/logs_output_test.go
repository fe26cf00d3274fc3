package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	lumber "github.com/elastic/go-lumber/client/v2"

	"corral/internal/api"
	"corral/internal/logs/peertest"
)

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
	var out, errOut peertest.Buffer
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
