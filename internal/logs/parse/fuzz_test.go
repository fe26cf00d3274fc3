package parse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"corral/internal/api"
)

// checkEntry fails when a parser broke its contract on line.
func checkEntry(t *testing.T, line []byte, e *api.LogEntry, err error) {
	t.Helper()
	if !utf8.ValidString(e.Message) || !utf8.ValidString(e.Level) {
		t.Fatalf("invalid UTF-8 in message/level from %q: %q %q", line, e.Message, e.Level)
	}
	for k, v := range e.Fields {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Fatalf("invalid UTF-8 in field from %q: %q=%q", line, k, v)
		}
	}
	if e.Level != "" && Level(e.Level) != e.Level {
		t.Fatalf("level %q from %q is not normalised", e.Level, line)
	}
	if err != nil && e.Message != text(trimEOL(line)) && e.Message != text(bytes.Trim(line, " \t\r\n")) {
		t.Fatalf("error %v but message %q is not the raw line %q", err, e.Message, line)
	}
}

func fuzzParser(f *testing.F, p Parser, seeds []string, extra func(t *testing.T, line []byte, e *api.LogEntry, err error)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var e api.LogEntry
		err := p.Parse(line, &e)
		checkEntry(t, line, &e, err)
		if extra != nil {
			extra(t, line, &e, err)
		}
	})
}

func FuzzParseJSON(f *testing.F) {
	fuzzParser(f, JSON{Location: time.UTC}, []string{
		`{"@timestamp":"2019-11-03T10:15:30.123+01:00","message":"m","level":"INFO","a":{"b":[1,{"c":null}]}}`,
		`{"msg":"a\"b\u00e9\ud83d\ude00","ts":1700000000123,"n":1e6,"x":-0.5E-3}`,
		`{"log":"x\n","time":"2024-01-02T03:04:05Z"}`, `{}`, `{"a":`, `[1]`, "{\"a\":\"\xff\"}", `{"a":{"b":{"c":{}}}}`,
	}, func(t *testing.T, line []byte, e *api.LogEntry, err error) {
		// Independent checks against encoding/json: the line is refused
		// exactly when it is not a valid JSON object, and every top-level
		// string value that is not a message, time or level key is kept as
		// decoded.
		trimmed := bytes.Trim(line, " \t\r\n")
		if valid := json.Valid(trimmed) && len(trimmed) > 0 && trimmed[0] == '{'; valid != (err == nil) {
			t.Fatalf("%q: error %v, but json.Valid says %v", line, err, valid)
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			return
		}
		if err != nil {
			t.Fatalf("valid JSON object %q: %v", line, err)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok || strings.Contains(k, ".") || k == "message" || k == "msg" || k == "log" || k == "@timestamp" ||
				k == "time" || k == "ts" || k == "timestamp" || k == "level" || k == "lvl" || k == "severity" || k == "levelname" {
				continue
			}
			if got, ok := e.Fields[k]; !ok || got != s && !(strings.Contains(s, "\uFFFD")) {
				// Keys that collide with a flattened "a.b" are skipped above.
				t.Fatalf("%q: field %q = %q, %v; encoding/json says %q", line, k, got, ok, s)
			}
		}
	})
}

func FuzzParseCombined(f *testing.F) {
	fuzzParser(f, Combined{}, []string{
		`203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/" "Mozilla/5.0"`,
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
		`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.1" 404 - "-" "x" rt=0.1 u="a b" 0.5 "x`,
	}, func(t *testing.T, line []byte, e *api.LogEntry, err error) {
		if err == nil && (e.Time.IsZero() || len(e.Fields["status"]) != 3 || e.Fields["client_ip"] == "") {
			t.Fatalf("%q parsed without time, status or client: %+v", line, e)
		}
	})
}

func FuzzParseLogfmt(f *testing.F) {
	fuzzParser(f, Logfmt{Location: time.UTC}, []string{
		`at=info method=GET path="/" status=200`, `time=2024-01-02T03:04:05Z level=WARN msg="a \"b\"\n" flag`,
		`a="unterminated`, `=x`, `a=b=c "`,
	}, nil)
}

func FuzzParseSyslog(f *testing.F) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	fuzzParser(f, Syslog{Now: func() time.Time { return now }, Location: time.UTC}, []string{
		`<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed`,
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] ` + "\xEF\xBB\xBFmsg",
		`Feb 29 06:25:01 web1 CRON[12345]: x`, `2024-03-01T12:00:00.123456+01:00 web1 sshd[99]: y`,
		`<13>hello`, `<14>1 - h a - - [x@1 a="q\"b\]c\\d"] m`, `<999>`, `<1>1 `, `<0>`,
	}, nil)
}

func FuzzParseRegex(f *testing.F) {
	p, err := NewRegex(`^(?P<time>\S+) \[(?P<level>\w+)\] (?P<msg>.*)$`, time.UTC)
	if err != nil {
		f.Fatal(err)
	}
	fuzzParser(f, p, []string{"2024-01-02T03:04:05Z [WARN] low disk", "x [y] z", "\xff [\xfe] \xfd"}, nil)
}

func FuzzParseNone(f *testing.F) {
	fuzzParser(f, None{}, []string{"hello", "a\xffb\r\n"}, nil)
}

func FuzzTruncate(f *testing.F) {
	f.Add([]byte("héllo wörld"), 3)
	f.Add([]byte("\xff\xfe\xfd"), 1)
	f.Fuzz(func(t *testing.T, line []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got, cut := Truncate(line, max)
		if !utf8.Valid(got) {
			t.Fatalf("Truncate(%q, %d) = %q: invalid UTF-8", line, max, got)
		}
		if cut != (max > 0 && len(line) > max) {
			t.Fatalf("Truncate(%q, %d) cut = %v", line, max, cut)
		}
		if !cut && !bytes.Equal(got, bytes.ToValidUTF8(line, []byte("\uFFFD"))) {
			t.Fatalf("Truncate(%q, %d) = %q changed an uncut line", line, max, got)
		}
		if cut && !bytes.Contains(got, []byte(Marker)) {
			t.Fatalf("Truncate(%q, %d) = %q without the marker", line, max, got)
		}
	})
}

func FuzzMultiline(f *testing.F) {
	f.Add([]byte("a\n b\n c\nd\n\te"), 2, 10)
	f.Fuzz(func(t *testing.T, in []byte, maxLines, maxBytes int) {
		m := &Multiline{Start: regexp.MustCompile(`^\S`), MaxLines: maxLines % 50, MaxBytes: maxBytes % 4096}
		lines := bytes.Split(in, []byte("\n"))
		var events [][]byte
		for _, l := range lines {
			events = append(events, m.Feed(l)...)
		}
		if ev := m.Flush(); ev != nil {
			events = append(events, ev)
		}
		// Joining the events gives the input back: nothing lost or added.
		if got := bytes.Join(events, []byte("\n")); !bytes.Equal(got, in) {
			t.Fatalf("events %q join to %q, want %q", events, got, in)
		}
	})
}

func FuzzSplitSyslog(f *testing.F) {
	f.Add([]byte("57 <13>1 2024-05-06T07:08:09Z h a - - - one\nwith a newl\n<13>x\r\n\n9 <14>abcde"), 16)
	f.Add([]byte("0123456789abcdefghij\nshort\n0123456789ab"), 10)
	f.Add([]byte("99999999999 <1"), 8)
	f.Fuzz(func(t *testing.T, stream []byte, max int) {
		if max <= 0 || max > 1<<12 {
			return
		}
		scan := func(r interface{ Read([]byte) (int, error) }) []string {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 16), max+16)
			sc.Split(SplitSyslog(max))
			var got []string
			for sc.Scan() {
				if n := len(sc.Bytes()); n > max+len(Marker)+30 {
					t.Fatalf("token of %d bytes with max %d", n, max)
				}
				got = append(got, sc.Text())
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("scan %q: %v", stream, err)
			}
			return got
		}
		whole := scan(bytes.NewReader(stream))
		bytewise := scan(iotest.OneByteReader(bytes.NewReader(stream)))
		if strings.Join(whole, "\x00") != strings.Join(bytewise, "\x00") {
			t.Fatalf("stream %q: frames depend on read sizes:\n%q\n%q", stream, whole, bytewise)
		}
	})
}
