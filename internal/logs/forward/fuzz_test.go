package forward

import (
	"strings"
	"testing"
	"unicode/utf8"

	"corral/internal/api"
	"corral/internal/logs/parse"
)

// FuzzSyslogRoundTrip encodes an entry as RFC 5424 and reads it back with
// Corral's syslog parser: the message and a field's value come back as they
// were.
func FuzzSyslogRoundTrip(f *testing.F) {
	f.Add("hello", `v "q" \ ]`, "warn")
	f.Add("multi\nline", "", "")
	f.Add("", "]]]", "verbose")
	f.Fuzz(func(t *testing.T, msg, value, level string) {
		if !utf8.ValidString(msg) || !utf8.ValidString(value) || strings.HasPrefix(msg, "\uFEFF") ||
			strings.HasSuffix(msg, "\n") || strings.HasSuffix(msg, "\r") {
			t.Skip("the parser normalises these on purpose")
		}
		e := api.LogEntry{Time: t0, Node: "n", Level: level, Message: msg, Fields: map[string]string{"k": value}}
		enc := &syslogEncoder{facility: 1}
		frames := splitOctetCounted(t, enc.encode(nil, []api.LogEntry{e}))
		if len(frames) != 1 {
			t.Fatalf("%d frames", len(frames))
		}
		var got api.LogEntry
		if err := (parse.Syslog{}).Parse(frames[0], &got); err != nil {
			t.Fatalf("parse %q: %v", frames[0], err)
		}
		if got.Message != msg || got.Fields["sd."+SDID+".k"] != value {
			t.Fatalf("%q parses to message %q, k %q; want %q, %q", frames[0], got.Message, got.Fields["sd."+SDID+".k"], msg, value)
		}
		if _, known := severity(level); known && got.Level != level {
			t.Fatalf("level %q came back as %q", level, got.Level)
		}
	})
}

// FuzzParseBulkResponse checks that any answer is read without a panic and
// that every document ends up in at most one list.
func FuzzParseBulkResponse(f *testing.F) {
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":429}},{"create":{"status":400,"error":{"type":"x","reason":"y"}}}]}`), 2)
	f.Add([]byte(`{"errors":false}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		v, err := parseBulkResponse(body, n)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for _, i := range append(v.Retry, v.Rejected...) {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("index %d twice or out of range %d", i, n)
			}
			seen[i] = true
		}
	})
}
