package query

import (
	"errors"
	"testing"
	"time"

	"corral/internal/api"
)

func TestParseTree(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"issue example", `app:shop/api level:error status>=500 "timeout" -path:/health`,
			`(app:shop/api level:error status>=500 "timeout" -path:/health)`},
		{"single term", `status:500`, `status:500`},
		{"or binds looser", `a OR b c`, `(a OR (b c))`},
		{"parens", `(a OR b) c`, `((a OR b) c)`},
		{"explicit and", `a AND b`, `(a b)`},
		{"negated group", `-(a OR level:warn)`, `-(a OR level:warn)`},
		{"quoted value", `path:"/a b"`, `path:"/a b"`},
		{"glob", `app:shop/*`, `app:shop/*`},
		{"message field is full text", `message:"upstream timed out"`, `"upstream timed out"`},
		{"bare word of many words is a phrase", `10.0.0.1`, `"10.0.0.1"`},
		{"comparisons", `a>1 b<2 c<=3 d>=x`, `(a>1 b<2 c<=3 d>=x)`},
		{"lower-case or is a word", `a or b`, `(a or b)`},
		{"word glob", `time*`, `time*`},
		{"dotted field", `req.id:7`, `req.id:7`},
		{"escaped quote", `"say \"hi\""`, `"say \"hi\""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Root.String(); got != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`app:shop status>=`, `query: col 18: expected a value after "status>="`},
		{`level:`, `query: col 7: expected a value after "level:"`},
		{`(a OR b`, `query: col 1: "(" is not closed`},
		{`a )`, `query: col 3: unexpected ")"`},
		{`"abc`, `query: col 1: quoted string is not closed`},
		{`a - b`, `query: col 3: expected a term after "-"`},
		{`OR a`, `query: col 1: expected a term before OR`},
		{`a OR`, `query: col 5: expected a term`},
		{`time>=yesterday`, `query: col 7: expected an RFC 3339 time after "time>="`},
		{`time:5`, `query: col 1: time takes a comparison (time>=2026-11-25T16:00:00Z)`},
		{`a ()`, `query: col 4: expected a term after "("`},
		{`"..."`, `query: col 1: "..." has no words to search for`},
		{`a/b*`, `query: col 1: a glob matches within one word: "a/b*"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want %s", tt.in, tt.want)
			}
			var qe *Error
			if !errors.As(err, &qe) {
				t.Errorf("error %T is not *Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error = %q, want %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	ts := time.Date(2026, 11, 25, 16, 30, 0, 0, time.UTC)
	e := &api.LogEntry{
		Time: ts, Node: "n1", Source: "file:/var/log/nginx/access.log", App: "shop/api", Task: "t-1",
		Stream: "stdout", Level: "error",
		Message: `10.1.2.3 - - "GET /health HTTP/1.1" 502 Upstream Timed-Out while reading`,
		Fields:  map[string]string{"status": "502", "path": "/health", "bytes": "1200", "ua": "curl"},
	}
	tests := []struct {
		q    string
		want bool
	}{
		{``, true},
		{`app:shop/api`, true},
		{`app:shop`, false},
		{`app:shop/*`, true},
		{`app:*/api`, true},
		{`app:*`, true},
		{`stream:*`, true},
		{`missing:*`, false},
		{`-missing:*`, true},
		{`status:502`, true},
		{`status:50`, false},
		{`status>=500`, true},
		{`status>502`, false},
		{`status<=502`, true},
		{`status<1000`, true},  // numeric: "502" < "1000" as strings would be false
		{`bytes>999`, true},    // numeric, where strings compare the other way
		{`ua>=cat`, true},      // string comparison
		{`ua<abc`, false},      // string comparison
		{`missing>=1`, false},  // missing field
		{`timeout`, false},     // "Timed-Out" is two words
		{`timed`, true},        // case-insensitive word
		{`TIMED`, true},        //
		{`time*`, true},        // glob within a word
		{`tim`, false},         // words, not substrings
		{`"timed out"`, true},  // phrase across punctuation
		{`"out timed"`, false}, // order matters
		{`"upstream timed out while"`, true},
		{`"10.1.2.3"`, true},
		{`10.1.2.4`, false},
		{`level:error -path:/health`, false},
		{`level:error -path:/login`, true},
		{`level:warn OR status:502`, true},
		{`(level:warn OR status:500) app:shop/api`, false},
		{`-(level:warn OR status:500)`, true},
		{`time>=2026-11-25T16:00:00Z`, true},
		{`time>2026-11-25T16:30:00Z`, false},
		{`time<=2026-11-25T16:30:00Z`, true},
		{`node:n1 task:t-1 source:file:/var/log/nginx/access.log`, true},
		{`message:upstream`, true},
		{`path:"/health"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			q, err := Parse(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(q, e); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if !Match(nil, e) {
		t.Error("Match(nil) = false, want true")
	}
}

func TestAppendWords(t *testing.T) {
	got := AppendWords(nil, `GET /api/v1/Users?id=7 "Ünïcode" ÄB-c`)
	want := []string{"get", "api", "v1", "users", "id", "7", "ünïcode", "äb", "c"}
	if len(got) != len(want) {
		t.Fatalf("AppendWords = %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("AppendWords = %q, want %q", got, want)
		}
	}
}

func TestEachWordAgreesWithAppendWords(t *testing.T) {
	for _, s := range []string{`GET /api/v1/Users?id=7 "Ünïcode" ÄB-c`, "", "--", "a", "x\xffy", "ÀÉ 12"} {
		want := AppendWords(nil, s)
		var got []string
		EachWord(s, nil, func(w []byte) { got = append(got, string(w)) })
		if len(got) != len(want) {
			t.Fatalf("EachWord(%q) = %q, want %q", s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("EachWord(%q) = %q, want %q", s, got, want)
			}
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "abbbc", true},
		{"a*c", "abcd", false}, {"a*b*c", "axbxc", true}, {"a*b*c", "axcxb", false},
		{"abc", "abc", true}, {"abc", "ab", false}, {"**a", "ba", true},
	}
	for _, tt := range tests {
		if got := Glob(tt.p, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

// FuzzParse checks that the parser never panics, that errors carry a column
// inside the input, and that a parsed tree prints as a query that parses to
// the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`app:shop/api level:error status>=500 "timeout" -path:/health`,
		`(a OR b) -c`, `"x \" y"`, `time>=2026-11-25T16:00:00Z`, `a AND (b OR -(c d))`, `x:* y:a*b`,
	} {
		f.Add(s)
	}
	e := &api.LogEntry{Message: "a b c timeout", App: "shop/api", Fields: map[string]string{"status": "500"}}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) || qe.Col < 1 || qe.Col > len(s)+1 {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		Match(q, e)
		if q.Root == nil {
			return
		}
		printed := q.Root.String()
		q2, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) printed as %q which does not parse: %v", s, printed, err)
		}
		if q2.Root.String() != printed {
			t.Fatalf("Parse(%q): %q reparses as %q", s, printed, q2.Root.String())
		}
	})
}

// FuzzEachWord checks that the index's word cutter agrees with AppendWords.
func FuzzEachWord(f *testing.F) {
	for _, s := range []string{`GET /api/v1/Users?id=7 "Ünïcode" ÄB-c`, "x\xffy", "ÀÉ 12", "İstanbul ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := AppendWords(nil, s)
		i := 0
		EachWord(s, nil, func(w []byte) {
			if i >= len(want) || string(w) != want[i] {
				t.Fatalf("EachWord(%q) word %d = %q, want %q", s, i, w, want)
			}
			i++
		})
		if i != len(want) {
			t.Fatalf("EachWord(%q) gave %d words, want %d", s, i, len(want))
		}
	})
}
