package whisper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the cache.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) now() time.Time       { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) add(d time.Duration)  { f.ns.Add(int64(d)) }
func newFakeClock(t time.Time) *fakeClock { f := &fakeClock{}; f.ns.Store(t.UnixNano()); return f }
func flushAll(c *Cache, all bool) (n int) {
	p := c.policy(all)
	for i := range c.shards {
		n += c.flushShard(context.Background(), &c.shards[i], p, nil)
	}
	return n
}

func TestCacheFlushPolicy(t *testing.T) {
	base := time.Now().Add(-time.Minute).Truncate(10 * time.Second)
	pt := func(i int) []Point { return []Point{{base.Unix() + int64(i)*10, float64(i)}} }
	tests := []struct {
		name      string
		maxPoints int
		write     map[string]int // series -> points queued at time 0
		later     map[string]int // series -> points queued at MaxAge/2
		advance   time.Duration  // clock moves this far after the writes
		want      []string       // series written by one pass
	}{
		{name: "young points wait", maxPoints: 1000, write: map[string]int{"a": 3, "b": 1}, advance: time.Second, want: nil},
		{name: "old points are written", maxPoints: 1000, write: map[string]int{"a": 3, "b": 1}, later: map[string]int{"c": 2},
			advance: 10 * time.Second, want: []string{"a", "b"}},
		{name: "pressure writes the series above average", maxPoints: 20, write: map[string]int{"a": 6, "b": 1, "c": 4}, // avg 3
			advance: 0, want: []string{"a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(base)
			s := openStore(t, Options{})
			c := NewCache(s, CacheOptions{MaxPoints: tt.maxPoints, MaxAge: 10 * time.Second, Now: clk.now, Workers: 1})
			queue := func(m map[string]int) {
				for name, n := range m {
					for i := range n {
						if err := c.Write(name, pt(i)); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			queue(tt.write)
			clk.add(5 * time.Second)
			queue(tt.later)
			clk.add(tt.advance - 5*time.Second)
			flushAll(c, false)
			var got []string
			for _, name := range []string{"a", "b", "c"} {
				if _, err := s.Fetch(name, base.Unix()-1, base.Unix()+100); err == nil {
					got = append(got, name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("written %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCacheWriteMany(t *testing.T) {
	s := openStore(t, Options{})
	c := NewCache(s, CacheOptions{MaxPoints: 5})
	now := time.Now().Unix() - 60
	now -= now % 10
	names := []string{"m.a", "m.b", "m.a"}
	at := func(i int) (string, Point) { return names[i], Point{now + int64(i)*10, float64(i + 1)} }
	var added []string
	if err := c.WriteMany(len(names), at, func(n string) { added = append(added, n) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(added) // called in shard order
	if fmt.Sprint(added) != "[m.a m.b]" {
		t.Fatalf("added %v", added)
	}
	// All or none: three more do not fit in five.
	if err := c.WriteMany(len(names), at, nil); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("err = %v, want ErrCacheFull", err)
	}
	if st := c.Stats(); st.Points != 3 || st.Series != 2 {
		t.Fatalf("stats %+v", st)
	}
	got, err := c.Fetch("m.a", now-1, now+30)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, got, map[int64]float64{now: 1, now + 20: 3}, 10)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMany(1, at, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	got, err = s.Fetch("m.a", now-1, now+30)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, got, map[int64]float64{now: 1, now + 20: 3}, 10)
}

// TestCacheConcurrent runs writers, the flushers and readers at once and
// checks that Close leaves every point in its file and the counters add up.
func TestCacheConcurrent(t *testing.T) {
	s := openStore(t, Options{Schemas: Schemas{{Name: "c", Retentions: []Retention{{1, 3600}}}}})
	c := NewCache(s, CacheOptions{MaxPoints: 500, MaxAge: 5 * time.Millisecond, Workers: 3})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	const writers, series, rounds = 4, 50, 40
	t0 := time.Now().Unix() - 3000
	var wg sync.WaitGroup
	var full atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				for {
					err := c.WriteMany(series, func(i int) (string, Point) {
						return fmt.Sprintf("conc.w%d.s%02d", w, i), Point{t0 + int64(r), float64(w*1000 + r)}
					}, nil)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrCacheFull) {
						t.Error(err)
						return
					}
					full.Add(1)
					time.Sleep(time.Millisecond)
				}
				if _, err := c.Fetch(fmt.Sprintf("conc.w%d.s%02d", w, r%series), t0-1, t0+rounds); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Points != 0 || st.Series != 0 || st.Written != writers*series*rounds || st.FailedPoints != 0 {
		t.Fatalf("stats %+v, want %d written", st, writers*series*rounds)
	}
	for w := range writers {
		for i := range series {
			got, err := s.Fetch(fmt.Sprintf("conc.w%d.s%02d", w, i), t0-1, t0+rounds-1)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, rounds)
			for r := range want {
				want[r] = float64(w*1000 + r)
			}
			if got.Start != t0 || !slices.Equal(got.Values, want) {
				t.Fatalf("w%d s%d: %+v", w, i, got)
			}
		}
	}
	t.Logf("cache full %d times; %d updates", full.Load(), st.Updates)
}
