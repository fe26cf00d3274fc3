package forward

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

var t0 = time.Date(2026, 11, 25, 23, 30, 0, 123456789, time.FixedZone("CET", 3600))

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "tab\tnl\nret\r", "\x00\x01\x1f\x7f", "<&>", "héllo ✓ 𝄞",
		"bad \xff\xfe utf8", "\u2028\u2029", "trunc \xe2\x82"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendJSONString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		std, _ := json.Marshal(s)
		var want string
		json.Unmarshal(std, &want)
		if back != want {
			t.Errorf("appendJSONString(%q) decodes to %q, encoding/json's to %q", s, back, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\\c\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		std, _ := json.Marshal(s)
		var want string
		json.Unmarshal(std, &want)
		if back != want {
			t.Fatalf("%q decodes to %q, want %q", s, back, want)
		}
	})
}

func TestIndexName(t *testing.T) {
	tests := []struct {
		name, pattern string
		t             time.Time
		want          string
	}{
		{"daily by UTC date", "logs-%Y.%m.%d", t0, "logs-2026.11.25"},
		{"next day in CET is still the 25th in UTC", "logs-%Y.%m.%d", time.Date(2026, 11, 26, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "logs-2026.11.25"},
		{"hourly", "l-%Y%m%d%H", t0, "l-2026112522"},
		{"literal percent", "a%%b-%Y", t0, "a%b-2026"},
		{"no pattern", "corral", t0, "corral"},
		{"padding", "%m-%d-%H", time.Date(2027, 1, 2, 3, 0, 0, 0, time.UTC), "01-02-03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := indexName(tt.pattern, tt.t); got != tt.want {
				t.Errorf("indexName(%q, %v) = %q, want %q", tt.pattern, tt.t, got, tt.want)
			}
		})
	}
}

func TestDocFields(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   []kv
	}{
		{"plain sorted", map[string]string{"status": "500", "path": "/a"}, []kv{{"path", "/a"}, {"status", "500"}}},
		{"dotted kept flat", map[string]string{"http.status": "500", "http.method": "GET"}, []kv{{"http.method", "GET"}, {"http.status", "500"}}},
		{"named like a built-in", map[string]string{"message": "x", "node.id": "7", "level": "w"},
			[]kv{{"fields.level", "w"}, {"fields.message", "x"}, {"fields.node.id", "7"}}},
		{"leaf and object", map[string]string{"a": "1", "a.b": "2", "a.b.c": "3", "ab": "4"},
			[]kv{{"a._value", "1"}, {"a.b._value", "2"}, {"a.b.c", "3"}, {"ab", "4"}}},
		{"empty segments", map[string]string{".x": "1", "y.": "2", "a..b": "3", "": "4"},
			[]kv{{"_x", "1"}, {"a__b", "3"}, {"y_", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := docFields(&api.LogEntry{Fields: tt.fields}, nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("docFields = %v, want %v", got, tt.want)
			}
		})
	}
}

func testEntry() api.LogEntry {
	return api.LogEntry{Time: t0, Node: "web1", Source: "task", App: "shop/api", Task: "shop-api.1", Stream: "stdout",
		Level: "error", Message: "GET /a \"x\" failed", Fields: map[string]string{"status": "500", "http.path": "/a", "message": "m"}}
}

func TestAppendDoc(t *testing.T) {
	e := testEntry()
	got := string(appendDoc(nil, &e, new([]kv)))
	want := `{"@timestamp":"2026-11-25T22:30:00.123456789Z","message":"GET /a \"x\" failed","node":"web1","source":"task",` +
		`"app":"shop/api","task":"shop-api.1","stream":"stdout","level":"error","fields.message":"m","http.path":"/a","status":"500"}`
	if got != want {
		t.Errorf("appendDoc =\n%s\nwant\n%s", got, want)
	}
	// Empty built-ins are left out.
	e = api.LogEntry{Time: time.Unix(0, 0), Message: ""}
	if got, want := string(appendDoc(nil, &e, new([]kv))), `{"@timestamp":"1970-01-01T00:00:00Z","message":""}`; got != want {
		t.Errorf("appendDoc(minimal) = %s, want %s", got, want)
	}
}

func TestBulkEncoder(t *testing.T) {
	a, b := testEntry(), api.LogEntry{Time: t0.Add(2 * time.Hour), Message: "next day", Node: "n2"}
	enc := bulkEncoder{pattern: "logs-%Y.%m.%d"}
	body := string(enc.encode(nil, []api.LogEntry{a, b}))
	lines := strings.Split(body, "\n")
	if len(lines) != 5 || lines[4] != "" {
		t.Fatalf("body has %d lines (want 4 and a final newline):\n%s", len(lines)-1, body)
	}
	if want := `{"index":{"_index":"logs-2026.11.25"}}`; lines[0] != want {
		t.Errorf("action 1 = %s, want %s", lines[0], want)
	}
	if want := `{"index":{"_index":"logs-2026.11.26"}}`; lines[2] != want {
		t.Errorf("action 2 = %s, want %s", lines[2], want)
	}
	if want := string(appendDoc(nil, &a, new([]kv))); lines[1] != want {
		t.Errorf("doc 1 = %s, want %s", lines[1], want)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(lines[3]), &doc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"@timestamp": "2026-11-26T00:30:00.123456789Z", "message": "next day", "node": "n2"}; !maps.Equal(doc, want) {
		t.Errorf("doc 2 = %v, want %v", doc, want)
	}
}

func TestParseBulkResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		n       int
		want    bulkVerdict
		wantErr bool
	}{
		{"no errors", `{"took":3,"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}}]}`, 2, bulkVerdict{}, false},
		{"no errors, items not read", `{"took":3,"errors":false,"items":[]}`, 5, bulkVerdict{}, false},
		{"429 and 400", `{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},` +
			`{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [a]"}}},{"create":{"status":503}}]}`, 4,
			bulkVerdict{Retry: []int{1, 3}, Rejected: []int{2}, Reason: "400 mapper_parsing_exception: failed to parse field [a]"}, false},
		{"item count mismatch", `{"errors":true,"items":[{"index":{"status":429}}]}`, 2, bulkVerdict{}, true},
		{"not JSON", `<html>`, 1, bulkVerdict{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBulkResponse([]byte(tt.body), tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdict = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLokiEncoder(t *testing.T) {
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	entries := []api.LogEntry{
		{Time: base.Add(2 * time.Second), Node: "n1", App: "shop", Source: "task", Level: "info", Task: "t1", Message: "second", Fields: map[string]string{"path": "/a b", "status": "200"}},
		{Time: base.Add(1 * time.Second), Node: "n1", App: "shop", Source: "task", Level: "info", Message: "first"},
		{Time: base, Node: "n2", Source: "syslog", Message: "other stream", Fields: map[string]string{"empty": "", "time": "x"}},
		{Time: base.Add(3 * time.Second), Message: "no labels"},
	}
	got := newLokiEncoder(nil).encode(nil, entries)
	ns := func(d time.Duration) string { return strconv.FormatInt(base.Add(d).UnixNano(), 10) }
	want := `{"streams":[` +
		`{"stream":{"app":"shop","level":"info","node":"n1","source":"task"},"values":[["` + ns(time.Second) + `","first"],["` + ns(2*time.Second) + `","second task=t1 path=\"/a b\" status=200"]]},` +
		`{"stream":{"job":"corral"},"values":[["` + ns(3*time.Second) + `","no labels"]]},` +
		`{"stream":{"node":"n2","source":"syslog"},"values":[["` + ns(0) + `","other stream empty=\"\" fields.time=x"]]}]}`
	if string(got) != want {
		t.Errorf("loki body =\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Error("loki body is not valid JSON")
	}

	// Parsed fields as labels, with Loki-safe names.
	e := api.LogEntry{Time: base, Message: "m", Node: "n", Fields: map[string]string{"http.status": "500", "9x": "y"}}
	got = newLokiEncoder([]string{"http.status", "9x"}).encode(nil, []api.LogEntry{e})
	want = `{"streams":[{"stream":{"_x":"y","http_status":"500"},"values":[["` + ns(0) + `","m node=n"]]}]}`
	if string(got) != want {
		t.Errorf("loki body with field labels =\n%s\nwant\n%s", got, want)
	}
}

func TestJSONLines(t *testing.T) {
	a, b := testEntry(), api.LogEntry{Time: t0, Message: "line\nbreak"}
	body := (&jsonLinesEncoder{}).encode(nil, []api.LogEntry{a, b})
	sc := bufio.NewScanner(bytes.NewReader(body))
	var docs []map[string]string
	for sc.Scan() {
		var d map[string]string
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 {
		t.Fatalf("%d lines, want 2", len(docs))
	}
	want := map[string]string{"@timestamp": "2026-11-25T22:30:00.123456789Z", "message": a.Message, "node": "web1", "source": "task",
		"app": "shop/api", "task": "shop-api.1", "stream": "stdout", "level": "error", "status": "500", "http.path": "/a", "fields.message": "m"}
	if !maps.Equal(docs[0], want) {
		t.Errorf("doc 1 = %v\nwant %v", docs[0], want)
	}
	if docs[1]["message"] != "line\nbreak" {
		t.Errorf("doc 2 message = %q", docs[1]["message"])
	}
}

// splitOctetCounted splits RFC 6587 octet-counted frames; a partial last
// frame is left out.
func splitOctetCounted(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			break
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil {
			t.Fatalf("bad frame length at %q", b[:min(len(b), 40)])
		}
		if sp+1+n > len(b) {
			break
		}
		out = append(out, b[sp+1:sp+1+n])
		b = b[sp+1+n:]
	}
	return out
}

func TestSyslogEncoder(t *testing.T) {
	e1 := testEntry()
	e1.Fields = map[string]string{"status": "500", "quote": `a "b" \c ]d`, "a very long field name that is cut": "v", "app": "shadow"}
	e1.Message = "multi\nline message"
	e2 := api.LogEntry{Time: t0, Message: "no node", Level: "verbose"}
	e3 := api.LogEntry{Time: t0, Node: "n", Level: "debug", Message: ""}
	enc := &syslogEncoder{facility: 16, hostname: "srv"}
	frames := splitOctetCounted(t, enc.encode(nil, []api.LogEntry{e1, e2, e3}))
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3", len(frames))
	}
	wantPrefix := `<131>1 2026-11-25T22:30:00.123456Z web1 shop/api shop-api.1 - [corral@32473 source="task" app="shop/api" task="shop-api.1" stream="stdout" `
	if !strings.HasPrefix(string(frames[0]), wantPrefix) {
		t.Errorf("frame 1 = %s\nwant prefix %s", frames[0], wantPrefix)
	}
	p := parse.Syslog{}
	tests := []struct {
		frame []byte
		want  api.LogEntry
	}{
		{frames[0], api.LogEntry{Time: time.Date(2026, 11, 25, 22, 30, 0, 123456000, time.UTC), Level: "error", Message: "multi\nline message",
			Fields: map[string]string{"facility": "local0", "host": "web1", "app_name": "shop/api", "procid": "shop-api.1",
				"sd.corral@32473.source": "task", "sd.corral@32473.app": "shop/api", "sd.corral@32473.task": "shop-api.1",
				"sd.corral@32473.stream": "stdout", "sd.corral@32473.status": "500", "sd.corral@32473.quote": `a "b" \c ]d`,
				"sd.corral@32473.a_very_long_field_name_that_is_c": "v", "sd.corral@32473.fields.app": "shadow"}}},
		{frames[1], api.LogEntry{Time: time.Date(2026, 11, 25, 22, 30, 0, 123456000, time.UTC), Level: "info", Message: "no node",
			Fields: map[string]string{"facility": "local0", "host": "srv", "app_name": "corral", "sd.corral@32473.level": "verbose"}}},
		{frames[2], api.LogEntry{Time: time.Date(2026, 11, 25, 22, 30, 0, 123456000, time.UTC), Level: "debug", Message: "",
			Fields: map[string]string{"facility": "local0", "host": "n", "app_name": "corral"}}},
	}
	for i, tt := range tests {
		var got api.LogEntry
		if err := p.Parse(tt.frame, &got); err != nil {
			t.Errorf("frame %d %q: %v", i+1, tt.frame, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("frame %d %q parses to\n%+v\nwant\n%+v", i+1, tt.frame, got, tt.want)
		}
	}
	if want := "<135>1 2026-11-25T22:30:00.123456Z n corral - - -"; string(frames[2]) != want {
		t.Errorf("frame 3 = %q, want %q", frames[2], want)
	}
}

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, 50 * ms}, {0, 0.999, 99 * ms}, {1, 0, 100 * ms}, {2, 0.5, 300 * ms},
		{5, 0, 1000 * ms}, // 3200 capped at 2000
		{60, 0.5, 1500 * ms}, {1000, 0, 1000 * ms},
	}
	for _, tt := range tests {
		got := backoffDelay(tt.attempt, 100*ms, 2000*ms, tt.r)
		if got.Truncate(ms) != tt.want {
			t.Errorf("backoffDelay(%d, 100ms, 2s, %v) = %v, want %v", tt.attempt, tt.r, got, tt.want)
		}
	}
}

func TestRecordCounts(t *testing.T) {
	var c recordCounts
	c.add(1, 10)
	c.add(3, 30)
	c.add(2, 20) // a concurrent Offer that came in late
	c.add(4, 40)
	if got := c.dropBelow(3); got != 30 {
		t.Errorf("dropBelow(3) = %d, want 30 (seqs 1 and 2)", got)
	}
	c.ack(3)
	if got := c.dropBelow(10); got != 40 {
		t.Errorf("dropBelow(10) after ack(3) = %d, want 40", got)
	}
	if len(c.seqs) != 0 {
		t.Errorf("%d seqs left", len(c.seqs))
	}
}
