package whisper

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustSchemas(t testing.TB, conf string) Schemas {
	t.Helper()
	s, err := ParseSchemas(strings.NewReader(conf), "storage-schemas.conf")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAggs(t testing.TB, conf string) Aggregations {
	t.Helper()
	a, err := ParseAggregations(strings.NewReader(conf), "storage-aggregation.conf")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	opts.Sparse = true
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPath(t *testing.T) {
	tests := []struct {
		name, metric, want, wantErr string
		full                        bool
	}{
		{name: "plain", metric: "a.b.c", want: "a/b/c.wsp"},
		{name: "leading dot", metric: ".a.b", want: "a/b.wsp"},
		{name: "tagged hash", metric: "some.metric;tag1=value2;tag2=value.2",
			want: "_tagged/eff/aae/effaae5b55950b150a7493d2f5430772ca2460bf7cccb4d9e523643df54c010f.wsp"},
		{name: "tagged unsorted", metric: "some.metric;tag2=value.2;tag1=value2",
			want: "_tagged/eff/aae/effaae5b55950b150a7493d2f5430772ca2460bf7cccb4d9e523643df54c010f.wsp"},
		{name: "tagged full", full: true, metric: "some.metric;tag1=value2;tag2=value.2",
			want: "_tagged/eff/aae/some_DOT_metric;tag1=value2;tag2=value_DOT_2.wsp"},
		{name: "empty part", metric: "a..b", wantErr: "invalid"},
		{name: "dotdot", metric: "a/../../etc", wantErr: "invalid"},
		{name: "empty tag", metric: "a;b=", wantErr: "invalid"},
		{name: "no name", metric: ";b=c", wantErr: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, Options{TagFullFilenames: tt.full})
			got, err := s.Path(tt.metric)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("err = %v, want ErrInvalidName", err)
				}
				return
			}
			if err != nil || got != filepath.FromSlash(tt.want) {
				t.Fatalf("Path = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestOpenAggregationMethods(t *testing.T) {
	for _, m := range AggregationMethods {
		if _, err := Open(Options{Root: t.TempDir(), Aggregations: mustAggs(t, "[z]\npattern = .\naggregationMethod = "+m+"\n")}); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	bad := Aggregations{{Name: "z", Method: "median"}}
	if _, err := Open(Options{Root: t.TempDir(), Aggregations: bad}); !errors.Is(err, ErrUnsupportedAggregation) {
		t.Fatalf("median: err = %v", err)
	}
}

// series10s makes points every 10 s for the two hours before end, value f(i).
func series10s(end int64, f func(i int) float64) []Point {
	start := end - 7200
	var pts []Point
	for i, ts := 0, start; ts <= end; i, ts = i+1, ts+10 {
		pts = append(pts, Point{ts, f(i)})
	}
	return pts
}

// rollup computes whisper's propagation into step-second buckets
// independently: known points per bucket, xff against step/10 slots.
func rollup(pts []Point, step int64, method string, xff float64) map[int64]float64 {
	groups := map[int64][]float64{}
	var order []int64
	for _, p := range pts {
		b := p.Time - p.Time%step
		if _, ok := groups[b]; !ok {
			order = append(order, b)
		}
		groups[b] = append(groups[b], p.Value)
	}
	out := map[int64]float64{}
	for _, b := range order {
		vals := groups[b]
		if float64(len(vals))/float64(step/10) < xff {
			continue
		}
		out[b] = aggregate(method, vals, int(step/10))
	}
	return out
}

func checkSeries(t *testing.T, s Series, want map[int64]float64, step int64) {
	t.Helper()
	if s.Step != step {
		t.Fatalf("step = %d, want %d", s.Step, step)
	}
	seen := 0
	for i, v := range s.Values {
		ts := s.Start + int64(i)*s.Step
		w, ok := want[ts]
		switch {
		case !ok && !math.IsNaN(v):
			t.Fatalf("at %d: got %v, want NaN", ts, v)
		case ok && math.Abs(v-w) > 1e-9:
			t.Fatalf("at %d: got %v, want %v", ts, v, w)
		case ok:
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("saw %d of %d expected values", seen, len(want))
	}
}

func TestStoreRoundTrip(t *testing.T) {
	schemas := mustSchemas(t, "[short]\npattern = ^short\\.\nretentions = 10s:3h,1m:1d\n[default]\npattern = .*\nretentions = 10s:6h,1m:7d,10m:5y\n")
	aggs := mustAggs(t, DefaultAggregationConf+"[last]\npattern = \\.last$\naggregationMethod = last\nxFilesFactor = 0.5\n")
	aggs = append(aggs[len(aggs)-1:], aggs[:len(aggs)-1]...) // [last] first
	s := openStore(t, Options{Schemas: schemas, Aggregations: aggs})
	end := time.Now().Unix() - 30
	end -= end % 10
	vals := func(i int) float64 { return float64(i%17)*1.25 - 7 + float64(i%5)/3 }
	tests := []struct {
		metric, method string
		xff            float64
		sparse         bool // write every other point only
	}{
		{metric: "app.latency", method: "average", xff: 0.5},
		{metric: "app.latency.sparse", method: "average", xff: 0.5, sparse: true},
		{metric: "app.requests.count", method: "sum", xff: 0},
		{metric: "app.requests.sum", method: "sum", xff: 0},
		{metric: "app.latency.max", method: "max", xff: 0.1},
		{metric: "app.latency.min", method: "min", xff: 0.1},
		{metric: "app.gauge.last", method: "last", xff: 0.5},
		{metric: "short.latency", method: "average", xff: 0.5},
		{metric: "app.tagged;host=a;dc=x", method: "average", xff: 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			pts := series10s(end, vals)
			if tt.sparse {
				var odd []Point
				for i, p := range pts {
					if i%2 == 1 || (p.Time/60)%7 == 0 {
						odd = append(odd, p)
					}
				}
				pts = odd
			}
			if err := s.Write(tt.metric, pts); err != nil {
				t.Fatal(err)
			}
			// The 10 s archive holds every point.
			raw := map[int64]float64{}
			for _, p := range pts {
				raw[p.Time] = p.Value
			}
			got, err := s.Fetch(tt.metric, end-7201, end) // whisper returns (from, until]
			if err != nil {
				t.Fatal(err)
			}
			checkSeries(t, got, raw, 10)
			// From beyond the first archive's span, whisper picks the 1 m archive.
			from := end - 4*3600
			if !strings.HasPrefix(tt.metric, "short.") {
				from = end - 7*3600
			}
			got, err = s.Fetch(tt.metric, from, end)
			if err != nil {
				t.Fatal(err)
			}
			checkSeries(t, got, rollup(pts, 60, tt.method, tt.xff), 60)
		})
	}
	if _, err := s.Fetch("no.such.metric", end-60, end); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: err = %v", err)
	}
}

func TestWindowMatchesStore(t *testing.T) {
	rets := []Retention{{10, 2160}, {60, 10080}, {600, 262800}}
	s := openStore(t, Options{Schemas: Schemas{{Name: "x", Retentions: rets}}})
	now := time.Now().Unix()
	if err := s.Write("w", []Point{{now - 100, 1}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{now - 3600, now - 60}, {now - 8*3600, now - 7200}, {now - 30*86400, now}, {now - 500, now - 500}} {
		got, err := s.Fetch("w", r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		want := emptySeries(rets, time.Unix(now, 0), r[0], r[1])
		if got.Start != want.Start || got.Step != want.Step || len(got.Values) != len(want.Values) {
			t.Fatalf("range %v: store %d/%d/%d, window %d/%d/%d", r, got.Start, got.Step, len(got.Values), want.Start, want.Step, len(want.Values))
		}
	}
}

func TestCreatePreallocated(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root, Schemas: Schemas{{Name: "p", Retentions: []Retention{{10, 360}, {60, 1440}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Unix()
	if err := s.Write("pre.a", []Point{{now - 30, 4}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "pre", "a.wsp"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(16 + 2*12 + (360+1440)*12); fi.Size() != want {
		t.Fatalf("size %d, want %d", fi.Size(), want)
	}
	got, err := s.Fetch("pre.a", now-60, now)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, got, map[int64]float64{now - 30 - mod(now-30, 10): 4}, 10)
}
