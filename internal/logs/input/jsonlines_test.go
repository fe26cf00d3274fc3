package input

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"corral/internal/logs/parse"
)

func TestJSONLines(t *testing.T) {
	// What Logstash's tcp output with the json_lines codec writes.
	logstash := `{"@timestamp":"2024-03-01T12:00:00.123Z","@version":"1","message":"hello","host":{"name":"web1"},"level":"ERROR","http":{"response":{"status_code":500}},"tags":["x","y"]}`
	tests := []struct {
		name      string
		writes    []string
		max       int
		want      []want
		malformed uint64
		truncated uint64
	}{
		{
			name:   "logstash json_lines",
			writes: []string{logstash + "\n"},
			want: []want{{Time: time.Date(2024, 3, 1, 12, 0, 0, 123e6, time.UTC), Level: "error", Message: "hello",
				Fields: map[string]string{"@version": "1", "host.name": "web1", "http.response.status_code": "500",
					"tags": `["x","y"]`, "peer": "127.0.0.1", "message": "<absent>", "level": "<absent>", "@timestamp": "<absent>"}}},
		},
		{
			name:   "split writes, CRLF, blank lines, last line without LF",
			writes: []string{`{"msg":"a","lvl":"warn"`, "}\r\n\r\n\n{\"msg\":", `"b"}` + "\n" + `{"log":"c\n","time":"2024-01-02T03:04:05Z"}`},
			want: []want{
				{Time: fixedNow, Level: "warn", Message: "a"},
				{Time: fixedNow, Message: "b"},
				{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Message: "c"},
			},
		},
		{
			name:      "broken JSON kept as the message",
			writes:    []string{`{"message": "oops` + "\n" + "plain text\n" + `{"message":"ok"}` + "\n"},
			want:      []want{{Time: fixedNow, Message: `{"message": "oops`}, {Time: fixedNow, Message: "plain text"}, {Time: fixedNow, Message: "ok"}},
			malformed: 2,
		},
		{
			name:   "invalid UTF-8 replaced",
			writes: []string{"{\"message\":\"caf\xe9\",\"k\xff\":\"v\"}\n"},
			want:   []want{{Time: fixedNow, Message: "caf\uFFFD", Fields: map[string]string{"k\uFFFD": "v"}}},
		},
		{
			name:      "over-long line cut and marked",
			max:       64,
			writes:    []string{`{"message":"` + repeat("z", 100) + `"}` + "\n" + `{"message":"next"}` + "\n"},
			want:      []want{{Time: fixedNow, Message: `{"message":"` + repeat("z", 52) + string(parse.AppendMarker(nil, 114-64))}, {Time: fixedNow, Message: "next"}},
			malformed: 1, truncated: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			j := &JSONLines{Addr: "127.0.0.1:0", Node: "n1", Sink: c.sink, Now: clock, Location: time.UTC, MaxMessage: tt.max}
			addr := start(t, j)
			conn := dial(t, addr)
			for _, w := range tt.writes {
				if _, err := conn.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // separate segments; correctness does not depend on it
			}
			conn.Close()
			got := c.wait(t, len(tt.want))
			for i, w := range tt.want {
				checkEntry(t, i, got[i], w, "n1", "json")
			}
			st := j.Stats()
			if st.Malformed != tt.malformed || st.Truncated != tt.truncated || st.Received != uint64(len(tt.want)) {
				t.Errorf("stats %+v, want %d received, %d malformed, %d truncated", st, len(tt.want), tt.malformed, tt.truncated)
			}
		})
	}
}

// TestJSONLinesTenMB sends a 10 MB line between two good ones.
func TestJSONLinesTenMB(t *testing.T) {
	var c collector
	j := &JSONLines{Addr: "127.0.0.1:0", Sink: c.sink, Now: clock}
	addr := start(t, j)
	conn := dial(t, addr)
	const size = 10 << 20
	go func() {
		w := bufio.NewWriter(conn)
		w.WriteString(`{"message":"first"}` + "\n" + `{"message":"`)
		w.WriteString(repeat("q", size-len(`{"message":"`)-len(`"}`)))
		w.WriteString(`"}` + "\n" + `{"message":"last"}` + "\n")
		w.Flush()
		conn.Close()
	}()
	got := c.wait(t, 3)
	if got[0].Message != "first" || got[2].Message != "last" {
		t.Errorf("messages %q, %q", got[0].Message, got[2].Message)
	}
	wantMid := `{"message":"` + repeat("q", DefaultMaxJSONLine-len(`{"message":"`)) + string(parse.AppendMarker(nil, size-DefaultMaxJSONLine))
	if got[1].Message != wantMid {
		t.Errorf("10 MB line: message of %d bytes ending %q, want %d bytes", len(got[1].Message), got[1].Message[len(got[1].Message)-40:], len(wantMid))
	}
	if st := j.Stats(); st.Truncated != 1 || st.Malformed != 1 || st.Bytes != uint64(len(`{"message":"first"}`+"\n")+size+len("\n"+`{"message":"last"}`+"\n")) {
		t.Errorf("stats %+v", st)
	}
}

// TestSplitLines checks the splitter against a plain reading of the lines.
func TestSplitLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"lines", "a\nbb\r\n\n\r\nccc", 10, []string{"a", "bb", "ccc"}},
		{"exactly max", "abcd\nabcde\n", 4, []string{"abcd", "abcd" + string(parse.AppendMarker(nil, 1))}},
		{"max with CR", "abcd\r\n", 4, []string{"abcd"}},
		{"long last line", "x\n" + repeat("y", 10), 4, []string{"x", "yyyy" + string(parse.AppendMarker(nil, 6))}},
		{"cut inside a rune", "aaéé\n", 3, []string{"aa" + string(parse.AppendMarker(nil, 4))}},
		{"CR only inside", "a\rb\n", 10, []string{"a\rb"}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 1 << 20} {
			var got []string
			sc := bufio.NewScanner(&chunkReader{s: tt.in, n: chunk})
			sc.Buffer(make([]byte, 0, 4), tt.max+2)
			sc.Split(SplitLines(tt.max))
			for sc.Scan() {
				got = append(got, sc.Text())
			}
			if sc.Err() != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("%s, reads of %d: %q, %v; want %q", tt.name, chunk, got, sc.Err(), tt.want)
			}
		}
	}
}

// chunkReader returns s n bytes at a time.
type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[n:]
	return n, nil
}

// TestJSONLinesRoundTrip writes entries as encoding/json does and checks
// the strings come back.
func TestJSONLinesRoundTrip(t *testing.T) {
	var c collector
	j := &JSONLines{Addr: "127.0.0.1:0", Sink: c.sink, Now: clock}
	addr := start(t, j)
	conn := dial(t, addr)
	msgs := []string{"plain", "with \"quotes\" and \\", "tab\there", "unicode ✓ 日本", "<script>&</script>", "\u2028"}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range msgs {
		enc.Encode(map[string]any{"message": m, "n": 1})
	}
	conn.Write(buf.Bytes())
	conn.Close()
	got := c.wait(t, len(msgs))
	for i, m := range msgs {
		if got[i].Message != m || got[i].Fields["n"] != "1" {
			t.Errorf("entry %d: %q %v, want %q", i, got[i].Message, got[i].Fields, m)
		}
	}
}
