package parse

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"corral/internal/api"
)

// parseCase is one line and the entry a parser should make of it.
type parseCase struct {
	name    string
	line    string
	want    api.LogEntry
	wantErr bool
}

func runCases(t *testing.T, p Parser, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e api.LogEntry
			err := p.Parse([]byte(tc.line), &e)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse(%q) error = %v, want error %v", tc.line, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if !e.Time.Equal(tc.want.Time) {
				t.Errorf("Time = %v, want %v", e.Time, tc.want.Time)
			}
			e.Time, tc.want.Time = time.Time{}, time.Time{}
			if len(e.Fields) == 0 {
				e.Fields = nil
			}
			if !reflect.DeepEqual(e, tc.want) {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tc.line, e, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, name := range []string{"json", "combined", "logfmt", "syslog", "none", ""} {
		if _, err := New(name, Options{}); err != nil {
			t.Errorf("New(%q): %v", name, err)
		}
	}
	if got, want := Names(), []string{"combined", "json", "logfmt", "none", "regex", "syslog"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, tc := range []struct{ name, pattern string }{
		{"nginx", ""},
		{"regex", ""},
		{"regex", "(a)(b)"},
		{"regex", "(?P<x>"},
	} {
		if _, err := New(tc.name, Options{Pattern: tc.pattern}); err == nil {
			t.Errorf("New(%q, %q) succeeded, want an error", tc.name, tc.pattern)
		}
	}
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"INFO", "info"}, {"info", "info"}, {"WARNING", "warn"}, {"warn", "warn"}, {"W", "warn"},
		{"ERR", "error"}, {"Error", "error"}, {"FATAL", "crit"}, {"CRITICAL", "crit"},
		{"TRACE", "debug"}, {"DEBUG", "debug"}, {"notice", "notice"}, {"alert", "alert"},
		{"EMERG", "emerg"}, {"emergency", "emerg"}, {" info ", "info"},
		{"0", "emerg"}, {"3", "error"}, {"7", "debug"}, {"30", "info"}, {"50", "error"}, {"60", "crit"},
		{"8", ""}, {"verbose-ish", ""}, {"", ""}, {"200", ""},
	} {
		if got := Level(tc.in); got != tc.want {
			t.Errorf("Level(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := SeverityLevel(4); got != "warn" {
		t.Errorf("SeverityLevel(4) = %q, want warn", got)
	}
}

func TestJSON(t *testing.T) {
	runCases(t, JSON{Location: time.UTC}, []parseCase{
		{
			name: "logback logstash-encoder",
			line: `{"@timestamp":"2019-11-03T10:15:30.123+01:00","@version":"1","message":"Started Application in 3.2 seconds","logger_name":"com.example.App","thread_name":"main","level":"INFO","level_value":20000}`,
			want: api.LogEntry{
				Time: time.Date(2019, 11, 3, 9, 15, 30, 123e6, time.UTC), Level: "info",
				Message: "Started Application in 3.2 seconds",
				Fields:  map[string]string{"@version": "1", "logger_name": "com.example.App", "thread_name": "main", "level_value": "20000"},
			},
		},
		{
			name: "rails lograge without a message",
			line: `{"method":"GET","path":"/users/1","format":"html","controller":"UsersController","action":"show","status":200,"duration":58.33,"view":40.43,"db":15.26}`,
			want: api.LogEntry{
				Message: `{"method":"GET","path":"/users/1","format":"html","controller":"UsersController","action":"show","status":200,"duration":58.33,"view":40.43,"db":15.26}`,
				Fields: map[string]string{"method": "GET", "path": "/users/1", "format": "html", "controller": "UsersController",
					"action": "show", "status": "200", "duration": "58.33", "view": "40.43", "db": "15.26"},
			},
		},
		{
			name: "nested, arrays, exponents, escapes, unix millis",
			line: ` {"time":1700000000123,"msg":"a \"quoted\" \u00e9","http":{"req":{"method":"POST"},"status":500,"empty":{}},"tags":[ "a", 1, {"b" : null} ],"n":1e6,"big":-2.5E+3,"f":1.5e-3,"x":null,"ok":true,"no":false,"lvl":"ERR"}` + "\r\n",
			want: api.LogEntry{
				Time: time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC), Level: "error", Message: `a "quoted" é`,
				Fields: map[string]string{"http.req.method": "POST", "http.status": "500", "tags": `["a",1,{"b":null}]`,
					"n": "1000000", "big": "-2500", "f": "1.5e-3", "ok": "true", "no": "false"},
			},
		},
		{
			name: "docker json-file",
			line: `{"log":"GET /health 200\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`,
			want: api.LogEntry{Time: time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), Message: "GET /health 200",
				Fields: map[string]string{"stream": "stdout"}},
		},
		{
			name: "bunyan numeric level, unix seconds with fraction",
			line: `{"name":"app","hostname":"h1","pid":7,"level":30,"msg":"hi","ts":1700000000.5,"v":0}`,
			want: api.LogEntry{Time: time.Date(2023, 11, 14, 22, 13, 20, 5e8, time.UTC), Level: "info", Message: "hi",
				Fields: map[string]string{"name": "app", "hostname": "h1", "pid": "7", "v": "0"}},
		},
		{
			name: "unparsable time and level stay fields",
			line: `{"message":"m","timestamp":"yesterday","severity":"loud"}`,
			want: api.LogEntry{Message: "m", Fields: map[string]string{"timestamp": "yesterday", "severity": "loud"}},
		},
		{
			name: "zone-less time in the given location, python style",
			line: `{"timestamp":"2024-05-06 07:08:09,250","levelname":"WARNING","message":"slow"}`,
			want: api.LogEntry{Time: time.Date(2024, 5, 6, 7, 8, 9, 250e6, time.UTC), Level: "warn", Message: "slow"},
		},
		{name: "broken JSON", line: `{"a":1,"msg":"x"`, wantErr: true, want: api.LogEntry{Message: `{"a":1,"msg":"x"`}},
		{name: "array", line: `[1,2]`, wantErr: true, want: api.LogEntry{Message: `[1,2]`}},
		{name: "plain text", line: "hello\n", wantErr: true, want: api.LogEntry{Message: "hello"}},
		{name: "invalid UTF-8 kept valid", line: "{\"msg\":\"a\xffb\"}", want: api.LogEntry{Message: "a\uFFFDb"}},
	})
}

func TestCombined(t *testing.T) {
	const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0"
	runCases(t, Combined{}, []parseCase{
		{
			name: "nginx combined",
			line: `203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/" "` + ua + `"`,
			want: api.LogEntry{Time: time.Date(2023, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/" "` + ua + `"`,
				Fields: map[string]string{"client_ip": "203.0.113.9", "method": "GET", "path": "/index.html?q=1", "protocol": "HTTP/1.1",
					"status": "200", "bytes": "612", "referrer": "https://example.com/", "user_agent": ua}},
		},
		{
			name: "nginx with rt= and upstream times",
			line: `2001:db8::1 - alice [01/Feb/2024:00:00:01 +0100] "POST /api/v1/logs HTTP/2.0" 502 157 "-" "curl/8.4.0" rt=0.123 uct="0.000" urt="-"` + "\n",
			want: api.LogEntry{Time: time.Date(2024, 1, 31, 23, 0, 1, 0, time.UTC),
				Message: `2001:db8::1 - alice [01/Feb/2024:00:00:01 +0100] "POST /api/v1/logs HTTP/2.0" 502 157 "-" "curl/8.4.0" rt=0.123 uct="0.000" urt="-"`,
				Fields: map[string]string{"client_ip": "2001:db8::1", "user": "alice", "method": "POST", "path": "/api/v1/logs", "protocol": "HTTP/2.0",
					"status": "502", "bytes": "157", "user_agent": "curl/8.4.0", "request_time": "0.123", "uct": "0.000"}},
		},
		{
			name: "bare request time after the agent",
			line: `10.0.0.5 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 304 0 "-" "curl/7.88.1" 0.004`,
			want: api.LogEntry{Time: time.Date(2023, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `10.0.0.5 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 304 0 "-" "curl/7.88.1" 0.004`,
				Fields: map[string]string{"client_ip": "10.0.0.5", "method": "GET", "path": "/", "protocol": "HTTP/1.1",
					"status": "304", "bytes": "0", "user_agent": "curl/7.88.1", "request_time": "0.004"}},
		},
		{
			name: "nginx main format with X-Forwarded-For",
			line: `10.0.0.5 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0" "198.51.100.1, 10.0.0.1"`,
			want: api.LogEntry{Time: time.Date(2023, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `10.0.0.5 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0" "198.51.100.1, 10.0.0.1"`,
				Fields: map[string]string{"client_ip": "10.0.0.5", "method": "GET", "path": "/", "protocol": "HTTP/1.1",
					"status": "200", "bytes": "5", "user_agent": "curl/8.0", "x_forwarded_for": "198.51.100.1, 10.0.0.1"}},
		},
		{
			name: "apache common",
			line: `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
			want: api.LogEntry{Time: time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC),
				Message: `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
				Fields: map[string]string{"client_ip": "127.0.0.1", "user": "frank", "method": "GET", "path": "/apache_pb.gif",
					"protocol": "HTTP/1.0", "status": "200", "bytes": "2326"}},
		},
		{
			name: "apache escaped quote, no body",
			line: `192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET /a\"b HTTP/1.1" 404 - "-" "x \\ y"`,
			want: api.LogEntry{Time: time.Date(2000, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET /a\"b HTTP/1.1" 404 - "-" "x \\ y"`,
				Fields: map[string]string{"client_ip": "192.0.2.7", "method": "GET", "path": `/a"b`, "protocol": "HTTP/1.1",
					"status": "404", "bytes": "0", "user_agent": `x \ y`}},
		},
		{
			name: "TLS handshake on the plain port, as nginx logs it",
			line: `192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
			want: api.LogEntry{Time: time.Date(2023, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-"`,
				Fields: map[string]string{"client_ip": "192.0.2.1", "request": `\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03`,
					"status": "400", "bytes": "157"}},
		},
		{
			name: "a space in the path",
			line: `192.0.2.8 - - [10/Oct/2023:13:55:36 +0000] "GET /a b HTTP/1.1" 400 150 "-" "-"`,
			want: api.LogEntry{Time: time.Date(2023, 10, 10, 13, 55, 36, 0, time.UTC),
				Message: `192.0.2.8 - - [10/Oct/2023:13:55:36 +0000] "GET /a b HTTP/1.1" 400 150 "-" "-"`,
				Fields: map[string]string{"client_ip": "192.0.2.8", "method": "GET", "path": "/a b", "protocol": "HTTP/1.1",
					"status": "400", "bytes": "150"}},
		},
		{name: "not an access log", line: "hello world", wantErr: true, want: api.LogEntry{Message: "hello world"}},
		{name: "bad time", line: `1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 1`, wantErr: true,
			want: api.LogEntry{Message: `1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 1`}},
		{name: "bad status", line: `1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 1`, wantErr: true,
			want: api.LogEntry{Message: `1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 1`}},
	})
}

func TestLogfmt(t *testing.T) {
	const heroku = `at=info method=GET path="/" host=myapp.herokuapp.com request_id=c1f5d9f3-1b0b-4b8c-9d1e-4e2e1c3d2b1a fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https`
	runCases(t, Logfmt{Location: time.UTC}, []parseCase{
		{
			name: "heroku router",
			line: heroku,
			want: api.LogEntry{Level: "info", Message: heroku, Fields: map[string]string{"method": "GET", "path": "/",
				"host": "myapp.herokuapp.com", "request_id": "c1f5d9f3-1b0b-4b8c-9d1e-4e2e1c3d2b1a", "fwd": "204.204.204.204",
				"dyno": "web.1", "connect": "1ms", "service": "18ms", "status": "200", "bytes": "13", "protocol": "https"}},
		},
		{
			name: "slog text handler",
			line: `time=2024-01-02T03:04:05.000+01:00 level=WARN msg="disk almost full" pct=91.5 path=/var`,
			want: api.LogEntry{Time: time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC), Level: "warn", Message: "disk almost full",
				Fields: map[string]string{"pct": "91.5", "path": "/var"}},
		},
		{
			name: "escapes and a bare key",
			line: `msg="say \"hi\"\nbye" flag  empty= x="a=b"`,
			want: api.LogEntry{Message: "say \"hi\"\nbye", Fields: map[string]string{"flag": "true", "empty": "", "x": "a=b"}},
		},
		{name: "plain text", line: "just some text", wantErr: true, want: api.LogEntry{Message: "just some text"}},
		{name: "unterminated quote", line: `a="b`, wantErr: true, want: api.LogEntry{Message: `a="b`}},
	})
}

func TestSyslog(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Syslog{Now: func() time.Time { return now }, Location: time.UTC}
	runCases(t, p, []parseCase{
		{
			name: "rfc3164 with PRI, year before now",
			line: `<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8`,
			want: api.LogEntry{Time: time.Date(2023, 10, 11, 22, 14, 15, 0, time.UTC), Level: "crit",
				Message: "'su root' failed for lonvick on /dev/pts/8",
				Fields:  map[string]string{"facility": "auth", "host": "mymachine", "app_name": "su", "procid": "123"}},
		},
		{
			name: "rsyslog traditional file format, this year",
			line: "Feb 29 06:25:01 web1 CRON[12345]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)\n",
			want: api.LogEntry{Time: time.Date(2024, 2, 29, 6, 25, 1, 0, time.UTC),
				Message: "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
				Fields:  map[string]string{"host": "web1", "app_name": "CRON", "procid": "12345"}},
		},
		{
			name: "space-padded day, tag without pid",
			line: `Mar  1 00:00:00 host kernel: [    0.000000] Linux version 6.1.0`,
			want: api.LogEntry{Time: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), Message: "[    0.000000] Linux version 6.1.0",
				Fields: map[string]string{"host": "host", "app_name": "kernel"}},
		},
		{
			name: "rfc3164 without host",
			line: `<13>Mar  5 10:00:00 myapp[7]: started`,
			want: api.LogEntry{Time: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC), Level: "notice", Message: "started",
				Fields: map[string]string{"facility": "user", "app_name": "myapp", "procid": "7"}},
		},
		{
			name: "rsyslog high-precision file format",
			line: `2024-03-01T12:00:00.123456+01:00 web1 sshd[99]: Accepted publickey for root`,
			want: api.LogEntry{Time: time.Date(2024, 3, 1, 11, 0, 0, 123456000, time.UTC), Message: "Accepted publickey for root",
				Fields: map[string]string{"host": "web1", "app_name": "sshd", "procid": "99"}},
		},
		{
			name: "rfc5424 example with BOM",
			line: "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry...",
			want: api.LogEntry{Time: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC), Level: "notice",
				Message: "An application event log entry...",
				Fields: map[string]string{"facility": "local4", "host": "mymachine.example.com", "app_name": "evntslog", "msgid": "ID47",
					"sd.exampleSDID@32473.iut": "3", "sd.exampleSDID@32473.eventSource": "Application", "sd.exampleSDID@32473.eventID": "1011"}},
		},
		{
			name: "rsyslog RSYSLOG_SyslogProtocol23Format",
			line: `<13>1 2024-05-06T07:08:09.123456+02:00 web1 myapp 4242 - [meta sequenceId="1"][origin ip="10.0.0.1"] hello world`,
			want: api.LogEntry{Time: time.Date(2024, 5, 6, 5, 8, 9, 123456000, time.UTC), Level: "notice", Message: "hello world",
				Fields: map[string]string{"facility": "user", "host": "web1", "app_name": "myapp", "procid": "4242",
					"sd.meta.sequenceId": "1", "sd.origin.ip": "10.0.0.1"}},
		},
		{
			name: "rfc5424 nil values and no message",
			line: `<14>1 2024-05-06T07:08:09Z host app - - -`,
			want: api.LogEntry{Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), Level: "info",
				Fields: map[string]string{"facility": "user", "host": "host", "app_name": "app"}},
		},
		{
			name: "rfc5424 escapes in a param value, nil time",
			line: `<14>1 - host app - - [x@1 a="q\"b\]c\\d"] m`,
			want: api.LogEntry{Level: "info", Message: "m",
				Fields: map[string]string{"facility": "user", "host": "host", "app_name": "app", "sd.x@1.a": `q"b]c\d`}},
		},
		{
			name: "PRI without a timestamp",
			line: `<13>hello`,
			want: api.LogEntry{Level: "notice", Message: "hello", Fields: map[string]string{"facility": "user"}},
		},
		{name: "garbage", line: "hello", wantErr: true, want: api.LogEntry{Message: "hello"}},
		{name: "bad PRI", line: "<999>x", wantErr: true, want: api.LogEntry{Message: "<999>x"}},
		{name: "5424 bad time", line: "<13>1 yesterday h a - - - m", wantErr: true, want: api.LogEntry{Message: "<13>1 yesterday h a - - - m"}},
		{name: "5424 broken SD", line: `<13>1 - h a - - [x a="b] m`, wantErr: true, want: api.LogEntry{Message: `<13>1 - h a - - [x a="b] m`}},
	})
}

func TestSyslogYearAcrossNewYear(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC)
	p := Syslog{Now: func() time.Time { return now }, Location: time.UTC}
	for _, tc := range []struct {
		line string
		want time.Time
	}{
		{"Dec 31 23:59:59 h a: m", time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Jan  1 00:00:10 h a: m", time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)},
		{"Jan  7 00:00:00 h a: m", time.Date(2025, 1, 7, 0, 0, 0, 0, time.UTC)},
		{"Jan  9 00:00:00 h a: m", time.Date(2024, 1, 9, 0, 0, 0, 0, time.UTC)},
	} {
		var e api.LogEntry
		if err := p.Parse([]byte(tc.line), &e); err != nil || !e.Time.Equal(tc.want) {
			t.Errorf("Parse(%q) time = %v, %v; want %v", tc.line, e.Time, err, tc.want)
		}
	}
}

func TestRegex(t *testing.T) {
	p, err := New("regex", Options{Pattern: `^(?P<time>\S+) \[(?P<level>\w+)\] (?P<logger>[\w.]+): (?P<msg>.*)$`, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, p, []parseCase{
		{
			name: "all groups",
			line: "2024-01-02T03:04:05Z [WARN] app.db: low disk",
			want: api.LogEntry{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Level: "warn", Message: "low disk",
				Fields: map[string]string{"logger": "app.db"}},
		},
		{
			name: "unknown level kept as a field",
			line: "2024-01-02T03:04:05+02:00 [LOUD] x: y",
			want: api.LogEntry{Time: time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC), Message: "y",
				Fields: map[string]string{"logger": "x", "level": "LOUD"}},
		},
		{name: "no match", line: "nothing here", wantErr: true, want: api.LogEntry{Message: "nothing here"}},
	})
}

func TestNone(t *testing.T) {
	runCases(t, None{}, []parseCase{
		{name: "line", line: "anything at all\r\n", want: api.LogEntry{Message: "anything at all"}},
		{name: "invalid UTF-8", line: "a\xc3(b", want: api.LogEntry{Message: "a\uFFFD(b"}},
	})
}
