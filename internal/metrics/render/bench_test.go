package render

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"corral/internal/metrics/index"
	"corral/internal/metrics/whisper"
)

// sliceFetcher serves pre-built series of one step. With copy set it copies
// the values, as a whisper read allocates them; otherwise it hands out the
// stored slice (carbonapi's functions do not write to their inputs).
type sliceFetcher struct {
	start, step int64
	vals        map[string][]float64
	copy        bool
}

func (f *sliceFetcher) Fetch(name string, from, until int64) (whisper.Series, error) {
	v, ok := f.vals[name]
	if !ok {
		return whisper.Series{}, whisper.ErrNotFound
	}
	lo := max(0, (from-f.start)/f.step+1)
	hi := min(int64(len(v)), (until-f.start)/f.step+1)
	if lo > hi {
		lo = hi
	}
	out := v[lo:hi]
	if f.copy {
		out = make([]float64, hi-lo)
		copy(out, v[lo:hi])
	}
	return whisper.Series{Start: f.start + lo*f.step, Until: f.start + hi*f.step, Step: f.step, Values: out}, nil
}

// BenchmarkSumSeries1000x24h renders sumSeries over 1,000 series of 24 h at
// 10 s (8,640 points each) as JSON, from an in-memory fetcher that shares
// its slices ("shared") or copies them like a whisper read ("copy").
func BenchmarkSumSeries1000x24h(b *testing.B) {
	for _, cp := range []bool{false, true} {
		b.Run(map[bool]string{false: "shared", true: "copy"}[cp], func(b *testing.B) { benchSumSeries(b, cp) })
	}
}

func benchSumSeries(b *testing.B, copyValues bool) {
	const n, points, step = 1000, 8640, 10
	now := int64(1700000000)
	start := now - points*step
	ix := index.New()
	f := &sliceFetcher{start: start, step: step, vals: map[string][]float64{}, copy: copyValues}
	for i := range n {
		name := fmt.Sprintf("servers.host%04d.cpu.user", i)
		ix.Add(name)
		v := make([]float64, points)
		for j := range v {
			v[j] = float64((i + j) % 100)
			if j%97 == 0 {
				v[j] = math.NaN()
			}
		}
		f.vals[name] = v
	}
	h, err := New(Options{Index: ix, Fetcher: f, Now: func() time.Time { return time.Unix(now, 0) }})
	if err != nil {
		b.Fatal(err)
	}
	q := url.Values{"target": {"sumSeries(servers.*.cpu.user)"}, "from": {"-24h"}, "format": {"json"}}
	req := httptest.NewRequest(http.MethodGet, "/render?"+q.Encode(), nil)
	// The sum at the first point, computed from the inputs.
	want := 0.0
	for _, v := range f.vals {
		if !math.IsNaN(v[1]) {
			want += v[1]
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.Render(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if !bytes.Contains(rec.Body.Bytes(), fmt.Appendf(nil, `"datapoints": [[%s, %d]`, appendPyFloat(nil, want), start+step)) {
			b.Fatalf("unexpected body %.200s", rec.Body.Bytes())
		}
	}
}
