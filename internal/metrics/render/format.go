package render

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-graphite/carbonapi/expr/consolidations"
	"github.com/go-graphite/carbonapi/expr/types"

	"corral/internal/metrics/index"
)

// point is one output datapoint: a value (NaN: null) at Unix time ts.
type point struct {
	v  float64
	ts int64
}

// outSeries is a result series ready for the text formats.
type outSeries struct {
	name   string
	tags   map[string]string
	points []point
}

// seriesPoints pairs values with timestamps as graphite-web's
// zip(series, range(start, end+1, step)) does: the shorter side wins.
func seriesPoints(vals []float64, start, end, step int64) []point {
	n := len(vals)
	if step > 0 && end >= start {
		if m := (end-start)/step + 1; m < int64(n) {
			n = int(m)
		}
	} else if step <= 0 {
		n = min(n, 1)
	}
	out := make([]point, n)
	for i := range out {
		out[i] = point{vals[i], start + int64(i)*step}
	}
	return out
}

// jsonSeries builds the "json" format's series as graphite-web's
// renderViewJson does: with maxDataPoints (> 0) values are consolidated with
// each series' consolidation function and the start nudged so buckets stay
// aligned across refreshes; then with noNullPoints nulls are dropped and
// series left empty are omitted.
//
// xff is the request's xFilesFactor, used for series whose own is 0 (not set
// by setXFilesFactor).
func jsonSeries(results []*types.MetricData, maxDataPoints int64, noNullPoints bool, xff float32) []outSeries {
	out := make([]outSeries, 0, len(results))
	if len(results) == 0 {
		return out
	}
	startTime, endTime := results[0].StartTime, results[0].StopTime
	for _, r := range results {
		startTime = min(startTime, r.StartTime)
		endTime = max(endTime, r.StopTime)
	}
	for _, r := range results {
		var pts []point
		if maxDataPoints > 0 {
			pts = consolidate(r, maxDataPoints, endTime-startTime, xff)
		} else {
			pts = seriesPoints(r.Values, r.StartTime, r.StopTime, r.StepTime)
		}
		if noNullPoints {
			known := pts[:0]
			for _, p := range pts {
				if !math.IsNaN(p.v) {
					known = append(known, p)
				}
			}
			if len(known) == 0 {
				continue
			}
			pts = known
		}
		out = append(out, outSeries{name: r.Name, tags: r.Tags, points: pts})
	}
	return out
}

// consolidate is graphite-web's maxDataPoints handling of one series.
func consolidate(r *types.MetricData, maxDataPoints, timeRange int64, xff float32) []point {
	if r.XFilesFactor != 0 {
		xff = r.XFilesFactor
	}
	vals, start, step := r.Values, r.StartTime, r.StepTime
	agg := aggregator(r)
	if maxDataPoints == 1 {
		return []point{{consolidateBucket(vals, len(vals), agg, xff), start}}
	}
	if step <= 0 || float64(maxDataPoints) >= float64(timeRange)/float64(step) {
		return seriesPoints(vals, start, r.StopTime, step)
	}
	valuesPerPoint := int64(math.Ceil(float64(timeRange) / float64(step) / float64(maxDataPoints)))
	secondsPerPoint := valuesPerPoint * step
	// Nudge the start so buckets align with multiples of secondsPerPoint.
	// graphite-web drops valuesToLose-1 values (range(1, valuesToLose)).
	nudge := secondsPerPoint + pyMod(start, step) - pyMod(start, secondsPerPoint)
	start += nudge
	if lose := nudge/step - 1; lose > 0 {
		vals = vals[min(int(lose), len(vals)):]
	}
	var cons []float64
	for len(vals) > 0 {
		n := min(int(valuesPerPoint), len(vals))
		cons = append(cons, consolidateBucket(vals[:n], int(valuesPerPoint), agg, xff))
		vals = vals[n:]
	}
	return seriesPoints(cons, start, r.StopTime, secondsPerPoint)
}

// pyMod is Python's % (the result has the divisor's sign).
func pyMod(a, b int64) int64 {
	m := a % b
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m
}

// aggregator returns the series' consolidation function (average when
// unknown), as set by consolidateBy().
func aggregator(r *types.MetricData) func([]float64) float64 {
	if f, ok := consolidations.ConsolidationToFunc[strings.ToLower(r.ConsolidationFunc)]; ok {
		return f
	}
	return consolidations.AggMean
}

// consolidateBucket applies agg to the non-null values of one bucket of
// valuesPerPoint values, or yields null when too few are known
// (xFilesFactor), as graphite-web's TimeSeries.__consolidatingGenerator.
func consolidateBucket(buf []float64, valuesPerPoint int, agg func([]float64) float64, xff float32) float64 {
	known := make([]float64, 0, len(buf))
	for _, v := range buf {
		if !math.IsNaN(v) {
			known = append(known, v)
		}
	}
	if len(known) == 0 || float64(len(known))/float64(valuesPerPoint) < float64(xff) {
		return math.NaN()
	}
	return agg(known)
}

// appendPyFloat formats v as Python's repr(float) does ("1.0", "0.1",
// "1e+16", "1.5e-07"); callers handle NaN.
func appendPyFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "inf"...)
	case math.IsInf(v, -1):
		return append(b, "-inf"...)
	}
	if v == 0 {
		if math.Signbit(v) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	exp := int(math.Floor(math.Log10(math.Abs(v))))
	// Log10 can be off by one near powers of ten; let 'e' formatting decide.
	e := strconv.FormatFloat(v, 'e', -1, 64)
	if i := strings.LastIndexByte(e, 'e'); i >= 0 {
		exp, _ = strconv.Atoi(e[i+1:])
	}
	if exp < -4 || exp >= 16 {
		return append(b, e...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	if !strings.ContainsRune(string(b[start:]), '.') {
		b = append(b, ".0"...)
	}
	return b
}

// appendJSONFloat is appendPyFloat for JSON: graphite-web's FloatEncoder
// writes infinities as 1e9999.
func appendJSONFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "null"...)
	case math.IsInf(v, 1):
		return append(b, "1e9999"...)
	case math.IsInf(v, -1):
		return append(b, "-1e9999"...)
	}
	return appendPyFloat(b, v)
}

// marshalJSON writes series as graphite-web's json format:
//
//	[{"target": "a.b", "tags": {"name": "a.b"}, "datapoints": [[1.0, 60], [null, 120]]}]
func marshalJSON(series []outSeries) []byte {
	n := 2
	for _, s := range series {
		n += 64 + len(s.name) + 24*len(s.points)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, s := range series {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"target": `...)
		b = index.AppendPyString(b, s.name)
		b = append(b, `, "tags": {`...)
		keys := make([]string, 0, len(s.tags))
		for k := range s.tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for j, k := range keys {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = index.AppendPyString(b, k)
			b = append(b, ": "...)
			b = index.AppendPyString(b, s.tags[k])
		}
		b = append(b, `}, "datapoints": [`...)
		for j, p := range s.points {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			b = appendJSONFloat(b, p.v)
			b = append(b, ", "...)
			b = strconv.AppendInt(b, p.ts, 10)
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

// marshalCSV writes graphite-web's csv format (Python's csv excel dialect):
// name,YYYY-MM-DD HH:MM:SS,value per point in the request's time zone,
// an empty value for null, CRLF line ends.
func marshalCSV(results []*types.MetricData, loc *time.Location) []byte {
	var b []byte
	for _, r := range results {
		name := csvField(r.Name)
		for i, v := range r.Values {
			b = append(b, name...)
			b = append(b, ',')
			b = time.Unix(r.StartTime+int64(i)*r.StepTime, 0).In(loc).AppendFormat(b, "2006-01-02 15:04:05")
			b = append(b, ',')
			if !math.IsNaN(v) {
				b = appendPyFloat(b, v)
			}
			b = append(b, '\r', '\n')
		}
	}
	return b
}

// csvField quotes s when Python's csv module would (QUOTE_MINIMAL).
func csvField(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// marshalRaw writes graphite-web's raw format, one line per series:
// name,start,end,step|v1,v2,None
func marshalRaw(results []*types.MetricData) []byte {
	var b []byte
	for _, r := range results {
		b = append(b, r.Name...)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.StartTime, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.StopTime, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.StepTime, 10)
		b = append(b, '|')
		for i, v := range r.Values {
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(v) {
				b = append(b, "None"...)
			} else {
				b = appendPyFloat(b, v)
			}
		}
		b = append(b, '\n')
	}
	return b
}
