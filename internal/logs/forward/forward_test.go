package forward

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// testOptions retry fast.
func testOptions() Options {
	return Options{BackoffInitial: time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

// run starts f.Run and stops it (and closes f) at the end of the test.
func run(t *testing.T, f *Forwarder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// waitFor polls cond; the deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func entries(n int, from time.Time, msg string) []api.LogEntry {
	out := make([]api.LogEntry, n)
	for i := range out {
		out[i] = api.LogEntry{Time: from.Add(time.Duration(i) * time.Millisecond), Node: "n1", Source: "task", App: "shop/api",
			Level: "info", Message: fmt.Sprintf("%s %06d", msg, i), Fields: map[string]string{"i": strconv.Itoa(i)}}
	}
	return out
}

// esDoc is one document an elasticsearch fake received.
type esDoc struct {
	Index string
	Doc   map[string]string
}

// fakeES is a _bulk endpoint. answer, when set, makes the response to the
// nth request (from 0); else every document is taken.
type fakeES struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   [][]esDoc
	taken  []esDoc
	answer func(n int, docs []esDoc) (status int, body string)
}

func (s *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
		s.t.Errorf("request %s %s, want POST /_bulk", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		s.t.Errorf("Content-Type %q, want application/x-ndjson", ct)
	}
	body, _ := io.ReadAll(r.Body)
	docs := parseBulkBody(s.t, body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, docs)
	status, resp := 200, `{"took":1,"errors":false,"items":[]}`
	if s.answer != nil {
		status, resp = s.answer(n, docs)
	}
	if status == 200 && !strings.Contains(resp, `"errors":true`) {
		s.taken = append(s.taken, docs...)
	}
	s.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, resp)
}

// parseBulkBody checks that body is NDJSON pairs of an index action and a
// document.
func parseBulkBody(t *testing.T, body []byte) []esDoc {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Errorf("_bulk body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Errorf("_bulk body has %d lines, want pairs", len(lines))
		return nil
	}
	var docs []esDoc
	for i := 0; i < len(lines); i += 2 {
		var action map[string]map[string]string
		if err := json.Unmarshal([]byte(lines[i]), &action); err != nil || len(action) != 1 || len(action["index"]) != 1 {
			t.Errorf("action line %q: want {\"index\":{\"_index\":...}} (%v)", lines[i], err)
			continue
		}
		var doc map[string]string
		if err := json.Unmarshal([]byte(lines[i+1]), &doc); err != nil {
			t.Errorf("document line %q: %v", lines[i+1], err)
		}
		docs = append(docs, esDoc{action["index"]["_index"], doc})
	}
	return docs
}

func (s *fakeES) takenMessages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.taken {
		out = append(out, d.Doc["message"])
	}
	return out
}

func (s *fakeES) requests() [][]esDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func esSpec(url string) api.LogOutputSpec {
	return api.LogOutputSpec{Name: "es", Type: "elasticsearch", URL: url, FlushInterval: api.Duration(time.Millisecond)}
}

func TestElasticsearchFormat(t *testing.T) {
	es := &fakeES{t: t}
	var auth, tenant string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, tenant = r.Header.Get("Authorization"), r.Header.Get("X-Tenant")
		es.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := esSpec(srv.URL + "/")
	spec.Username, spec.Password = "elastic", "changeme"
	spec.Headers = map[string]string{"X-Tenant": "a"}
	f, err := New(spec, t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	cet := time.FixedZone("CET", 3600)
	in := []api.LogEntry{
		{Time: time.Date(2026, 11, 26, 0, 59, 59, 900, cet), Node: "n1", Message: "late on the 25th (UTC)", Fields: map[string]string{"status": "500"}},
		{Time: time.Date(2026, 11, 26, 1, 0, 0, 100, cet), Node: "n1", App: "shop/api", Level: "warn", Message: "early on the 26th"},
	}
	f.Offer(in)
	waitFor(t, "2 documents", func() bool { return len(es.takenMessages()) == 2 })
	want := []esDoc{
		{"logs-2026.11.25", map[string]string{"@timestamp": "2026-11-25T23:59:59.0000009Z", "message": "late on the 25th (UTC)", "node": "n1", "status": "500"}},
		{"logs-2026.11.26", map[string]string{"@timestamp": "2026-11-26T00:00:00.0000001Z", "message": "early on the 26th", "node": "n1", "app": "shop/api", "level": "warn"}},
	}
	if got := es.requests(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("requests = %+v\nwant one with %+v", got, want)
	}
	if wantAuth := "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="; auth != wantAuth || tenant != "a" {
		t.Errorf("Authorization %q, X-Tenant %q; want %q, a", auth, tenant, wantAuth)
	}
	waitFor(t, "the ack", func() bool { return f.Stats().QueuedRecords == 0 })
	if st := f.Stats(); st.Sent != 2 || st.FailedAttempts != 0 || st.Rejected != 0 {
		t.Errorf("stats = %+v, want 2 sent and nothing else", st)
	}
}

func TestElasticsearchPartialRetry(t *testing.T) {
	es := &fakeES{t: t, answer: func(n int, docs []esDoc) (int, string) {
		if n > 0 {
			return 200, `{"errors":false,"items":[]}`
		}
		return 200, `{"took":1,"errors":true,"items":[{"index":{"status":201}},` +
			`{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},` +
			`{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}]}`
	}}
	srv := httptest.NewServer(es)
	defer srv.Close()
	f, err := New(esSpec(srv.URL), t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := entries(3, t0, "doc")
	f.Offer(in)
	waitFor(t, "the ack", func() bool { st := f.Stats(); return st.QueuedRecords == 0 && st.Sent == 2 })
	reqs := es.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if len(reqs[0]) != 3 || len(reqs[1]) != 1 || reqs[1][0].Doc["message"] != in[1].Message {
		t.Errorf("second request has %v, want only %q (the 429 item)", reqs[1], in[1].Message)
	}
	st := f.Stats()
	if st.Sent != 2 || st.Rejected != 1 || st.FailedAttempts != 1 || !strings.Contains(st.LastError, "1 of 3 entries refused for now") {
		t.Errorf("stats = %+v, want 2 sent, 1 rejected, 1 failed attempt", st)
	}
}

func TestElasticsearchWholeRequest(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantRequests int
		wantSent     uint64
		wantRejected uint64
	}{
		{"503 is retried", 503, 2, 3, 0},
		{"401 is retried (fixable config)", 401, 2, 3, 0},
		{"413 is refused for good", 413, 1, 0, 3},
		{"400 is refused for good", 400, 1, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := &fakeES{t: t, answer: func(n int, docs []esDoc) (int, string) {
				if n == 0 {
					return tt.status, `{"error":"no"}`
				}
				return 200, `{"errors":false}`
			}}
			srv := httptest.NewServer(es)
			defer srv.Close()
			f, err := New(esSpec(srv.URL), t.TempDir(), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			run(t, f)
			f.Offer(entries(3, t0, "m"))
			waitFor(t, "the ack", func() bool { st := f.Stats(); return st.QueuedRecords == 0 && st.Sent+st.Rejected == 3 })
			st := f.Stats()
			if n := len(es.requests()); n != tt.wantRequests || st.Sent != tt.wantSent || st.Rejected != tt.wantRejected {
				t.Errorf("%d requests, stats %+v; want %d requests, %d sent, %d rejected", n, st, tt.wantRequests, tt.wantSent, tt.wantRejected)
			}
		})
	}
}

func TestLoki(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			type push struct {
				Streams []struct {
					Stream map[string]string `json:"stream"`
					Values [][]string        `json:"values"`
				} `json:"streams"`
			}
			var mu sync.Mutex
			var pushes []push
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s (%s), want POST /loki/api/v1/push application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				var body io.Reader = r.Body
				if enc := r.Header.Get("Content-Encoding"); (enc == "gzip") != gz {
					t.Errorf("Content-Encoding %q with gzip %v", enc, gz)
				} else if gz {
					zr, err := gzip.NewReader(r.Body)
					if err != nil {
						t.Error(err)
						return
					}
					body = zr
				}
				var p push
				if err := json.NewDecoder(body).Decode(&p); err != nil {
					t.Errorf("push body: %v", err)
				}
				mu.Lock()
				pushes = append(pushes, p)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			spec := api.LogOutputSpec{Name: "loki", Type: "loki", URL: srv.URL, Gzip: gz, Labels: []string{"node", "app", "status"},
				BatchSize: 100, FlushInterval: api.Duration(time.Millisecond)}
			f, err := New(spec, t.TempDir(), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			// Offered out of order, in one batch (Run starts afterwards).
			base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			in := []api.LogEntry{
				{Time: base.Add(3 * time.Second), Node: "a", App: "x", Message: "a3", Fields: map[string]string{"status": "500", "path": "/p"}},
				{Time: base.Add(1 * time.Second), Node: "a", App: "x", Message: "a1", Fields: map[string]string{"status": "500"}},
				{Time: base.Add(2 * time.Second), Node: "b", Message: "b2", Level: "warn"},
				{Time: base, Node: "a", App: "x", Message: "a0", Fields: map[string]string{"status": "500"}},
			}
			f.Offer(in)
			run(t, f)
			waitFor(t, "the ack", func() bool { return f.Stats().QueuedRecords == 0 })
			mu.Lock()
			defer mu.Unlock()
			if len(pushes) != 1 {
				t.Fatalf("%d pushes, want 1", len(pushes))
			}
			ns := func(d time.Duration) string { return strconv.FormatInt(base.Add(d).UnixNano(), 10) }
			got := pushes[0].Streams
			if len(got) != 2 ||
				!reflect.DeepEqual(got[0].Stream, map[string]string{"node": "a", "app": "x", "status": "500"}) ||
				!reflect.DeepEqual(got[0].Values, [][]string{{ns(0), "a0"}, {ns(time.Second), "a1"}, {ns(3 * time.Second), "a3 path=/p"}}) ||
				!reflect.DeepEqual(got[1].Stream, map[string]string{"node": "b"}) ||
				!reflect.DeepEqual(got[1].Values, [][]string{{ns(2 * time.Second), "b2 level=warn"}}) {
				t.Errorf("streams = %+v", got)
			}
		})
	}
}

// tcpPeer is a listener that collects what its connections send.
type tcpPeer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	data  []byte
}

func listenTCP(t *testing.T, addr string) *tcpPeer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPeer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					p.mu.Lock()
					p.data = append(p.data, buf[:n]...)
					p.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every connection: the peer is down.
func (p *tcpPeer) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *tcpPeer) received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.data)
}

// jsonLines returns the messages of the complete lines received.
func (p *tcpPeer) jsonLines(t *testing.T) []map[string]string {
	var out []map[string]string
	data := p.received()
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		var d map[string]string
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Errorf("line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

func TestLogstash(t *testing.T) {
	peer := listenTCP(t, "127.0.0.1:0")
	f, err := New(api.LogOutputSpec{Name: "ls", Type: "logstash", Address: peer.ln.Addr().String(), FlushInterval: api.Duration(time.Millisecond)},
		t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := entries(3, t0, "ls")
	f.Offer(in)
	waitFor(t, "3 lines", func() bool { return len(peer.jsonLines(t)) == 3 })
	for i, d := range peer.jsonLines(t) {
		want := map[string]string{"@timestamp": in[i].Time.UTC().Format(time.RFC3339Nano), "message": in[i].Message, "node": "n1",
			"source": "task", "app": "shop/api", "level": "info", "i": strconv.Itoa(i)}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("line %d = %v, want %v", i, d, want)
		}
	}
}

func TestSyslogOverTCP(t *testing.T) {
	peer := listenTCP(t, "127.0.0.1:0")
	spec := api.LogOutputSpec{Name: "sl", Type: "syslog", Address: peer.ln.Addr().String(), Facility: "local3", AppName: "corral-fwd",
		FlushInterval: api.Duration(time.Millisecond)}
	f, err := New(spec, t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := entries(2, t0, "sl")
	in[1].Level, in[1].Message = "crit", "disk \"full\" ]"
	f.Offer(in)
	var frames [][]byte
	waitFor(t, "2 frames", func() bool {
		frames = splitOctetCounted(t, peer.received())
		return len(frames) == 2
	})
	for i, fr := range frames {
		var got api.LogEntry
		if err := (parse.Syslog{}).Parse(fr, &got); err != nil {
			t.Fatalf("frame %q: %v", fr, err)
		}
		want := api.LogEntry{Time: in[i].Time.UTC().Truncate(time.Microsecond), Level: in[i].Level, Message: in[i].Message,
			Fields: map[string]string{"facility": "local3", "host": "n1", "app_name": "corral-fwd",
				"sd.corral@32473.source": "task", "sd.corral@32473.app": "shop/api", "sd.corral@32473.i": strconv.Itoa(i)}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("frame %q parses to\n%+v\nwant\n%+v", fr, got, want)
		}
	}
}

func TestZeroTimeGetsNow(t *testing.T) {
	es := &fakeES{t: t}
	srv := httptest.NewServer(es)
	defer srv.Close()
	now := time.Date(2026, 11, 25, 19, 30, 0, 0, time.UTC)
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	f, err := New(esSpec(srv.URL), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := []api.LogEntry{{Message: "no time"}}
	f.Offer(in)
	waitFor(t, "the document", func() bool { return len(es.takenMessages()) == 1 })
	if got := es.requests()[0][0]; got.Index != "logs-2026.11.25" || got.Doc["@timestamp"] != "2026-11-25T19:30:00Z" {
		t.Errorf("document %+v, want the current time", got)
	}
	if !in[0].Time.IsZero() {
		t.Error("Offer changed the caller's entry")
	}
}

func TestTLSSkipVerify(t *testing.T) {
	es := &fakeES{t: t}
	srv := httptest.NewTLSServer(es)
	defer srv.Close()
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls_skip_verify=%v", skip), func(t *testing.T) {
			spec := esSpec(srv.URL)
			spec.TLSSkipVerify = skip
			f, err := New(spec, t.TempDir(), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			run(t, f)
			f.Offer(entries(1, t0, "tls"))
			if skip {
				waitFor(t, "the ack", func() bool { return f.Stats().Sent == 1 })
				return
			}
			waitFor(t, "failed attempts", func() bool { return f.Stats().FailedAttempts >= 2 })
			if st := f.Stats(); st.Sent != 0 || !strings.Contains(st.LastError, "certificate") {
				t.Errorf("stats %+v, want a certificate error and nothing sent", st)
			}
		})
	}
}
