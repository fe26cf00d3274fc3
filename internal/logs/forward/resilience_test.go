package forward

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/spool"
)

// messages returns the messages of entries.
func messages(in []api.LogEntry) []string {
	out := make([]string, len(in))
	for i, e := range in {
		out[i] = e.Message
	}
	return out
}

// missing returns the wanted strings not in got.
func missing(want, got []string) []string {
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	var out []string
	for _, w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out
}

// freeAddr returns a loopback address nobody listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHTTPPeerDownThenUp(t *testing.T) {
	addr := freeAddr(t)
	f, err := New(esSpec("http://"+addr), t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := entries(50, t0, "down")
	f.Offer(in[:20])
	f.Offer(in[20:])
	waitFor(t, "failed attempts", func() bool { return f.Stats().FailedAttempts >= 3 })
	if st := f.Stats(); st.Sent != 0 || st.QueuedRecords != 2 || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("while down: stats %+v, want nothing sent, 2 records queued, connection refused", st)
	}
	es := &fakeES{t: t}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: es}}
	srv.Start()
	defer srv.Close()
	waitFor(t, "all entries", func() bool { return f.Stats().QueuedRecords == 0 })
	if lost := missing(messages(in), es.takenMessages()); len(lost) > 0 {
		t.Errorf("lost %d entries: %v", len(lost), lost)
	}
	if st := f.Stats(); st.Sent != 50 {
		t.Errorf("sent %d, want 50", st.Sent)
	}
}

func TestTCPPeerDownThenUp(t *testing.T) {
	peer := listenTCP(t, "127.0.0.1:0")
	addr := peer.ln.Addr().String()
	f, err := New(api.LogOutputSpec{Name: "ls", Type: "logstash", Address: addr, FlushInterval: api.Duration(time.Millisecond)},
		t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := entries(30, t0, "tcp")
	f.Offer(in[:10])
	waitFor(t, "10 lines", func() bool { return len(peer.jsonLines(t)) == 10 })
	peer.stop() // the connection is closed and nobody listens
	f.Offer(in[10:20])
	waitFor(t, "failed attempts", func() bool { return f.Stats().FailedAttempts >= 2 })
	f.Offer(in[20:])
	peer2 := listenTCP(t, addr)
	waitFor(t, "20 more lines", func() bool { return len(peer2.jsonLines(t)) >= 20 })
	var got []string
	for _, p := range [...]*tcpPeer{peer, peer2} {
		for _, d := range p.jsonLines(t) {
			got = append(got, d["message"])
		}
	}
	if lost := missing(messages(in), got); len(lost) > 0 {
		t.Errorf("lost %d entries: %v", len(lost), lost)
	}
}

func TestRestartSendsQueued(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	f, err := New(esSpec("http://"+addr), dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	in := entries(25, t0, "restart")
	f.Offer(in[:10])
	f.Offer(in[10:])
	waitFor(t, "a failed attempt", func() bool { return f.Stats().FailedAttempts >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	es := &fakeES{t: t}
	srv := httptest.NewServer(es)
	defer srv.Close()
	f, err = New(esSpec(srv.URL), dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if st := f.Stats(); st.QueuedRecords != 2 {
		t.Errorf("after reopening: %d records queued, want 2", st.QueuedRecords)
	}
	run(t, f)
	waitFor(t, "all entries", func() bool { return f.Stats().QueuedRecords == 0 })
	if got := es.takenMessages(); !slices.Equal(got, messages(in)) {
		t.Errorf("after the restart the output got %v\nwant %v", got, messages(in))
	}
}

func TestBudgetDropsOldest(t *testing.T) {
	dir := t.TempDir()
	spec := esSpec("http://127.0.0.1:1")
	spec.SpoolBytes = api.MinLogOutputSpoolBytes // 1 MiB: segments of 256 KiB
	spec.BatchSize = 100
	f, err := New(spec, dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	// About 3 MiB of entries, offered while nothing is sent.
	in := entries(10000, t0, strings.Repeat("x", 200))
	for i := 0; i < len(in); i += 100 {
		f.Offer(in[i : i+100])
	}
	st := f.Stats()
	if st.DroppedBudget == 0 || st.DroppedBudgetEntries == 0 || st.QueuedBytes > api.MinLogOutputSpoolBytes {
		t.Fatalf("stats %+v: want drops and at most 1 MiB queued", st)
	}
	if st.DroppedBudgetEntries != st.DroppedBudget*100 {
		t.Errorf("dropped %d records but %d entries, want 100 entries a record", st.DroppedBudget, st.DroppedBudgetEntries)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	es := &fakeES{t: t}
	srv := httptest.NewServer(es)
	defer srv.Close()
	spec.URL = srv.URL
	f, err = New(spec, dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	waitFor(t, "the queue sent", func() bool { return f.Stats().QueuedRecords == 0 })
	got := es.takenMessages()
	// The newest entries arrive in order, the oldest were dropped: what
	// arrived is the tail of what was offered.
	if dropped := int(st.DroppedBudgetEntries); len(got)+dropped != len(in) || !slices.Equal(got, messages(in[dropped:])) {
		t.Errorf("got %d entries (first %q), dropped %d; want the last %d of %d", len(got), got[:min(1, len(got))], dropped, len(in)-dropped, len(in))
	}
	if st2 := f.Stats(); st2.DroppedBudget != st.DroppedBudget {
		t.Errorf("after reopening DroppedBudget = %d, want %d (kept in the spool)", st2.DroppedBudget, st.DroppedBudget)
	}
}

func TestMatchFilters(t *testing.T) {
	es := &fakeES{t: t}
	srv := httptest.NewServer(es)
	defer srv.Close()
	spec := esSpec(srv.URL)
	spec.Match = `app:shop/* (level:error OR status>=500) -path:/health`
	f, err := New(spec, t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	in := []api.LogEntry{
		{Time: t0, App: "shop/api", Level: "error", Message: "yes: error"},
		{Time: t0, App: "shop/web", Message: "yes: status", Fields: map[string]string{"status": "503"}},
		{Time: t0, App: "shop/web", Message: "no: status 404", Fields: map[string]string{"status": "404"}},
		{Time: t0, App: "billing", Level: "error", Message: "no: other app"},
		{Time: t0, App: "shop/api", Level: "error", Message: "no: health", Fields: map[string]string{"path": "/health"}},
	}
	f.Offer(in)
	f.Offer(in[3:]) // nothing matches: nothing spooled
	waitFor(t, "the ack", func() bool { return f.Stats().Sent == 2 && f.Stats().QueuedRecords == 0 })
	if got, want := es.takenMessages(), []string{"yes: error", "yes: status"}; !slices.Equal(got, want) {
		t.Errorf("forwarded %q, want %q", got, want)
	}
	if n := len(es.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestValidateSpec(t *testing.T) {
	ok := map[string]api.LogOutputSpec{
		"elasticsearch": {Name: "es", Type: "elasticsearch", URL: "https://es:9200", Index: "logs-%Y.%m.%d", Username: "u", Password: "p", Gzip: true},
		"loki":          {Name: "loki", Type: "loki", URL: "http://loki:3100", Labels: []string{"node", "status"}, Headers: map[string]string{"X-Scope-OrgID": "t1"}},
		"logstash":      {Name: "ls", Type: "logstash", Address: "ls.internal:5000", Match: "app:shop/*", BatchSize: 1000},
		"syslog":        {Name: "sl", Type: "syslog", Address: "[::1]:514", Facility: "local7", AppName: "corral"},
		"syslog number": {Name: "sl", Type: "syslog", Address: "h:514", Facility: "23"},
	}
	for name, spec := range ok {
		if fe := ValidateSpec(spec); len(fe) > 0 {
			t.Errorf("%s: %v, want valid", name, fe)
		}
	}
	bad := []struct {
		name  string
		spec  api.LogOutputSpec
		field string
	}{
		{"bad name", api.LogOutputSpec{Name: "-x", Type: "loki", URL: "http://l"}, "name"},
		{"unknown type", api.LogOutputSpec{Name: "x", Type: "kafka"}, "type"},
		{"es without url", api.LogOutputSpec{Name: "x", Type: "elasticsearch"}, "url"},
		{"url not http", api.LogOutputSpec{Name: "x", Type: "elasticsearch", URL: "ftp://es"}, "url"},
		{"tcp without address", api.LogOutputSpec{Name: "x", Type: "syslog"}, "address"},
		{"address without port", api.LogOutputSpec{Name: "x", Type: "logstash", Address: "ls"}, "address"},
		{"url on tcp", api.LogOutputSpec{Name: "x", Type: "logstash", Address: "ls:1", URL: "http://x"}, "url"},
		{"index uppercase", api.LogOutputSpec{Name: "x", Type: "elasticsearch", URL: "http://e", Index: "Logs-%Y"}, "index"},
		{"index bad directive", api.LogOutputSpec{Name: "x", Type: "elasticsearch", URL: "http://e", Index: "logs-%j"}, "index"},
		{"index on loki", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Index: "a"}, "index"},
		{"labels on es", api.LogOutputSpec{Name: "x", Type: "elasticsearch", URL: "http://e", Labels: []string{"node"}}, "labels"},
		{"label twice", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Labels: []string{"node", "node"}}, "labels[1]"},
		{"label message", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Labels: []string{"message"}}, "labels[0]"},
		{"bad match", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Match: "(a"}, "match"},
		{"batch too big", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", BatchSize: 100000}, "batch_size"},
		{"spool too small", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", SpoolBytes: 1000}, "spool_bytes"},
		{"negative flush", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", FlushInterval: -1}, "flush_interval"},
		{"bad header", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Headers: map[string]string{"A B": "v"}}, "headers.A B"},
		{"header with newline", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Headers: map[string]string{"A": "v\r\nX: y"}}, "headers.A"},
		{"password without user", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Password: "p"}, "username"},
		{"facility unknown", api.LogOutputSpec{Name: "x", Type: "syslog", Address: "h:1", Facility: "local9"}, "facility"},
		{"facility on loki", api.LogOutputSpec{Name: "x", Type: "loki", URL: "http://l", Facility: "user"}, "facility"},
		{"app_name with space", api.LogOutputSpec{Name: "x", Type: "syslog", Address: "h:1", AppName: "a b"}, "app_name"},
		{"gzip on tcp", api.LogOutputSpec{Name: "x", Type: "syslog", Address: "h:1", Gzip: true}, "gzip"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			fe := ValidateSpec(tt.spec)
			if _, ok := fe[tt.field]; !ok {
				t.Errorf("errors %v, want one for %s", fe, tt.field)
			}
			if _, err := New(tt.spec, t.TempDir(), testOptions()); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	s := api.LogOutputSpec{Name: "es", Type: "elasticsearch", URL: "http://e", Username: "u", Password: "secret",
		Headers: map[string]string{"Authorization": "ApiKey abc", "X-Api-Key": "k", "X-Scope-OrgID": "tenant"}}
	orig := s.Headers
	s.Redact()
	want := map[string]string{"Authorization": api.Redacted, "X-Api-Key": api.Redacted, "X-Scope-OrgID": "tenant"}
	if s.Password != api.Redacted || s.Username != "u" || !maps.Equal(s.Headers, want) {
		t.Errorf("redacted spec %+v", s)
	}
	if orig["Authorization"] != "ApiKey abc" {
		t.Error("Redact changed the original headers map")
	}
}

func TestRunStopsDuringBackoff(t *testing.T) {
	opts := testOptions()
	opts.BackoffInitial, opts.BackoffMax = time.Hour, time.Hour
	f, err := New(esSpec("http://"+freeAddr(t)), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	f.Offer(entries(1, t0, "m"))
	waitFor(t, "a failed attempt", func() bool { return f.Stats().FailedAttempts == 1 })
	cancel()
	waitFor(t, "Run to return", func() bool {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			return true
		default:
			return false
		}
	})
	if st := f.Stats(); st.QueuedRecords != 1 {
		t.Errorf("%d records queued after stopping, want 1 (kept for the next start)", st.QueuedRecords)
	}
}

func TestUnspoolableCounted(t *testing.T) {
	spec := esSpec("http://127.0.0.1:1")
	spec.SpoolBytes = api.MinLogOutputSpoolBytes
	f, err := New(spec, t.TempDir(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	big := api.LogEntry{Time: t0, Message: strings.Repeat("x", 2<<20)}
	f.Offer([]api.LogEntry{big, {Time: t0, Message: "small"}})
	st := f.Stats()
	if st.DroppedBudgetEntries != 1 || st.QueuedRecords != 1 || !strings.Contains(st.LastError, "larger than the spool takes") {
		t.Errorf("after a 2 MiB entry: stats %+v, want 1 dropped entry and the small one queued", st)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f.Offer([]api.LogEntry{{Time: t0, Message: "after close"}, {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Message: "year 10000"}})
	if st := f.Stats(); st.SpoolErrors != 2 {
		t.Errorf("SpoolErrors = %d, want 2 (closed spool, unencodable time)", st.SpoolErrors)
	}
}

func TestBadRecordsSkipped(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ typ, data string }{{"other", `{}`}, {recordType, `[1]`}} {
		if _, err := sp.Append(r.typ, []byte(r.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	es := &fakeES{t: t}
	srv := httptest.NewServer(es)
	defer srv.Close()
	f, err := New(esSpec(srv.URL), dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	run(t, f)
	f.Offer(entries(1, t0, "good"))
	waitFor(t, "the good entry", func() bool { return f.Stats().QueuedRecords == 0 })
	if got := es.takenMessages(); !slices.Equal(got, []string{"good 000000"}) {
		t.Errorf("sent %q, want only the good entry", got)
	}
	if st := f.Stats(); !strings.Contains(st.LastError, "skipped") {
		t.Errorf("LastError %q, want the skipped record", st.LastError)
	}
}
