package whisper

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func TestCacheFetchBeforeFlush(t *testing.T) {
	s := openStore(t, Options{})
	c := NewCache(s, CacheOptions{})
	end := time.Now().Unix() - 30
	end -= end % 10
	pts := series10s(end, func(i int) float64 { return float64(i) })
	if err := c.Write("c.a", pts[:360]); err != nil {
		t.Fatal(err)
	}
	if err := c.flush("c.a"); err != nil { // first hour on disk
		t.Fatal(err)
	}
	if err := c.Write("c.a", pts[360:]); err != nil { // second hour cached only
		t.Fatal(err)
	}
	if err := c.Write("c.new", pts); err != nil { // no file at all yet
		t.Fatal(err)
	}
	raw := map[int64]float64{}
	for _, p := range pts {
		raw[p.Time] = p.Value
	}
	for _, name := range []string{"c.a", "c.new"} {
		got, err := c.Fetch(name, end-7201, end)
		if err != nil {
			t.Fatal(err)
		}
		checkSeries(t, got, raw, 10)
	}
	// The 1 m archive: cached points are rolled up with the series' method.
	got, err := c.Fetch("c.new", end-7*3600, end)
	if err != nil {
		t.Fatal(err)
	}
	want := rollup(pts, 60, "average", 0)
	checkSeries(t, got, want, 60)
	if _, err := c.Fetch("c.none", end-60, end); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache(openStore(t, Options{}), CacheOptions{MaxPoints: 10})
	now := time.Now().Unix()
	pts := func(n int) []Point {
		out := make([]Point, n)
		for i := range out {
			out[i] = Point{now - int64(i)*10, 1}
		}
		return out
	}
	if err := c.Write("a", pts(8)); err != nil {
		t.Fatal(err)
	}
	if err := c.Write("b", pts(3)); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("err = %v, want ErrCacheFull", err)
	}
	if err := c.Write("b", pts(2)); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Points != 10 || st.Series != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if err := c.flush("a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Write("b", pts(8)); err != nil {
		t.Fatalf("after flush: %v", err)
	}
}

func TestCacheCloseFlushes(t *testing.T) {
	s := openStore(t, Options{})
	c := NewCache(s, CacheOptions{})
	now := time.Now().Unix() - 20
	now -= now % 10
	for i := range 50 {
		if err := c.Write(fmt.Sprintf("close.m%d", i), []Point{{now, float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Write("close.m1", []Point{{now, 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	for i := range 50 {
		got, err := s.Fetch(fmt.Sprintf("close.m%d", i), now-1, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Values) != 1 || got.Values[0] != float64(i) {
			t.Fatalf("m%d: %+v", i, got)
		}
	}
	if st := c.Stats(); st.Points != 0 || st.Written != 50 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCacheRun(t *testing.T) {
	s := openStore(t, Options{})
	c := NewCache(s, CacheOptions{MaxAge: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	now := time.Now().Unix() - 20
	now -= now % 10
	if err := c.Write("run.a", []Point{{now, 42}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Written == 0 {
		if time.Now().After(deadline) {
			t.Fatal("flusher did not write")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, err := s.Fetch("run.a", now-1, now)
	if err != nil || len(got.Values) != 1 || got.Values[0] != 42 {
		t.Fatalf("fetch = %+v, %v", got, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAggregate(t *testing.T) {
	vals := []float64{3, -9, 4, 1}
	tests := []struct {
		method string
		slots  int
		want   float64
	}{
		{"average", 6, -0.25}, {"sum", 6, -1}, {"last", 6, 1}, {"max", 6, 4}, {"min", 6, -9},
		{"avg_zero", 8, -0.125}, {"absmax", 6, -9}, {"absmin", 6, 1},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			if got := aggregate(tt.method, vals, tt.slots); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkWrite measures points per second into 10,000 series through the
// cache and its flusher, until every point is on disk.
func BenchmarkWrite(b *testing.B) {
	const nseries = 10000
	s := openStore(b, Options{Schemas: Schemas{{Name: "bench", Retentions: []Retention{{10, 360}, {60, 1440}}}}})
	c := NewCache(s, CacheOptions{MaxPoints: 10_000_000, MaxAge: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	names := make([]string, nseries)
	for i := range names {
		names[i] = fmt.Sprintf("bench.host%03d.metric%02d", i/100, i%100)
	}
	now := time.Now().Unix() - 3500
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := []Point{{now + int64(i/nseries)*10%3400, float64(i)}}
		for c.Write(names[i%nseries], p) != nil {
			time.Sleep(time.Millisecond)
		}
	}
	for c.Stats().Points > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.N)/float64(c.Stats().Updates), "points/update")
	cancel()
	<-done
	if st := c.Stats(); st.FailedPoints != 0 {
		b.Fatalf("failed points: %d", st.FailedPoints)
	}
}

// BenchmarkCacheFlush100kSeries writes rounds of one point for each of
// 100,000 series (files already created, 1 s resolution so every point has
// its own slot) through WriteMany in batches of 1,000 as the carbon
// receivers do, with the flushers running, and stops the clock when every
// point is on disk. One op is one round of 100,000 points.
func BenchmarkCacheFlush100kSeries(b *testing.B) {
	const nseries, batch = 100_000, 1000
	s := openStore(b, Options{Schemas: Schemas{{Name: "bench", Retentions: []Retention{{1, 1800}, {60, 1440}}}}})
	c := NewCache(s, CacheOptions{MaxPoints: 20_000_000, MaxAge: time.Second})
	names := make([]string, nseries)
	for i := range names {
		names[i] = fmt.Sprintf("bench.host%04d.cpu.metric%02d", i/100, i%100)
	}
	t0 := time.Now().Unix() - 1700
	round := func(r int) {
		for i := 0; i < nseries; i += batch {
			for c.WriteMany(batch, func(j int) (string, Point) {
				return names[i+j], Point{t0 + int64(r), float64(r*nseries + i + j)}
			}, nil) != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}
	round(0) // create the files
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	c = NewCache(s, CacheOptions{MaxPoints: 20_000_000, MaxAge: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	r := 0
	b.ResetTimer()
	for b.Loop() {
		r++
		round(r % 1600)
	}
	for c.Stats().Points > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	st := c.Stats()
	b.ReportMetric(float64(st.Written)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(st.Written)/float64(st.Updates), "points/update")
	cancel()
	<-done
	if st.FailedPoints != 0 || st.Written != int64(r)*nseries {
		b.Fatalf("stats %+v, want %d written", st, r*nseries)
	}
}
