package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-graphite/carbonapi/expr/interfaces"
	"github.com/go-graphite/carbonapi/expr/metadata"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/pkg/parser"
	pickle "github.com/lomik/og-rek"

	"corral/internal/metrics/whisper"
)

// The fixture's raw values (see testData), for computing expectations.
var (
	c1      = []float64{1, 2, nan, 4, 5, 6}
	c2      = []float64{10, 20, 30, nan, 50, 60}
	c3      = []float64{100, 100, 100, 100, 100, 100}
	counter = []float64{0, 10, 25, 5, 15, 40}
)

// each applies f to the i-th values of every column, skipping NaN as
// graphite's safe* helpers do; a row of only NaN stays NaN.
func each(f func(known []float64) float64, cols ...[]float64) []float64 {
	out := make([]float64, len(cols[0]))
	for i := range out {
		var known []float64
		for _, c := range cols {
			if !math.IsNaN(c[i]) {
				known = append(known, c[i])
			}
		}
		if len(known) == 0 {
			out[i] = nan
		} else {
			out[i] = f(known)
		}
	}
	return out
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func avg(v []float64) float64 { return sum(v) / float64(len(v)) }

// mapv applies f to every non-NaN value.
func mapv(vals []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		if math.IsNaN(v) {
			out[i] = nan
		} else {
			out[i] = f(v)
		}
	}
	return out
}

// ratio divides a by b pointwise; NaN where either is NaN or b is 0.
func ratio(a, b []float64, scale float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) || b[i] == 0 {
			out[i] = nan
		} else {
			out[i] = a[i] / b[i] * scale
		}
	}
	return out
}

// deriv is graphite's derivative: the delta to the previous value, NaN when
// either is missing; nonNeg also drops negative deltas (counter resets).
func deriv(vals []float64, nonNeg bool, perSec float64) []float64 {
	out := make([]float64, len(vals))
	prev := nan
	for i, v := range vals {
		d := v - prev
		if math.IsNaN(d) || (nonNeg && d < 0) {
			out[i] = nan
		} else {
			out[i] = d / perSec
		}
		prev = v
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

type wantSeries struct {
	name  string
	vals  []float64
	start int64
	step  int64
}

func TestRenderExpressions(t *testing.T) {
	h := newTestHandler(t)
	// ramp.x is (ts-t0)/10; the mean of the n points before t0+10k is
	// k - (n+1)/2.
	movingRamp := func(n int) []float64 {
		out := make([]float64, 6)
		for k := range out {
			out[k] = float64(k) - float64(n+1)/2
		}
		return out
	}
	std := func(name string, vals []float64) wantSeries { return wantSeries{name, vals, t0, 10} }
	tests := []struct {
		target string
		want   []wantSeries
	}{
		{"sumSeries(a.b.c{1,2})", []wantSeries{std("sumSeries(a.b.c{1,2})", each(sum, c1, c2))}},
		{"sumSeries(a.b.c*)", []wantSeries{std("sumSeries(a.b.c*)", each(sum, c1, c2, c3))}},
		{"averageSeries(a.b.c*)", []wantSeries{std("averageSeries(a.b.c*)", each(avg, c1, c2, c3))}},
		{"maxSeries(a.b.c1,a.b.c2)", []wantSeries{std("maxSeries(a.b.c1,a.b.c2)", each(func(v []float64) float64 { return math.Max(v[0], v[len(v)-1]) }, c1, c2))}},
		{"diffSeries(a.b.c3,a.b.c1)", []wantSeries{std("diffSeries(a.b.c3,a.b.c1)", []float64{99, 98, 100, 96, 95, 94})}},
		{"countSeries(a.b.c*)", []wantSeries{std("countSeries(a.b.c*)", repeat(3, 6))}},
		{"scale(a.b.c1,2)", []wantSeries{std("scale(a.b.c1,2)", mapv(c1, func(v float64) float64 { return 2 * v }))}},
		{"offset(a.b.c1,10)", []wantSeries{std("offset(a.b.c1,10)", mapv(c1, func(v float64) float64 { return v + 10 }))}},
		{"alias(a.b.c1,'foo')", []wantSeries{std("foo", c1)}},
		{"aliasByNode(a.b.c*,2)", []wantSeries{std("c1", c1), std("c2", c2), std("c3", c3)}},
		{"aliasByNode(a.b.c1,0,2)", []wantSeries{std("a.c1", c1)}},
		{"nonNegativeDerivative(counter.x)", []wantSeries{std("nonNegativeDerivative(counter.x)", deriv(counter, true, 1))}},
		{"perSecond(counter.x)", []wantSeries{std("perSecond(counter.x)", deriv(counter, true, 10))}},
		{"derivative(a.b.c1)", []wantSeries{std("derivative(a.b.c1)", deriv(c1, false, 1))}},
		{"integral(a.b.c1)", []wantSeries{std("integral(a.b.c1)", []float64{1, 3, nan, 7, 12, 18})}},
		{"movingAverage(ramp.x,2)", []wantSeries{std("movingAverage(ramp.x,2)", movingRamp(2))}},
		{"movingAverage(ramp.x,'30s')", []wantSeries{std(`movingAverage(ramp.x,"30s")`, movingRamp(3))}},
		// The two points before each: t0-20,t0-10 are missing.
		{"movingSum(a.b.c1,2)", []wantSeries{std("movingSum(a.b.c1,2)", []float64{nan, 1, 3, 2, 4, 9})}},
		{"movingMax(a.b.c2,3)", []wantSeries{std("movingMax(a.b.c2,3)", []float64{nan, 10, 20, 30, 30, 50})}},
		// 30 s buckets aligned to multiples of 30 (t0 is one); the last
		// bucket starts at the series end and is empty.
		{"summarize(a.b.c1,'30s','sum')", []wantSeries{{`summarize(a.b.c1,'30s','sum')`, []float64{1 + 2, 4 + 5 + 6, nan}, t0, 30}}},
		{"summarize(a.b.c2,'30s','max')", []wantSeries{{`summarize(a.b.c2,'30s','max')`, []float64{30, 60, nan}, t0, 30}}},
		{"highestMax(a.b.c*,1)", []wantSeries{std("a.b.c3", c3)}},
		{"lowestAverage(a.b.c*,1)", []wantSeries{std("a.b.c1", c1)}},
		{"limit(a.b.c*,2)", []wantSeries{std("a.b.c1", c1), std("a.b.c2", c2)}},
		{"groupByNode(servers.*.cpu.*,1,'sum')", []wantSeries{
			std("db1", []float64{4, nan, 4, 4, 4, 4}),
			std("web1", repeat(1+2, 6)),
			std("web2", repeat(3, 6)),
		}},
		{"asPercent(a.b.c1,a.b.c2)", []wantSeries{std("asPercent(a.b.c1,a.b.c2)", ratio(c1, c2, 100))}},
		{"divideSeries(a.b.c2,a.b.c1)", []wantSeries{std("divideSeries(a.b.c2,a.b.c1)", ratio(c2, c1, 1))}},
		{"divideSeries(a.b.c1,nope)", []wantSeries{std("divideSeries(a.b.c1,MISSING)", repeat(nan, 6))}},
		// The value 10 s earlier: nothing before t0.
		{"timeShift(a.b.c1,'10s')", []wantSeries{std(`timeShift(a.b.c1, "-10s")`, append([]float64{nan}, c1[:5]...))}},
		{"timeShift(a.b.c1,'-20s')", []wantSeries{std(`timeShift(a.b.c1, "-20s")`, append([]float64{nan, nan}, c1[:4]...))}},
		{"timeShift(alias(a.b.c1,'x,y'),'10s')", []wantSeries{std(`timeShift(x,y, "-10s")`, append([]float64{nan}, c1[:5]...))}},
		{"keepLastValue(a.b.c1)", []wantSeries{std("keepLastValue(a.b.c1)", []float64{1, 2, 2, 4, 5, 6})}},
		{"transformNull(a.b.c1,-1)", []wantSeries{std("transformNull(a.b.c1,-1)", []float64{1, 2, -1, 4, 5, 6})}},
		{"absolute(scale(a.b.c1,-1))", []wantSeries{std("absolute(scale(a.b.c1,-1))", c1)}},
		{"seriesByTag('name=cpu','dc=east')", []wantSeries{std("cpu;dc=east;host=a", repeat(1, 6)), std("cpu;dc=east;host=b", repeat(2, 6))}},
		{`seriesByTag('name=cpu', "dc=east" ,'host!=a')`, []wantSeries{std("cpu;dc=east;host=b", repeat(2, 6))}},
		{`sumSeries(seriesByTag("name=cpu"))`, []wantSeries{std(`sumSeries(seriesByTag("name=cpu"))`, repeat(1+2+3, 6))}},
		{"aliasByTags(seriesByTag('name=cpu','dc=west'),'host')", []wantSeries{std("c", repeat(3, 6))}},
		// graphite-web names these after the common name tag; carbonapi
		// after the callback ("sum;dc=east").
		{"groupByTags(seriesByTag('name=cpu'),'sum','dc')", []wantSeries{std("sum;dc=east", repeat(1+2, 6)), std("sum;dc=west", repeat(3, 6))}},
		{"nonNegativeDerivative(a.b.c1)", []wantSeries{std("nonNegativeDerivative(a.b.c1)", deriv(c1, true, 1))}},
		// applyByNode is one of carbonapi's rewrite functions.
		{"applyByNode(servers.*.cpu.*,1,'sumSeries(%.cpu.*)')", []wantSeries{
			std("sumSeries(servers.db1.cpu.*)", []float64{4, nan, 4, 4, 4, 4}),
			std("sumSeries(servers.web1.cpu.*)", repeat(1+2, 6)),
			std("sumSeries(servers.web2.cpu.*)", repeat(3, 6)),
		}},
		{"applyByNode(servers.*.cpu.*,1,'maxSeries(%.cpu.*)','%.max')", []wantSeries{
			std("servers.db1.max", []float64{4, nan, 4, 4, 4, 4}),
			std("servers.web1.max", repeat(2, 6)),
			std("servers.web2.max", repeat(3, 6)),
		}},
		{"scaleToSeconds(counter.x,1)", []wantSeries{std("scaleToSeconds(counter.x,1)", mapv(counter, func(v float64) float64 { return v / 10 }))}},
		{"removeBelowValue(a.b.c2,25)", []wantSeries{std("removeBelowValue(a.b.c2, 25)", []float64{nan, nan, 30, nan, 50, 60})}},
		{"aliasByMetric(a.b.c1)", []wantSeries{std("c1", c1)}},
		{"sortByMaxima(a.b.c*)", []wantSeries{std("a.b.c3", c3), std("a.b.c2", c2), std("a.b.c1", c1)}},
		{"exclude(a.b.c*,'c2')", []wantSeries{std("a.b.c1", c1), std("a.b.c3", c3)}},
		{"grep(a.b.c*,'c2')", []wantSeries{std("a.b.c2", c2)}},
		{"removeEmptySeries(divideSeries(a.b.c1,nope))", nil},
		{"isNonNull(a.b.c1)", []wantSeries{std("isNonNull(a.b.c1)", []float64{1, 1, 0, 1, 1, 1})}},
		{"minSeries(a.b.c1,a.b.c2)", []wantSeries{std("minSeries(a.b.c1,a.b.c2)", each(func(v []float64) float64 { return math.Min(v[0], v[len(v)-1]) }, c1, c2))}},
		{"multiplySeries(a.b.c1,a.b.c2)", []wantSeries{std("multiplySeries(a.b.c1,a.b.c2)", []float64{10, 40, nan, nan, 250, 360})}},
		// Groups in order of first appearance: db1's user comes first.
		{"sumSeriesWithWildcards(servers.*.cpu.*,1)", []wantSeries{
			std("servers.cpu.user", []float64{4 + 1 + 3, 1 + 3, 4 + 1 + 3, 4 + 1 + 3, 4 + 1 + 3, 4 + 1 + 3}),
			std("servers.cpu.system", repeat(2, 6)),
		}},
		// Sum of value*step per 30 s bucket from the start.
		{"hitcount(a.b.c1,'30s')", []wantSeries{{"hitcount(a.b.c1,'30s')", []float64{(1 + 2) * 10, (4 + 5 + 6) * 10}, t0, 30}}},
		{"delay(a.b.c1,1)", []wantSeries{std("delay(a.b.c1,1)", append([]float64{nan}, c1[:5]...))}},
		{"changed(a.b.c1)", []wantSeries{std("changed(a.b.c1)", []float64{0, 1, 0, 1, 1, 1})}},
		{"invert(a.b.c1)", []wantSeries{std("invert(a.b.c1)", mapv(c1, func(v float64) float64 { return 1 / v }))}},
		{"pow(a.b.c1,2)", []wantSeries{std("pow(a.b.c1,2)", mapv(c1, func(v float64) float64 { return v * v }))}},
		// Style functions pass series through unchanged.
		{"color(lineWidth(alias(a.b.c1,'x'),3),'red')", []wantSeries{std("x", c1)}},
		{"nope.*", nil},
		{"sumSeries(nope.*)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := get(h.Render, "/render", renderQuery("json", tt.target))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decodeJSON(t, rec.Body)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d series (%s), want %d", len(got), names(got), len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Target != w.name {
					t.Errorf("series %d: name %q, want %q", i, got[i].Target, w.name)
				}
				if v := values(t, got[i], w.start, w.step); !sameFloats(v, w.vals) {
					t.Errorf("series %q: values %v, want %v", w.name, v, w.vals)
				}
			}
		})
	}
}

func TestRenderTags(t *testing.T) {
	h := newTestHandler(t)
	got := decodeJSON(t, get(h.Render, "/render", renderQuery("json", "seriesByTag('name=cpu','host=c')")).Body)
	if len(got) != 1 {
		t.Fatalf("got %s", names(got))
	}
	want := map[string]string{"name": "cpu", "dc": "west", "host": "c"}
	if len(got[0].Tags) != len(want) {
		t.Fatalf("tags %v, want %v", got[0].Tags, want)
	}
	for k, v := range want {
		if got[0].Tags[k] != v {
			t.Fatalf("tags %v, want %v", got[0].Tags, want)
		}
	}
}

func TestRenderFormats(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name  string
		query url.Values
		ctype string
		want  string
	}{
		{"json", renderQuery("json", "alias(a.b.c1,'x')"), "application/json",
			`[{"target": "x", "tags": {"name": "a.b.c1"}, "datapoints": [[1.0, 1700000040], [2.0, 1700000050], [null, 1700000060], [4.0, 1700000070], [5.0, 1700000080], [6.0, 1700000090]]}]`},
		{"json two series", renderQuery("json", "a.b.c3", "scale(a.b.c1,0.5)"), "application/json",
			`[{"target": "a.b.c3", "tags": {"name": "a.b.c3"}, "datapoints": [[100.0, 1700000040], [100.0, 1700000050], [100.0, 1700000060], [100.0, 1700000070], [100.0, 1700000080], [100.0, 1700000090]]}, ` +
				`{"target": "scale(a.b.c1,0.5)", "tags": {"name": "a.b.c1", "scale": "0.5"}, "datapoints": [[0.5, 1700000040], [1.0, 1700000050], [null, 1700000060], [2.0, 1700000070], [2.5, 1700000080], [3.0, 1700000090]]}]`},
		{"json empty", renderQuery("json", "nope"), "application/json", `[]`},
		{"jsonp", withParam(renderQuery("json", "alias(a.b.c1,'x')"), "jsonp", "cb_1"), "text/javascript",
			`cb_1([{"target": "x", "tags": {"name": "a.b.c1"}, "datapoints": [[1.0, 1700000040], [2.0, 1700000050], [null, 1700000060], [4.0, 1700000070], [5.0, 1700000080], [6.0, 1700000090]]}])`},
		{"noNullPoints", withParam(renderQuery("json", "alias(a.b.c1,'x')", "divideSeries(a.b.c1,nope)"), "noNullPoints", ""), "application/json",
			`[{"target": "x", "tags": {"name": "a.b.c1"}, "datapoints": [[1.0, 1700000040], [2.0, 1700000050], [4.0, 1700000070], [5.0, 1700000080], [6.0, 1700000090]]}]`},
		// 1700000040 is 2023-11-14 22:14:00 UTC.
		{"csv", renderQuery("csv", "alias(a.b.c1,'x')", "alias(a.b.c3,'a,b')"), "text/csv",
			"x,2023-11-14 22:14:00,1.0\r\nx,2023-11-14 22:14:10,2.0\r\nx,2023-11-14 22:14:20,\r\nx,2023-11-14 22:14:30,4.0\r\nx,2023-11-14 22:14:40,5.0\r\nx,2023-11-14 22:14:50,6.0\r\n" +
				"\"a,b\",2023-11-14 22:14:00,100.0\r\n\"a,b\",2023-11-14 22:14:10,100.0\r\n\"a,b\",2023-11-14 22:14:20,100.0\r\n\"a,b\",2023-11-14 22:14:30,100.0\r\n\"a,b\",2023-11-14 22:14:40,100.0\r\n\"a,b\",2023-11-14 22:14:50,100.0\r\n"},
		{"csv tz", withParam(renderQuery("csv", "alias(a.b.c3,'x')"), "tz", "Europe/Berlin"), "text/csv",
			"x,2023-11-14 23:14:00,100.0\r\nx,2023-11-14 23:14:10,100.0\r\nx,2023-11-14 23:14:20,100.0\r\nx,2023-11-14 23:14:30,100.0\r\nx,2023-11-14 23:14:40,100.0\r\nx,2023-11-14 23:14:50,100.0\r\n"},
		{"raw", renderQuery("raw", "alias(a.b.c1,'x')", "alias(offset(scale(a.b.c3,0),0.00001),'y')", "alias(scale(a.b.c3,1e20),'z')"), "text/plain",
			"x,1700000040,1700000100,10|1.0,2.0,None,4.0,5.0,6.0\n" +
				"y,1700000040,1700000100,10|1e-05,1e-05,1e-05,1e-05,1e-05,1e-05\n" +
				"z,1700000040,1700000100,10|1e+22,1e+22,1e+22,1e+22,1e+22,1e+22\n"},
		{"rawData", withParam(withParam(renderQuery("", "a.b.c3"), "format", ""), "rawData", "true"), "text/plain",
			"a.b.c3,1700000040,1700000100,10|100.0,100.0,100.0,100.0,100.0,100.0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h.Render, "/render", tt.query)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != tt.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("body\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func withParam(q url.Values, k, v string) url.Values {
	q = url.Values(cloneValues(q))
	if v == "" && k == "format" {
		q.Del(k)
		return q
	}
	q.Set(k, v)
	return q
}

func cloneValues(q url.Values) map[string][]string {
	out := make(map[string][]string, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestRenderPickle(t *testing.T) {
	h := newTestHandler(t)
	rec := get(h.Render, "/render", renderQuery("pickle", "alias(a.b.c1,'x')"))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/pickle" {
		t.Fatalf("status %d, %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	v, err := pickle.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode()
	if err != nil {
		t.Fatal(err)
	}
	list, ok := v.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("decoded %T %v", v, v)
	}
	m, ok := list[0].(map[any]any)
	if !ok {
		t.Fatalf("series is %T", list[0])
	}
	if m["name"] != "x" || m["start"] != int64(t0) || m["end"] != int64(t0+60) || m["step"] != int64(10) {
		t.Fatalf("series header %v", m)
	}
	vals := m["values"].([]any)
	want := []any{1.0, 2.0, pickle.None{}, 4.0, 5.0, 6.0}
	if len(vals) != len(want) {
		t.Fatalf("values %v", vals)
	}
	for i := range want {
		if vals[i] != want[i] {
			t.Fatalf("values %v, want %v", vals, want)
		}
	}
}

func TestRenderMaxDataPoints(t *testing.T) {
	h := newTestHandler(t)
	// ramp.x over [t0-600, t0+60): 66 points -60..5. With maxDataPoints=10:
	// 7 values per point (70 s); graphite-web nudges the start from t0-600
	// to the next multiple of 70 plus 0 (t0-550: 1699999490 = 70*24285707)
	// and drops 5-1=4 values, so the buckets hold -56..-50, -49..-43, ...
	// and the last 0..5.
	bucketStart := int64(1699999490)
	q := url.Values{"target": {"ramp.x"}, "from": {itoa(t0 - 601)}, "until": {itoa(t0 + 59)}, "format": {"json"}, "maxDataPoints": {"10"}}
	wantAvg, wantMax := []float64{}, []float64{}
	for lo := -56; lo <= 5; lo += 7 {
		hi := min(lo+6, 5)
		wantAvg = append(wantAvg, float64(lo+hi)/2)
		wantMax = append(wantMax, float64(hi))
	}
	got := decodeJSON(t, get(h.Render, "/render", q).Body)
	if len(got) != 1 {
		t.Fatalf("got %s", names(got))
	}
	if v := values(t, got[0], bucketStart, 70); !sameFloats(v, wantAvg) {
		t.Fatalf("average: %v, want %v", v, wantAvg)
	}
	q.Set("target", "consolidateBy(ramp.x,'max')")
	got = decodeJSON(t, get(h.Render, "/render", q).Body)
	if v := values(t, got[0], bucketStart, 70); len(got) != 1 || !sameFloats(v, wantMax) {
		t.Fatalf("max: %v, want %v", v, wantMax)
	}
	// maxDataPoints=1: one point, the mean of all values, at the start.
	q.Set("target", "ramp.x")
	q.Set("maxDataPoints", "1")
	got = decodeJSON(t, get(h.Render, "/render", q).Body)
	if v := values(t, got[0], t0-600, 0); !sameFloats(v, []float64{-27.5}) {
		t.Fatalf("maxDataPoints=1: %v", v)
	}
	// xFilesFactor: a.b.c1 over [t0-600, t0+60) has 6 known points of 66;
	// maxDataPoints=2 makes buckets of 33, the second holding 5 known
	// (t0, t0+10, t0+30, t0+40, t0+50 with the first bucket nudged away).
	q2 := url.Values{"target": {"a.b.c1"}, "from": {itoa(t0 - 601)}, "until": {itoa(t0 + 59)}, "format": {"json"}, "maxDataPoints": {"2"}}
	got = decodeJSON(t, get(h.Render, "/render", q2).Body)
	last := got[0].Datapoints[len(got[0].Datapoints)-1]
	if last[0] == nil {
		t.Fatalf("xFilesFactor=0: last bucket is null: %v", got[0].Datapoints)
	}
	q2.Set("xFilesFactor", "0.5")
	got = decodeJSON(t, get(h.Render, "/render", q2).Body)
	if last := got[0].Datapoints[len(got[0].Datapoints)-1]; last[0] != nil {
		t.Fatalf("xFilesFactor=0.5: last bucket %v, want null", *last[0])
	}
	// Fewer points than asked for: unchanged.
	q.Set("maxDataPoints", "100")
	got = decodeJSON(t, get(h.Render, "/render", q).Body)
	if len(got[0].Datapoints) != 66 {
		t.Fatalf("maxDataPoints=100 gave %d points", len(got[0].Datapoints))
	}
}

func TestRenderPOST(t *testing.T) {
	h := newTestHandler(t)
	body := renderQuery("json", "sumSeries(a.b.c1,a.b.c2)").Encode()
	req := httptest.NewRequest(http.MethodPost, "/render", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.Render(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := decodeJSON(t, rec.Body)
	if len(got) != 1 || !sameFloats(values(t, got[0], t0, 10), each(sum, c1, c2)) {
		t.Fatalf("got %+v", got)
	}
}

func TestRenderErrors(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name  string
		query url.Values
		code  int
		msg   string
	}{
		{"bad from", withParam(renderQuery("json", "a.b.c1"), "from", "-1x"), 400, `from: cannot parse time "-1x"`},
		{"bad until", withParam(renderQuery("json", "a.b.c1"), "until", "soon"), 400, `until: cannot parse time "soon"`},
		{"empty range", withParam(withParam(renderQuery("json", "a.b.c1"), "from", "100"), "until", "100"), 400, "empty time range"},
		{"bad format", renderQuery("xml", "a.b.c1"), 400, `format: unsupported format "xml"`},
		{"bad tz", withParam(renderQuery("json", "a.b.c1"), "tz", "Mars/Olympus"), 400, `tz: unknown time zone "Mars/Olympus"`},
		{"bad maxDataPoints", withParam(renderQuery("json", "a.b.c1"), "maxDataPoints", "many"), 400, "maxDataPoints"},
		{"bad jsonp", withParam(renderQuery("json", "a.b.c1"), "jsonp", "alert(1)//"), 400, "jsonp"},
		{"unbalanced", renderQuery("json", "sumSeries(a.b.c1"), 400, "sumSeries(a.b.c1"},
		{"unknown function", renderQuery("json", "noSuchFunction(a.b.c1)"), 400, "noSuchFunction"},
		{"bad argument", renderQuery("json", "scale(a.b.c1,'x')"), 400, "scale"},
		{"bad tag expression", renderQuery("json", "seriesByTag('dc!=east')"), 400, "seriesByTag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h.Render, "/render", tt.query)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Fatalf("got %d %q, want %d containing %q", rec.Code, rec.Body, tt.code, tt.msg)
			}
		})
	}
}

// panicky is a function that panics, as some carbonapi functions have.
type panicky struct{}

func (panicky) Do(context.Context, interfaces.Evaluator, parser.Expr, int64, int64, map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	panic("index out of range [3] with length 3")
}

func (panicky) Description() map[string]types.FunctionDescription { return nil }

func TestRenderRecoversPanics(t *testing.T) {
	h := newTestHandler(t)
	metadata.RegisterFunction("corralTestPanic", panicky{})
	rec := get(h.Render, "/render", renderQuery("json", "corralTestPanic(a.b.c1)"))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "index out of range") {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	// The handler still works afterwards.
	if rec := get(h.Render, "/render", renderQuery("json", "a.b.c1")); rec.Code != http.StatusOK {
		t.Fatalf("after panic: %d %s", rec.Code, rec.Body)
	}
}

func TestRenderGraphFormats(t *testing.T) {
	h := newTestHandler(t)
	for _, format := range []string{"png", "svg"} {
		t.Run(format, func(t *testing.T) {
			rec := get(h.Render, "/render", renderQuery(format, "color(a.b.c1,'red')"))
			switch rec.Code {
			case http.StatusOK:
				want := map[string]string{"png": "image/png", "svg": "image/svg+xml"}[format]
				if ct := rec.Header().Get("Content-Type"); ct != want {
					t.Fatalf("Content-Type %q, want %q", ct, want)
				}
				if format == "png" && !bytes.HasPrefix(rec.Body.Bytes(), []byte("\x89PNG\r\n\x1a\n")) {
					t.Fatalf("not a PNG: %q", rec.Body.Bytes()[:min(16, rec.Body.Len())])
				}
				if format == "svg" && !bytes.Contains(rec.Body.Bytes(), []byte("<svg")) {
					t.Fatalf("not an SVG: %q", rec.Body.Bytes()[:min(64, rec.Body.Len())])
				}
			case http.StatusBadRequest, http.StatusInternalServerError:
				// The graph package is not drawing yet: its error must
				// reach the client as a message.
				if strings.TrimSpace(rec.Body.String()) == "" {
					t.Fatalf("status %d without a message", rec.Code)
				}
			default:
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestGraphSeriesCarriesStyle(t *testing.T) {
	h := newTestHandler(t)
	req, err := h.ParseRequest(renderQuery("png", "color(lineWidth(dashed(alias(a.b.c1,'x')),3),'red')", "secondYAxis(stacked(a.b.c3))", "threshold(5,'limit','blue')"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := h.eval(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	gs := graphSeries(rs)
	if len(gs) != 3 {
		t.Fatalf("got %d series", len(gs))
	}
	if g := gs[0]; g.Name != "x" || g.Color != "red" || g.LineWidth != 3 || !g.Dashed || g.Stacked || g.Start != t0 || g.Step != 10 || !sameFloats(g.Values, c1) {
		t.Fatalf("series 0: %+v", g)
	}
	if g := gs[1]; g.Name != "a.b.c3" || !g.Stacked || !g.SecondYAxis || g.Color != "" {
		t.Fatalf("series 1: %+v", g)
	}
	if g := gs[2]; g.Name != "limit" || g.Color != "blue" || !sameFloats(g.Values, []float64{5, 5, 5}) {
		t.Fatalf("series 2: %+v", g)
	}
}

func TestParseRequestDefaults(t *testing.T) {
	h := newTestHandler(t)
	now := int64(t0 + 3600)
	req, err := h.ParseRequest(url.Values{"target[]": {"a.b.c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if req.Format != "png" || req.From != now-86400 || req.Until != now || len(req.Targets) != 1 {
		t.Fatalf("defaults: %+v", req)
	}
	// from after until is swapped, as graphite-web does.
	req, err = h.ParseRequest(url.Values{"from": {"-1h"}, "until": {"-2h"}, "format": {"json"}})
	if err != nil || req.From != now-7200 || req.Until != now-3600 {
		t.Fatalf("swap: %+v, %v", req, err)
	}
	req, err = h.ParseRequest(url.Values{"pickle": {"1"}})
	if err != nil || req.Format != "pickle" {
		t.Fatalf("pickle=1: %+v, %v", req, err)
	}
}

func TestFunctions(t *testing.T) {
	h := newTestHandler(t)
	rec := get(h.Functions, "/functions", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var all map[string]funcDescJSON
	decodeInto(t, rec.Body.Bytes(), &all)
	if len(all) < 150 {
		t.Fatalf("only %d functions listed", len(all))
	}
	sum, ok := all["sumSeries"]
	if !ok {
		t.Fatal("sumSeries missing")
	}
	if sum.Name != "sumSeries" || sum.Group != "Combine" || len(sum.Params) == 0 || sum.Params[0].Type != "seriesList" || !sum.Params[0].Required {
		t.Fatalf("sumSeries: %+v", sum)
	}
	for _, name := range []string{"movingAverage", "seriesByTag", "color", "threshold", "groupByNode", "aliasByTags"} {
		if _, ok := all[name]; !ok {
			t.Errorf("%s missing from /functions", name)
		}
	}
	// aggFunc parameters keep their type (carbonapi's omitempty drops it).
	for _, p := range all["groupByNode"].Params {
		if p.Type == "" {
			t.Errorf("groupByNode param %q has no type", p.Name)
		}
	}

	var grouped map[string]map[string]funcDescJSON
	decodeInto(t, get(h.Functions, "/functions", url.Values{"grouped": {"true"}}).Body.Bytes(), &grouped)
	if _, ok := grouped["Combine"]["sumSeries"]; !ok {
		t.Fatalf("grouped: no Combine/sumSeries in %d groups", len(grouped))
	}

	req := httptest.NewRequest(http.MethodGet, "/functions/sumSeries", nil)
	rec = httptest.NewRecorder()
	h.Functions(rec, req)
	var one funcDescJSON
	decodeInto(t, rec.Body.Bytes(), &one)
	if one.Name != "sumSeries" {
		t.Fatalf("/functions/sumSeries: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	h.Functions(rec, httptest.NewRequest(http.MethodGet, "/functions/noSuch", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("/functions/noSuch: %d", rec.Code)
	}
}

type funcDescJSON struct {
	Name   string `json:"name"`
	Group  string `json:"group"`
	Params []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Required bool   `json:"required"`
	} `json:"params"`
}

func TestTagEndpoints(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name string
		fn   http.HandlerFunc
		q    url.Values
		code int
		want string
	}{
		{"tags", h.TagsAutoCompleteTags, nil, 200, `["dc","host","name"]`},
		{"tags expr", h.TagsAutoCompleteTags, url.Values{"expr": {"name=cpu", "dc=east"}}, 200, `["host"]`},
		{"tags prefix", h.TagsAutoCompleteTags, url.Values{"tagPrefix": {"h"}}, 200, `["host"]`},
		{"tags limit", h.TagsAutoCompleteTags, url.Values{"limit": {"1"}}, 200, `["dc"]`},
		{"values", h.TagsAutoCompleteValues, url.Values{"tag": {"host"}}, 200, `["a","b","c"]`},
		{"values expr", h.TagsAutoCompleteValues, url.Values{"tag": {"host"}, "expr": {"dc=east"}}, 200, `["a","b"]`},
		{"values prefix", h.TagsAutoCompleteValues, url.Values{"tag": {"dc"}, "valuePrefix": {"w"}}, 200, `["west"]`},
		{"values no tag", h.TagsAutoCompleteValues, nil, 400, "tag"},
		{"find", h.TagsFindSeries, url.Values{"expr": {"dc=west"}}, 200, `["cpu;dc=west;host=c"]`},
		{"find jquery", h.TagsFindSeries, url.Values{"expr[]": {"host=~[ab]"}}, 200, `["cpu;dc=east;host=a","cpu;dc=east;host=b"]`},
		{"find none", h.TagsFindSeries, url.Values{"expr": {"dc=north"}}, 200, `[]`},
		{"find no expr", h.TagsFindSeries, nil, 400, "no tag expressions"},
		{"find only negative", h.TagsFindSeries, url.Values{"expr": {"dc!=east"}}, 400, "at least one"},
		{"tag list", h.Tags, nil, 200, `[{"tag":"dc"},{"tag":"host"},{"tag":"name"}]`},
		{"tag list filter", h.Tags, url.Values{"filter": {"^h"}}, 200, `[{"tag":"host"}]`},
		{"jsonp", h.TagsFindSeries, url.Values{"expr": {"dc=west"}, "jsonp": {"f"}}, 200, `f(["cpu;dc=west;host=c"])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(tt.fn, "/tags", tt.q)
			if rec.Code != tt.code {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body := strings.TrimSpace(rec.Body.String())
			if tt.code == 200 && body != tt.want || tt.code != 200 && !strings.Contains(body, tt.want) {
				t.Fatalf("body %q, want %q", body, tt.want)
			}
		})
	}
}

func TestNewRequiresFetcher(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a Fetcher succeeded")
	}
}

func TestAppendPyFloat(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{1, "1.0"}, {0, "0.0"}, {-2.5, "-2.5"}, {0.1, "0.1"}, {1e16, "1e+16"}, {1.5e-7, "1.5e-07"},
		{123456789012345.0, "123456789012345.0"}, {0.0001, "0.0001"}, {0.00001, "1e-05"}, {math.Inf(1), "inf"},
	}
	for _, tt := range tests {
		if got := string(appendPyFloat(nil, tt.v)); got != tt.want {
			t.Errorf("appendPyFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b[:min(200, len(b))], err)
	}
}

// failingFetcher fails for every series but those of its inner fetcher.
type failingFetcher struct{ *memFetcher }

func (f failingFetcher) Fetch(name string, from, until int64) (whisper.Series, error) {
	if name == "a.b.c2" {
		return whisper.Series{}, errors.New("read a/b/c2.wsp: input/output error")
	}
	return f.memFetcher.Fetch(name, from, until)
}

func TestRenderLimitsAndStorageErrors(t *testing.T) {
	ix, tg, f := testData()
	now := func() time.Time { return time.Unix(testNow, 0) }
	h, err := New(Options{Index: ix, Tags: tg, Fetcher: f, Now: now, MaxPoints: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Three series of six points are more than ten.
	rec := get(h.Render, "/render", renderQuery("json", "sumSeries(a.b.c*)"))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "more than 10 points") {
		t.Fatalf("MaxPoints: %d %q", rec.Code, rec.Body)
	}
	if rec := get(h.Render, "/render", renderQuery("json", "a.b.c1")); rec.Code != http.StatusOK {
		t.Fatalf("under MaxPoints: %d %q", rec.Code, rec.Body)
	}
	h, err = New(Options{Index: ix, Tags: tg, Fetcher: failingFetcher{f}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"a.b.c*", "movingAverage(a.b.c2,2)"} {
		rec = get(h.Render, "/render", renderQuery("json", target))
		if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "input/output error") {
			t.Fatalf("%s with a storage error: %d %q", target, rec.Code, rec.Body)
		}
	}
	h, err = New(Options{Index: ix, Tags: tg, Fetcher: f, Now: now, MaxTimeRange: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	q := withParam(renderQuery("json", "a.b.c1"), "from", "-3d")
	q.Del("until")
	if rec := get(h.Render, "/render", q); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "time range") {
		t.Fatalf("MaxTimeRange: %d %q", rec.Code, rec.Body)
	}
}
