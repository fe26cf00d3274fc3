package statsd

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []Metric
	}{
		{"counter", "gorets:1|c", []Metric{{Name: "gorets", Value: 1, Type: Counter, Rate: 1}}},
		{"sampled counter", "gorets:1|c|@0.1", []Metric{{Name: "gorets", Value: 1, Type: Counter, Rate: 0.1}}},
		{"negative float counter", "x:-2.5|c", []Metric{{Name: "x", Value: -2.5, Type: Counter, Rate: 1}}},
		{"exponent", "x:1.5e3|c", []Metric{{Name: "x", Value: 1500, Type: Counter, Rate: 1}}},
		{"leading point", "x:.5|c", []Metric{{Name: "x", Value: 0.5, Type: Counter, Rate: 1}}},
		{"timer", "glork:320|ms", []Metric{{Name: "glork", Value: 320, Type: Timer, Rate: 1}}},
		{"sampled timer", "glork:320|ms|@0.25", []Metric{{Name: "glork", Value: 320, Type: Timer, Rate: 0.25}}},
		{"histogram is a timer", "h:5|h", []Metric{{Name: "h", Value: 5, Type: Timer, Rate: 1}}},
		{"gauge", "gaugor:333|g", []Metric{{Name: "gaugor", Value: 333, Type: Gauge, Rate: 1}}},
		{"gauge minus", "gaugor:-10|g", []Metric{{Name: "gaugor", Value: -10, Type: Gauge, Sign: -1, Rate: 1}}},
		{"gauge plus", "gaugor:+4|g", []Metric{{Name: "gaugor", Value: 4, Type: Gauge, Sign: 1, Rate: 1}}},
		{"set", "uniques:765|s", []Metric{{Name: "uniques", Type: Set, Rate: 1, SetValue: "765"}}},
		{"set any string", "u:alice@x|s", []Metric{{Name: "u", Type: Set, Rate: 1, SetValue: "alice@x"}}},
		{"empty set member is 0", "u:|s", []Metric{{Name: "u", Type: Set, Rate: 1, SetValue: "0"}}},
		{"fields after rate ignored", "x:1|c|@0.5|#tag", []Metric{{Name: "x", Value: 1, Type: Counter, Rate: 0.5}}},
		{"CR and spaces trimmed", "x: 1 |ms\r", []Metric{{Name: "x", Value: 1, Type: Timer, Rate: 1}}},
		{"rate above 1", "x:1|c|@2", []Metric{{Name: "x", Value: 1, Type: Counter, Rate: 2}}},
		{"two values", "a:1|c:2|ms", []Metric{
			{Name: "a", Value: 1, Type: Counter, Rate: 1},
			{Name: "a", Value: 2, Type: Timer, Rate: 1}}},
		{"sanitised", "my key/with \t spaces.$%ok:1|c", []Metric{{Name: "my_key-with_spaces.ok", Value: 1, Type: Counter, Rate: 1}}},
		{"unicode space and letters", "a\u00a0b\u00e9c:1|c", []Metric{{Name: "a_bc", Value: 1, Type: Counter, Rate: 1}}},
		{"dash underscore dot", "A-b_c.9:1|c", []Metric{{Name: "A-b_c.9", Value: 1, Type: Counter, Rate: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseLine(%q) error: %v", tt.line, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("ParseLine(%q)[%d] = %+v, want %+v", tt.line, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseLineBad(t *testing.T) {
	tests := []struct {
		name, line string
		good       int // values still returned
	}{
		{"no colon", "gorets", 0},
		{"missing type", "gorets:1", 0},
		{"empty name", ":1|c", 0},
		{"name sanitised away", "!!!:1|c", 0},
		{"bad value", "gorets:abc|c", 0},
		{"empty value", "gorets:|c", 0},
		{"empty gauge", "g:|g", 0},
		{"sign only", "g:+|g", 0},
		{"NaN", "g:NaN|g", 0},
		{"Inf", "c:Inf|c", 0},
		{"overflow", "c:1e999|c", 0},
		{"hex", "c:0x10|c", 0},
		{"underscore", "c:1_000|c", 0},
		{"dangling exponent", "c:1e|c", 0},
		{"unknown type", "gorets:1|x", 0},
		{"empty type", "gorets:1|", 0},
		{"rate without @", "gorets:1|c|0.1", 0},
		{"empty rate", "gorets:1|c|", 0},
		{"bare @", "gorets:1|c|@", 0},
		{"negative rate", "gorets:1|c|@-1", 0},
		{"zero rate", "gorets:1|c|@0", 0},
		{"word rate", "gorets:1|c|@abc", 0},
		{"exponent rate", "gorets:1|c|@1e-1", 0},
		{"two points rate", "gorets:1|c|@0.1.2", 0},
		{"one of two bad", "a:1|c:x|c", 1},
		{"set member with colon", "u:a:b|s", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.line))
			if !errors.Is(err, ErrBadLine) {
				t.Fatalf("ParseLine(%q) error = %v, want ErrBadLine", tt.line, err)
			}
			if len(got) != tt.good {
				t.Errorf("ParseLine(%q) returned %d good values %+v, want %d", tt.line, len(got), got, tt.good)
			}
		})
	}
}

func TestPctID(t *testing.T) {
	for p, want := range map[float64]string{90: "90", 99.9: "99_9", -10: "top10", 50: "50", -99.5: "top99_5"} {
		if got := pctID(p); got != want {
			t.Errorf("pctID(%v) = %q, want %q", p, got, want)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"gorets:1|c", "gorets:1|c|@0.1", "glork:320|ms|@0.1", "gaugor:-10|g", "gaugor:+4|g",
		"uniques:765|s", "a:1|c:2|ms", "my key/x:1|c", "a\u00a0b:1e3|h", ":|", "x:1|c|@", "\xff:1|c",
		"a:1|c\nb:2|g\r\n\n", "x:1|c|@0.5|#t",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ms, err := ParseLine(line)
		if err != nil && !errors.Is(err, ErrBadLine) {
			t.Fatalf("error %v does not wrap ErrBadLine", err)
		}
		for _, m := range ms {
			if m.Name == "" || strings.TrimFunc(m.Name, func(r rune) bool { return r < 128 && nameByte(byte(r)) }) != "" {
				t.Fatalf("bad name %q", m.Name)
			}
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || !(m.Rate > 0) || math.IsInf(m.Rate, 0) {
				t.Fatalf("bad metric %+v", m)
			}
			if !strings.ContainsRune("cmgs", rune(m.Type)) {
				t.Fatalf("bad type %+v", m)
			}
		}
		a := New(Config{Percentiles: []float64{90, -10, 50}})
		bad := a.Feed(line)
		a.Flush(time_0, 0)
		// Feed and ParseLine agree on a single non-empty line.
		if len(line) > 0 && !strings.ContainsRune(string(line), '\n') {
			want := 0
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				want = len(j.Unwrap())
			} else if err != nil {
				want = 1
			}
			if bad != want {
				t.Fatalf("Feed(%q) bad = %d, ParseLine errors = %d (%v)", line, bad, want, err)
			}
		}
	})
}
