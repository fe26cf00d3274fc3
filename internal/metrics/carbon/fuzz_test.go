package carbon

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"a.b 1.5 1700000000", "a 1 -1", "a 1", "m;b=1;a=2 3e5 1.5", "a nan 1",
		"a 0x1p3 1", "~x;a=1 1 2", "a\t1\t2\r", "a 1 2 3", "", ";", "m;a=~b 1 2", "a 1e400 1"} {
		f.Add([]byte(s))
	}
	const now = 1700000999
	f.Fuzz(func(t *testing.T, line []byte) {
		p, err := ParseLine(line, now)
		if err != nil {
			return
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.Time < 0 || p.Name == "" {
			t.Fatalf("ParseLine(%q) = %+v", line, p)
		}
		again := p.Name + " " + strconv.FormatFloat(p.Value, 'g', -1, 64) + " " + strconv.FormatInt(p.Time, 10)
		q, err := ParseLine([]byte(again), now)
		if err != nil {
			t.Fatalf("ParseLine(%q) = %+v, but its re-formatting %q fails: %v", line, p, again, err)
		}
		if q.Name != p.Name || q.Time != p.Time || math.Float64bits(q.Value) != math.Float64bits(p.Value) {
			t.Fatalf("ParseLine(%q) = %+v, re-parsed %q = %+v", line, p, again, q)
		}
	})
}

func FuzzParsePickle(f *testing.F) {
	f.Add(encodePickle2([]Point{{"a.b", 1.5, 1700000000}, {"c;x=1", -2, 1}}))
	f.Add([]byte("(lp0\n(S'a.b'\np1\n(I1700000000\nF1.5\ntp2\ntp3\na."))
	f.Add([]byte("(lp0\n(Va\\u00fcb\np1\n(L1700000000L\nS'2.5'\ntp2\ntp3\na(g1\ng2\ntp4\na."))
	f.Add([]byte("\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\x01a\x94K\x01\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01\x86\x94\x86\x94a."))
	f.Add([]byte("cos\nsystem\n(S'echo hi'\ntR."))
	f.Fuzz(func(t *testing.T, frame []byte) {
		points, err := ParsePickle(frame)
		var bad *BadEntriesError
		if err != nil && !errors.Is(err, ErrPickle) && !errors.As(err, &bad) {
			t.Fatalf("ParsePickle error %v is neither ErrPickle nor BadEntriesError", err)
		}
		if errors.Is(err, ErrPickle) && points != nil {
			t.Fatalf("points returned with %v", err)
		}
		for _, p := range points {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.Time < 0 || p.Name == "" {
				t.Fatalf("bad point %+v", p)
			}
			if strings.Contains(p.Name, ";") {
				if n, err := normalizeTagged(p.Name); err != nil || n != p.Name {
					t.Fatalf("tagged name %q not normalised: %q, %v", p.Name, n, err)
				}
			}
		}
	})
}
