package render

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"corral/internal/metrics/index"
	"corral/internal/metrics/whisper"
)

// t0 is the first point of the test data; a multiple of 60.
const t0 = 1700000040

// testNow is the handlers' clock in tests.
const testNow = t0 + 3600

var nan = math.NaN()

// memFetcher holds series as whisper would: points every step seconds.
type memFetcher struct {
	step   int64
	series map[string]map[int64]float64
}

func newMemFetcher(step int64) *memFetcher {
	return &memFetcher{step: step, series: map[string]map[int64]float64{}}
}

// set stores vals at start, start+step, ...; NaN leaves a gap.
func (m *memFetcher) set(name string, start int64, vals ...float64) {
	pts := m.series[name]
	if pts == nil {
		pts = map[int64]float64{}
		m.series[name] = pts
	}
	for i, v := range vals {
		if !math.IsNaN(v) {
			pts[start+int64(i)*m.step] = v
		}
	}
}

// Fetch mirrors whisper's interval rounding: the first point is the step
// after from rounded down, the last the one before until rounded down plus
// a step. Like whisper it clamps the range to its retention (30 days
// before now) and to now.
func (m *memFetcher) Fetch(name string, from, until int64) (whisper.Series, error) {
	pts, ok := m.series[name]
	if !ok {
		return whisper.Series{}, whisper.ErrNotFound
	}
	from = max(from, testNow-30*86400)
	until = min(until, testNow)
	if from >= until {
		return whisper.Series{Start: from, Until: from, Step: m.step}, nil
	}
	start := from - from%m.step + m.step
	end := until - until%m.step + m.step
	s := whisper.Series{Start: start, Until: end, Step: m.step}
	for ts := start; ts < end; ts += m.step {
		v, ok := pts[ts]
		if !ok {
			v = math.NaN()
		}
		s.Values = append(s.Values, v)
	}
	return s, nil
}

// testData is the fixture every render test uses: 6 points at 10 s from t0.
func testData() (*index.Index, *index.Tags, *memFetcher) {
	ix := index.New()
	tg := index.NewTags()
	f := newMemFetcher(10)
	add := func(name string, start int64, vals ...float64) {
		if index.IsTagged(name) {
			tg.Add(name)
			name, _ = index.NormalizeTagged(name)
		} else {
			ix.Add(name)
		}
		f.set(name, start, vals...)
	}
	add("a.b.c1", t0, 1, 2, nan, 4, 5, 6)
	add("a.b.c2", t0, 10, 20, 30, nan, 50, 60)
	add("a.b.c3", t0, 100, 100, 100, 100, 100, 100)
	add("counter.x", t0, 0, 10, 25, 5, 15, 40)
	// ramp.x is (ts-t0)/10 from t0-600 on: -60 ... 5.
	ramp := make([]float64, 66)
	for i := range ramp {
		ramp[i] = float64(i - 60)
	}
	add("ramp.x", t0-600, ramp...)
	add("servers.web1.cpu.user", t0, 1, 1, 1, 1, 1, 1)
	add("servers.web1.cpu.system", t0, 2, 2, 2, 2, 2, 2)
	add("servers.web2.cpu.user", t0, 3, 3, 3, 3, 3, 3)
	add("servers.db1.cpu.user", t0, 4, nan, 4, 4, 4, 4)
	add("cpu;host=a;dc=east", t0, 1, 1, 1, 1, 1, 1)
	add("cpu;host=b;dc=east", t0, 2, 2, 2, 2, 2, 2)
	add("cpu;host=c;dc=west", t0, 3, 3, 3, 3, 3, 3)
	return ix, tg, f
}

func newTestHandler(t testing.TB) *Handler {
	t.Helper()
	ix, tg, f := testData()
	h, err := New(Options{Index: ix, Tags: tg, Fetcher: f, Location: time.UTC,
		Now: func() time.Time { return time.Unix(testNow, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get runs handler fn on a GET of path?query.
func get(fn http.HandlerFunc, path string, q url.Values) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	fn(rec, httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil))
	return rec
}

// renderQuery is the common query over the fixture's 6 points.
func renderQuery(format string, targets ...string) url.Values {
	q := url.Values{"from": {itoa(t0 - 1)}, "until": {itoa(t0 + 59)}, "format": {format}}
	q["target"] = targets
	return q
}

type jsonOut struct {
	Target     string            `json:"target"`
	Tags       map[string]string `json:"tags"`
	Datapoints [][2]*float64     `json:"datapoints"`
}

func decodeJSON(t *testing.T, body io.Reader) []jsonOut {
	t.Helper()
	var out []jsonOut
	if err := json.NewDecoder(body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// values returns a series' values with NaN for null, checking timestamps
// run from start by step.
func values(t *testing.T, s jsonOut, start, step int64) []float64 {
	t.Helper()
	out := make([]float64, len(s.Datapoints))
	for i, dp := range s.Datapoints {
		if dp[1] == nil || int64(*dp[1]) != start+int64(i)*step {
			t.Fatalf("%s: point %d has timestamp %v, want %d", s.Target, i, dp[1], start+int64(i)*step)
		}
		if dp[0] == nil {
			out[i] = math.NaN()
		} else {
			out[i] = *dp[0]
		}
	}
	return out
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) != math.IsNaN(b[i]) {
			return false
		}
		if !math.IsNaN(a[i]) && math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}

func names(ss []jsonOut) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Target)
	}
	return strings.Join(n, " | ")
}
