package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/logs/query"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func open(t *testing.T, dir string, mod func(*Options)) *Store {
	t.Helper()
	c := &clock{t: t0}
	o := Options{Dir: dir, Now: c.now, NoSync: true}
	if mod != nil {
		mod(&o)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sample makes n entries one second apart from start: every 7th an error,
// statuses cycling 200, 404, 500, paths /health and /api/N, apps shop/api
// and shop/web and ops, and "upstream timeout" in every 10th message.
func sample(start time.Time, n, from int) []api.LogEntry {
	apps := []string{"shop/api", "shop/web", "ops"}
	statuses := []string{"200", "404", "500"}
	out := make([]api.LogEntry, n)
	for k := range out {
		i := from + k
		e := api.LogEntry{
			Time: start.Add(time.Duration(i) * time.Second), Node: fmt.Sprintf("n%d", i%2),
			Source: "file:/var/log/nginx/access.log", App: apps[i%3], Task: fmt.Sprintf("t%d", i%5),
			Stream: "stdout", Level: "info",
			Fields: map[string]string{"status": statuses[i%3], "bytes": fmt.Sprint(i * 10)},
		}
		if i%7 == 0 {
			e.Level = "error"
		}
		path := fmt.Sprintf("/api/%d", i)
		if i%4 == 0 {
			path = "/health"
		}
		e.Fields["path"] = path
		e.Message = fmt.Sprintf("GET %s HTTP/1.1 %s line %d", path, e.Fields["status"], i)
		if i%10 == 0 {
			e.Message += " upstream timeout"
		}
		out[k] = e
	}
	return out
}

// expect is the brute-force answer: entries matching q in [since, until),
// newest first (ties: later in all first).
func expect(all []api.LogEntry, q string, since, until time.Time) []api.LogEntry {
	pq := query.MustParse(q)
	var out []api.LogEntry
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if (!since.IsZero() && e.Time.Before(since)) || (!until.IsZero() && !e.Time.Before(until)) {
			continue
		}
		if query.Match(pq, &e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b api.LogEntry) int { return b.Time.Compare(a.Time) })
	return out
}

func messages(es []api.LogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func searchAll(t *testing.T, s *Store, q Query) []api.LogEntry {
	t.Helper()
	var all []api.LogEntry
	for {
		r, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("Search(%q): %v", q.Text, err)
		}
		all = append(all, r.Entries...)
		if r.Next == "" {
			return all
		}
		q.Cursor = r.Next
	}
}

var segmentSizes = []struct {
	name    string
	n       int
	workers int
}{
	{"sealed segments of 7", 7, 2},
	{"one active segment", 1 << 18, 3},
	{"one active segment, one index worker", 1 << 18, 1},
}

func TestSearchTerms(t *testing.T) {
	all := sample(t0, 200, 0)
	queries := []string{
		``, `status:500`, `status:5*`, `status>=404`, `status<404`, `bytes>1000`, `bytes<=50`,
		`app:shop/api`, `app:shop/*`, `-app:shop/*`, `task:t3 app:ops`, `level:error`, `node:n1`,
		`timeout`, `TIMEOUT`, `"upstream timeout"`, `"timeout upstream"`, `time*`, `upstr*`,
		`path:/health`, `-path:/health`, `status:500 -path:/health`, `level:error OR timeout`,
		`(app:ops OR app:shop/web) status:404`, `-(status:200 OR status:404)`, `path:/api/1*`,
		`"/api/15"`, `line`, `stream:*`, `missing:*`, `nosuchword`, `status:600`,
		`time>=2026-11-25T10:01:00Z time<2026-11-25T10:02:00Z`,
	}
	for _, sz := range segmentSizes {
		t.Run(sz.name, func(t *testing.T) {
			s := open(t, t.TempDir(), func(o *Options) { o.SegmentEntries = sz.n; o.IndexWorkers = sz.workers })
			for i := 0; i < len(all); i += 50 {
				if err := s.Append(context.Background(), all[i:i+50]); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range queries {
				got := searchAll(t, s, Query{Text: q, Limit: 13})
				want := expect(all, q, time.Time{}, time.Time{})
				if !slices.Equal(messages(got), messages(want)) {
					t.Errorf("Search(%q): %d entries %q..., want %d %q...", q, len(got), head(messages(got)), len(want), head(messages(want)))
				}
			}
			// The whole entry comes back.
			r, err := s.Search(context.Background(), Query{Text: `"line 199"`})
			if err != nil || len(r.Entries) != 1 {
				t.Fatalf("Search(line 199) = %v, %v", r.Entries, err)
			}
			if got, want := fmt.Sprint(r.Entries[0]), fmt.Sprint(all[199]); got != want {
				t.Errorf("entry = %s, want %s", got, want)
			}
		})
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }

func TestCounts(t *testing.T) {
	all := sample(t0, 200, 0)
	// Independently: 200 entries, statuses cycle by i%3: 200 for i%3==0
	// (67 of 0..199), 404 for i%3==1 (67), 500 for i%3==2 (66).
	for _, seg := range []int{64, 1 << 18} {
		t.Run(fmt.Sprintf("segments of %d", seg), func(t *testing.T) { testCounts(t, all, seg) })
	}
}

func testCounts(t *testing.T, all []api.LogEntry, seg int) {
	s := open(t, t.TempDir(), func(o *Options) { o.SegmentEntries = seg })
	for i := 0; i < len(all); i += 10 {
		if err := s.Append(context.Background(), all[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	// A phrase is decided by Match, not by the index alone: 20 entries
	// (i%10 == 0) say "upstream timeout"; their statuses by i%3 over
	// i = 0,10,...,190: i%3 == 0 for i = 0,30,...,180 (7), == 1 for
	// 10,40,...,190 (7), == 2 for 20,50,...,170 (6).
	got, err := s.Count(context.Background(), Query{Text: `"upstream timeout"`}, "status", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Bucket{{Key: "200", Count: 7}, {Key: "404", Count: 7}, {Key: "500", Count: 6}}; !slices.Equal(got, want) {
		t.Errorf("Count(phrase by status) = %v, want %v", got, want)
	}
	got, err = s.Count(context.Background(), Query{}, "status", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Bucket{{Key: "200", Count: 67}, {Key: "404", Count: 67}, {Key: "500", Count: 66}}
	if !slices.Equal(got, want) {
		t.Errorf("Count(status) = %v, want %v", got, want)
	}
	// level:error is i%7==0: 0,7,...,196 = 29 entries; of those app by i%3.
	got, err = s.Count(context.Background(), Query{Text: "level:error"}, "app", 2)
	if err != nil {
		t.Fatal(err)
	}
	// i = 7k, k=0..28: app index (7k)%3 = k%3: k%3==0 → 10 (shop/api),
	// 1 → 10 (shop/web), 2 → 9 (ops); top 2 by count then key.
	want = []Bucket{{Key: "shop/api", Count: 10}, {Key: "shop/web", Count: 10}}
	if !slices.Equal(got, want) {
		t.Errorf("Count(level:error by app) = %v, want %v", got, want)
	}
	// Histogram by minute over 10:00-10:04: 60 entries a minute for the first
	// three minutes, 20 in the fourth (entries 180..199), 0 after.
	h, err := s.Histogram(context.Background(), Query{Since: t0, Until: t0.Add(5 * time.Minute)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantH := []int64{60, 60, 60, 20, 0}
	for i, b := range h {
		if !b.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) || b.Count != wantH[i] {
			t.Errorf("histogram[%d] = %v, want %v at %v", i, b, wantH[i], t0.Add(time.Duration(i)*time.Minute))
		}
	}
	// timeout is i%10==0 → 0,10,...: 6 a minute in minutes 0-2 and 2 in 3.
	h, err = s.Histogram(context.Background(), Query{Text: "timeout", Since: t0.Add(30 * time.Second), Until: t0.Add(210 * time.Second)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Buckets from 10:00:30 (since is inclusive): [30,90) holds 30..80 → 6;
	// [90,150) 90..140 → 6; [150,210) 150..190 → 5 (there is no 200).
	wantH = []int64{6, 6, 5}
	if len(h) != 3 {
		t.Fatalf("histogram = %v, want 3 buckets", h)
	}
	for i, b := range h {
		if b.Count != wantH[i] {
			t.Errorf("timeout histogram[%d] = %d, want %d", i, b.Count, wantH[i])
		}
	}
}

func TestSinceUntilAndPaging(t *testing.T) {
	all := sample(t0, 300, 0)
	s := open(t, t.TempDir(), func(o *Options) { o.SegmentEntries = 40; o.Partition = time.Minute })
	// Out of order: newer half first, then the older half, to test ordering
	// across segments and partitions.
	if err := s.Append(context.Background(), all[150:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), all[:150]); err != nil {
		t.Fatal(err)
	}
	since, until := t0.Add(95*time.Second), t0.Add(201*time.Second)
	got := searchAll(t, s, Query{Text: "status:500", Since: since, Until: until, Limit: 7})
	want := expect(all, "status:500", since, until)
	if !slices.Equal(messages(got), messages(want)) {
		t.Fatalf("since/until: %q, want %q", messages(got), messages(want))
	}
	if g, w := got[0].Time, t0.Add(200*time.Second); !g.Equal(w) {
		t.Errorf("newest = %v, want %v", g, w)
	}

	// Paging stays stable while entries are appended: newer ones and older
	// ones (late arrivals) do not repeat or shift earlier pages.
	r1, err := s.Search(context.Background(), Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	late := sample(t0, 10, 400)             // newer than everything
	old := sample(t0.Add(-time.Hour), 5, 0) // older than everything
	same := sample(t0, 1, 280)              // same time as a page-2 entry
	for _, b := range [][]api.LogEntry{late, old, same} {
		if err := s.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	rest := searchAll(t, s, Query{Cursor: r1.Next, Limit: 10})
	seen := map[string]int{}
	for _, e := range append(r1.Entries, rest...) {
		seen[e.Message+e.Time.String()]++
	}
	for k, n := range seen {
		if n > 1 && !strings.Contains(k, "line 280") {
			t.Errorf("%s seen %d times", k, n)
		}
	}
	// Page 1 was entries 299..290; the rest must hold 289..0, the old ones
	// and the second copy of 280, and none of the newer ones.
	if got, want := len(rest), 290+5+1; got != want {
		t.Errorf("after paging %d entries, want %d", got, want)
	}
	for i := 1; i < len(rest); i++ {
		if rest[i].Time.After(rest[i-1].Time) {
			t.Fatalf("not newest first at %d: %v after %v", i, rest[i].Time, rest[i-1].Time)
		}
	}
	if _, err := s.Search(context.Background(), Query{Cursor: "nonsense"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v, want ErrBadCursor", err)
	}
	if _, err := s.Search(context.Background(), Query{Text: "status>="}); err == nil {
		t.Error("bad query: no error")
	}
}

func TestReopenAndRecovery(t *testing.T) {
	dir := t.TempDir()
	all := sample(t0, 100, 0)
	s := open(t, dir, func(o *Options) { o.SegmentEntries = 30; o.NoSync = false })
	if err := s.Append(context.Background(), all[:50]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, func(o *Options) { o.SegmentEntries = 30; o.NoSync = false })
	if err := s.Append(context.Background(), all[50:90]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), all[90:]); err != nil {
		t.Fatal(err)
	}
	// A crash: no Close. The active segment's log is all there is for
	// entries 90..99; a torn record follows it.
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	if len(logs) != 1 {
		t.Fatalf("logs = %v, want one active segment", logs)
	}
	f, err := os.OpenFile(logs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3})
	f.Close()
	s2 := open(t, dir, func(o *Options) { o.SegmentEntries = 30 })
	got := searchAll(t, s2, Query{Limit: 1000})
	if want := expect(all, "", time.Time{}, time.Time{}); !slices.Equal(messages(got), messages(want)) {
		t.Fatalf("after reopen %d entries, want %d", len(got), len(want))
	}
	if st := s2.Stats(); st.Entries != 100 || st.ActiveEntries != 0 {
		t.Errorf("Stats = %+v, want 100 entries, none active", st)
	}
	// A fourth Open still finds exactly one copy (the log was sealed once).
	s2.Close()
	s3 := open(t, dir, nil)
	if st := s3.Stats(); st.Entries != 100 {
		t.Errorf("after second recovery %d entries, want 100", st.Entries)
	}
}

func TestRetention(t *testing.T) {
	t.Run("by age", func(t *testing.T) {
		c := &clock{t: t0.Add(3 * time.Hour)}
		s := open(t, t.TempDir(), func(o *Options) { o.MaxAge = 90 * time.Minute; o.Now = c.now })
		for h := 0; h < 3; h++ {
			if err := s.Append(context.Background(), sample(t0.Add(time.Duration(h)*time.Hour), 10, 0)); err != nil {
				t.Fatal(err)
			}
		}
		// Now 13:00, cutoff 11:30: the 10:00-11:00 partition has ended
		// before it, 11:00-12:00 has not.
		if err := s.Enforce(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Partitions != 2 || st.DroppedParts != 1 || st.DroppedEntries != 10 || st.Entries != 20 {
			t.Errorf("Stats = %+v, want 2 partitions, 1 dropped with 10 entries", st)
		}
		got := searchAll(t, s, Query{Limit: 100})
		if len(got) != 20 || got[len(got)-1].Time.Before(t0.Add(time.Hour)) {
			t.Errorf("after retention %d entries, oldest %v", len(got), got[len(got)-1].Time)
		}
	})
	t.Run("by size, oldest first", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir, nil)
		for h := 0; h < 4; h++ {
			if err := s.Append(context.Background(), sample(t0.Add(time.Duration(h)*time.Hour), 100, 0)); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s = open(t, dir, nil)
		per := s.Stats().Bytes / 4
		s.Close()
		s = open(t, dir, func(o *Options) { o.MaxBytes = per*2 + per/2 })
		before := s.Stats()
		if err := s.Enforce(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.Partitions != 2 || st.DroppedParts != 2 || st.Bytes > per*2+per/2 {
			t.Errorf("Stats = %+v (before %+v), want 2 partitions left", st, before)
		}
		got := searchAll(t, s, Query{Limit: 1000})
		if len(got) != 200 || !got[len(got)-1].Time.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("after size retention %d entries, oldest %v, want 200 from %v", len(got), got[len(got)-1].Time, t0.Add(2*time.Hour))
		}
		dirs, _ := os.ReadDir(dir)
		if len(dirs) != 2 {
			t.Errorf("%d partition directories left, want 2", len(dirs))
		}
	})
}

func TestTail(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan api.LogEntry, 100)
	before := sample(t0, 20, 0)
	if err := s.Append(ctx, before); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		q := query.MustParse("app:shop/api status:500")
		// Register, then signal: entries appended after registration count.
		errc <- s.tailStarted(ctx, q, func(e api.LogEntry) error { got <- e; return nil }, started)
	}()
	<-started
	after := sample(t0, 30, 100)
	if err := s.Append(ctx, after); err != nil {
		t.Fatal(err)
	}
	want := expect(after, "app:shop/api status:500", time.Time{}, time.Time{})
	slices.Reverse(want) // tail order is append order
	for _, w := range want {
		select {
		case e := <-got:
			if e.Message != w.Message {
				t.Errorf("tail got %q, want %q", e.Message, w.Message)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("tail: no entry, want %q", w.Message)
		}
	}
	select {
	case e := <-got:
		t.Errorf("tail got unexpected %q", e.Message)
	default:
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Tail = %v, want context.Canceled", err)
	}
}

func TestConcurrentAppendSearch(t *testing.T) {
	// With fsync: concurrent appends share fsyncs (group commit) and race
	// with sealing.
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.SegmentEntries = 100; o.NoSync = false })
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers, batches = 3, 20
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				if err := s.Append(ctx, sample(t0, 25, (w*batches+b)*25)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			r, err := s.Search(ctx, Query{Text: "status:500", Limit: 20})
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range r.Entries {
				if e.Fields["status"] != "500" {
					t.Errorf("status:500 returned %v", e)
				}
			}
			if _, err := s.Count(ctx, Query{}, "app", 3); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	got := searchAll(t, s, Query{Limit: 500})
	if want := writers * batches * 25; len(got) != want {
		t.Errorf("%d entries after concurrent appends, want %d", len(got), want)
	}
	// A crash now (no Close) keeps every acknowledged entry.
	s2 := open(t, dir, nil)
	if st := s2.Stats(); st.Entries != writers*batches*25 {
		t.Errorf("after reopening without Close: %d entries, want %d", st.Entries, writers*batches*25)
	}
}

func TestIdleSealAndZeroTime(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, t.TempDir(), func(o *Options) { o.Now = c.now; o.SealIdle = time.Minute })
	es := sample(t0, 10, 0)
	es[3].Time = time.Time{}
	if err := s.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if !es[3].Time.Equal(t0) {
		t.Errorf("entry without a time got %v, want the clock's %v", es[3].Time, t0)
	}
	c.set(t0.Add(30 * time.Second))
	if err := s.Enforce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ActiveEntries != 10 {
		t.Fatalf("after 30 s idle: %+v, want 10 active entries", st)
	}
	c.set(t0.Add(2 * time.Minute))
	if err := s.Enforce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ActiveEntries != 0 || st.Entries != 10 || st.Segments != 1 {
		t.Fatalf("after 2 min idle: %+v, want 10 entries sealed in one segment", st)
	}
	got := searchAll(t, s, Query{Text: "time>=2026-11-25T10:00:05Z"})
	if want := expect(es, "time>=2026-11-25T10:00:05Z", time.Time{}, time.Time{}); !slices.Equal(messages(got), messages(want)) || len(got) != 5 {
		t.Errorf("time query: %q, want %q (5)", messages(got), messages(want))
	}
}

func TestTailLagged(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	ctx := context.Background()
	block := make(chan struct{})
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.tailStarted(ctx, nil, func(api.LogEntry) error { <-block; return nil }, started)
	}()
	<-started
	// The reader takes the first batch and blocks; tailBuffer more fill its
	// queue; the next one overflows it.
	for i := range tailBuffer + 2 {
		if err := s.Append(ctx, sample(t0, 1, i)); err != nil {
			t.Fatal(err)
		}
	}
	close(block)
	if err := <-errc; !errors.Is(err, ErrTailLagged) {
		t.Errorf("Tail = %v, want ErrTailLagged", err)
	}
	if st := s.Stats(); st.TailLagged != 1 {
		t.Errorf("TailLagged = %d, want 1", st.TailLagged)
	}
}

func TestPostingListBlocks(t *testing.T) {
	l := plist{cur: []uint32{0}}
	want := []uint32{0}
	for ord := uint32(1); ord < 3*plistBlock+100; ord++ {
		l.add(ord)
		l.add(ord) // a token twice in one entry is one posting
		want = append(want, ord)
	}
	if len(l.done) < 2 {
		t.Errorf("%d full blocks, want at least 2", len(l.done))
	}
	if got := l.flat(); !slices.Equal(got, want) {
		t.Errorf("flat() has %d postings, want %d", len(got), len(want))
	}
}
