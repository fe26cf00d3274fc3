package carbon

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

const testNow = 1700000999

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Point
		wantErr string // substring of the error; "" means success
	}{
		{name: "plain", line: "a.b.c 1.5 1700000000", want: Point{"a.b.c", 1.5, 1700000000}},
		{name: "integer value", line: "a 42 1700000000", want: Point{"a", 42, 1700000000}},
		{name: "negative value", line: "a -0.25 1700000000", want: Point{"a", -0.25, 1700000000}},
		{name: "scientific", line: "a 1.5e3 1700000000", want: Point{"a", 1500, 1700000000}},
		{name: "long mantissa", line: "a 0.12345678901234567890 1", want: Point{"a", 0.12345678901234567890, 1}},
		{name: "tabs and runs of spaces", line: "\t a  \t2\t\t3  ", want: Point{"a", 2, 3}},
		{name: "trailing CR", line: "a 1 2\r", want: Point{"a", 1, 2}},
		{name: "float timestamp truncated", line: "a 1 1700000000.9", want: Point{"a", 1, 1700000000}},
		{name: "timestamp -1 is now", line: "a 1 -1", want: Point{"a", 1, testNow}},
		{name: "timestamp -1.0 is now", line: "a 1 -1.0", want: Point{"a", 1, testNow}},
		{name: "missing timestamp is now", line: "a 1", want: Point{"a", 1, testNow}},
		{name: "tagged sorted", line: "cpu;host=a;dc=x 1 2", want: Point{"cpu;dc=x;host=a", 1, 2}},
		{name: "tagged name tag dropped", line: "cpu;name=zz;b=1 1 2", want: Point{"cpu;b=1", 1, 2}},
		{name: "tagged duplicate last wins", line: "cpu;a=1;a=2 1 2", want: Point{"cpu;a=2", 1, 2}},
		{name: "tagged tilde name stripped", line: "~~cpu;a=1 1 2", want: Point{"cpu;a=1", 1, 2}},
		{name: "tagged value may contain =", line: "cpu;a=b=c 1 2", want: Point{"cpu;a=b=c", 1, 2}},
		{name: "tagged sorts formatted strings", line: "m;a=1;a-b=2 1 2", want: Point{"m;a-b=2;a=1", 1, 2}},
		{name: "untagged kept verbatim", line: "~a.b 1 2", want: Point{"~a.b", 1, 2}},
		{name: "bad value", line: "a abc 1", wantErr: `value "abc" is not a number`},
		{name: "hex value", line: "a 0x10 1", wantErr: "is not a number"},
		{name: "underscore value", line: "a 1_000 1", wantErr: "is not a number"},
		{name: "nan value", line: "a nan 1", wantErr: `value "nan" is not finite`},
		{name: "inf value", line: "a -Inf 1", wantErr: "is not finite"},
		{name: "overflow value", line: "a 1e999 1", wantErr: "is not finite"},
		{name: "bad timestamp", line: "a 1 yesterday", wantErr: `timestamp "yesterday" is not a number`},
		{name: "negative timestamp", line: "a 1 -5", wantErr: "is negative"},
		{name: "huge timestamp", line: "a 1 1e30", wantErr: "out of range"},
		{name: "too few fields", line: "a.b", wantErr: "got 1 field"},
		{name: "extra fields", line: "a 1 2 3", wantErr: "more than 3 fields"},
		{name: "empty line", line: "", wantErr: "empty line"},
		{name: "blank line", line: " \t\r", wantErr: "empty line"},
		{name: "tagged empty name", line: ";a=1 1 2", wantErr: "no metric name"},
		{name: "tagged only tilde", line: "~;a=1 1 2", wantErr: "metric name is empty"},
		{name: "tag without =", line: "m;a 1 2", wantErr: `invalid segment "a"`},
		{name: "tag empty key", line: "m;=1 1 2", wantErr: "invalid segment"},
		{name: "tag empty value", line: "m;a= 1 2", wantErr: `value of tag "a" is empty`},
		{name: "tag key with !", line: "m;a!=1 1 2", wantErr: "contains one of"},
		{name: "tag key with ^", line: "m;a^b=1 1 2", wantErr: "contains one of"},
		{name: "tag value with ~", line: "m;a=~x 1 2", wantErr: `starts with "~"`},
		{name: "empty segment", line: "m;;a=1 1 2", wantErr: "invalid segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.line), testNow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLine(%q) = %+v, %v; want error containing %q", tt.line, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseLine(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestParseLineErrorQuotesLine(t *testing.T) {
	_, err := ParseLine([]byte("a.b abc 1"), 0)
	want := `line "a.b abc 1": value "abc" is not a number`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

// TestFastFloatMatchesStrconv checks that the fast path is bit-exact.
func TestFastFloatMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "0.1", "0.3", "123456789012345", "1.23456789012345",
		"0.00000000000001", "999999999999999", "-98765.4321", "4.35", "1.", ".5", "+7.25"} {
		got, ok := fastFloat([]byte(s))
		if !ok {
			t.Errorf("fastFloat(%q) not taken", s)
			continue
		}
		want, ok2 := parseFloatStrconv(s)
		if !ok2 || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("fastFloat(%q) = %v, strconv %v", s, got, want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestLineReader(t *testing.T) {
	input := "a 1 100\r\n" +
		"bad line here too\n" +
		"\n" +
		"  \r\n" +
		"b.c 2.5 -1\r\n" +
		"c abc 3\n" +
		strings.Repeat("x", MaxLineLen+10) + " 1 2\n" +
		"d;z=1;y=2 4\n" +
		strings.Repeat("y", MaxLineLen-4) + " 5 6\n" +
		"e 7 8" // no newline at clean EOF: parsed
	var bad []string
	lr := NewLineReader(iotest.OneByteReader(strings.NewReader(input)), func() int64 { return testNow },
		func(line []byte, err error) { bad = append(bad, err.Error()) })
	var got []Point
	for {
		p, ok := lr.Next()
		if !ok {
			break
		}
		got = append(got, p)
	}
	want := []Point{
		{"a", 1, 100}, {"b.c", 2.5, testNow}, {"d;y=2;z=1", 4, testNow},
		{strings.Repeat("y", MaxLineLen-4), 5, 6}, {"e", 7, 8},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if lr.Bad() != 3 || len(bad) != 3 {
		t.Errorf("Bad() = %d, callbacks %q; want 3", lr.Bad(), bad)
	}
	if len(bad) == 3 && !strings.Contains(bad[2], "longer than") {
		t.Errorf("third bad line error = %q, want too long", bad[2])
	}
	if lr.Err() != nil {
		t.Errorf("Err() = %v at clean EOF", lr.Err())
	}
}

func TestLineReaderReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("a 1 2\nb 3"), errReader{})
	lr := NewLineReader(r, func() int64 { return 0 }, nil)
	p, ok := lr.Next()
	if !ok || p != (Point{"a", 1, 2}) {
		t.Fatalf("Next() = %+v, %v", p, ok)
	}
	if p, ok := lr.Next(); ok {
		t.Fatalf("Next() = %+v after a read error; the partial line must be dropped", p)
	}
	if lr.Err() == nil || !strings.Contains(lr.Err().Error(), "reset") {
		t.Fatalf("Err() = %v", lr.Err())
	}
}

func TestLineReaderTooLongAtEOF(t *testing.T) {
	lr := NewLineReader(strings.NewReader(strings.Repeat("z", 3*MaxLineLen)), func() int64 { return 0 }, nil)
	if p, ok := lr.Next(); ok {
		t.Fatalf("Next() = %+v", p)
	}
	if lr.Bad() != 1 || lr.Err() != nil {
		t.Fatalf("Bad() = %d, Err() = %v", lr.Bad(), lr.Err())
	}
}

func parseFloatStrconv(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
