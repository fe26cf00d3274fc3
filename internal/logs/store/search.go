package store

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/logs/query"
)

// Query selects entries.
type Query struct {
	// Q is the parsed query; when nil, Text is parsed (empty: everything).
	Q    *query.Query
	Text string
	// Since (inclusive) and Until (exclusive) bound the entries' times; zero
	// values leave that side open.
	Since, Until time.Time
	// Limit is the page size of Search (default 100, at most 10,000).
	Limit int
	// Cursor continues a Search after the page that returned it.
	Cursor string
}

// Result is a page of entries, newest first.
type Result struct {
	Entries []api.LogEntry
	// Next is the cursor of the next page; empty when there is none.
	Next string
}

// Bucket is one row of Count (Key) or Histogram (Time).
type Bucket struct {
	Key   string    `json:"key,omitempty"`
	Time  time.Time `json:"time,omitzero"`
	Count int64     `json:"count"`
}

// ErrBadCursor is returned for a cursor Search did not make.
var ErrBadCursor = errors.New("log store: bad cursor")

const (
	defaultLimit = 100
	maxLimit     = 10000
)

// key orders entries: time, then segment, then arrival in the segment.
type key struct {
	t   int64
	seq uint64
	arr uint32
}

func (k key) less(o key) bool {
	if k.t != o.t {
		return k.t < o.t
	}
	if k.seq != o.seq {
		return k.seq < o.seq
	}
	return k.arr < o.arr
}

func (k key) String() string { return fmt.Sprintf("%x.%x.%x", uint64(k.t), k.seq, k.arr) }

func parseCursor(s string) (key, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return key{}, ErrBadCursor
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return key{}, ErrBadCursor
		}
		v[i] = n
	}
	if v[2] > math.MaxUint32 {
		return key{}, ErrBadCursor
	}
	return key{t: int64(v[0]), seq: v[1], arr: uint32(v[2])}, nil
}

// view is a segment as a search sees it: sealed, or a snapshot of an active
// segment taken with its partition locked.
type view struct {
	seq        uint64
	n          int
	minT, maxT int64
	sg         *sealed
	// snapshot of an active segment, already planned
	chunks [][]byte
	offs   []int64
	times  []int64
	sorted bool
	c      *cand
}

func (v *view) time(pos uint32) int64 {
	if v.sg != nil {
		return v.sg.time(int(pos))
	}
	return v.times[pos]
}

func (v *view) arrival(pos uint32) uint32 {
	if v.sg != nil {
		return v.sg.arrival(int(pos))
	}
	return pos
}

func (v *view) record(pos uint32) []byte {
	if v.sg != nil {
		return v.sg.record(int(pos))
	}
	f := frameIn(v.chunks, v.offs[pos])
	if f == nil {
		return nil
	}
	return f[frameHeader:]
}

// order returns the candidates of q in ascending key order and whether
// they need no Match.
func (v *view) order(q *query.Query) ([]uint32, bool) {
	var c cand
	if v.c != nil {
		c = *v.c
	} else {
		c = plan(v.sg, root(q))
	}
	list := c.list
	if c.all {
		list = make([]uint32, v.n)
		for i := range list {
			list[i] = uint32(i)
		}
	}
	if v.sg == nil && !v.sorted {
		list = append([]uint32(nil), list...)
		sort.SliceStable(list, func(i, j int) bool { return v.times[list[i]] < v.times[list[j]] })
	}
	return list, c.exact
}

func root(q *query.Query) *query.Expr {
	if q == nil {
		return nil
	}
	return q.Root
}

// views collects the segments of the partitions that may hold entries in
// [since, until), planning active segments under their partition's lock.
func views(ps []*partition, q *query.Query, since, until int64) []*view {
	var vs []*view
	for _, p := range ps {
		p.mu.Lock()
		for _, sg := range p.sealed {
			if sg.n > 0 && sg.maxT >= since && sg.minT < until {
				vs = append(vs, &view{seq: sg.seq, n: sg.n, minT: sg.minT, maxT: sg.maxT, sg: sg})
			}
		}
		if a := p.act; a != nil && len(a.offs) > 0 && a.maxT >= since && a.minT < until {
			c := plan(a, root(q))
			vs = append(vs, &view{seq: a.seq, n: len(a.offs), minT: a.minT, maxT: a.maxT,
				chunks: append([][]byte(nil), a.chunks...), offs: a.offs[:len(a.offs):len(a.offs)], times: a.times[:len(a.times):len(a.times)],
				sorted: a.sorted, c: &c})
		}
		p.mu.Unlock()
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].maxT > vs[j].maxT })
	return vs
}

// iter walks one view's matches newest first.
type iter struct {
	v      *view
	q      *query.Query
	list   []uint32
	exact  bool
	i      int // next index into list, walking down
	since  int64
	cursor *key
	head   api.LogEntry
	hkey   key
	steps  int
}

func newIter(v *view, q *query.Query, since, until int64, cursor *key) *iter {
	list, exact := v.order(q)
	it := &iter{v: v, q: q, list: list, exact: exact, since: since, cursor: cursor}
	// Start below until (and at most at the cursor's time).
	hi := until
	if cursor != nil && cursor.t < math.MaxInt64 {
		hi = min(hi, cursor.t+1)
	}
	it.i = sort.Search(len(list), func(k int) bool { return v.time(list[k]) >= hi }) - 1
	return it
}

// next moves to the next match; false when there is none.
func (it *iter) next(ctx context.Context) (bool, error) {
	for ; it.i >= 0; it.i-- {
		pos := it.list[it.i]
		t := it.v.time(pos)
		if t < it.since {
			it.i = -1
			return false, nil
		}
		k := key{t: t, seq: it.v.seq, arr: it.v.arrival(pos)}
		if it.cursor != nil && !k.less(*it.cursor) {
			continue
		}
		it.steps++
		if it.steps&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		p := it.v.record(pos)
		if p == nil {
			return false, fmt.Errorf("log store: segment %016x: %w", it.v.seq, errCorrupt)
		}
		var e api.LogEntry
		if err := decodeRecord(p, &e); err != nil {
			return false, fmt.Errorf("log store: segment %016x: %w", it.v.seq, err)
		}
		if !it.exact && !query.Match(it.q, &e) {
			continue
		}
		it.head, it.hkey = e, k
		it.i--
		return true, nil
	}
	return false, nil
}

type iterHeap []*iter

func (h iterHeap) Len() int           { return len(h) }
func (h iterHeap) Less(i, j int) bool { return h[j].hkey.less(h[i].hkey) }
func (h iterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *iterHeap) Push(x any)        { *h = append(*h, x.(*iter)) }
func (h *iterHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (s *Store) prepare(q Query) (*query.Query, int64, int64, error) {
	pq := q.Q
	if pq == nil {
		var err error
		if pq, err = query.Parse(q.Text); err != nil {
			return nil, 0, 0, err
		}
	}
	since, until := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	since, until = timeBounds(root(pq), since, until)
	return pq, since, until, nil
}

// timeBounds narrows [since, until) by the time comparisons that the whole
// query requires (terms of the top-level AND).
func timeBounds(e *query.Expr, since, until int64) (int64, int64) {
	if e == nil {
		return since, until
	}
	terms := []*query.Expr{e}
	if e.Op == query.OpAnd {
		terms = e.Children
	}
	for _, c := range terms {
		if c.Op != query.OpTerm || c.Term.Kind != query.KindCompare || c.Term.Field != "time" {
			continue
		}
		b := c.Term.TimeBound()
		switch c.Term.Cmp {
		case ">=":
			since = max(since, b)
		case ">":
			if b < math.MaxInt64 {
				since = max(since, b+1)
			}
		case "<":
			until = min(until, b)
		case "<=":
			if b < math.MaxInt64 {
				until = min(until, b+1)
			}
		}
	}
	return since, until
}

// Search returns the newest entries matching q, a page of q.Limit at a
// time. Paging is stable across appends: a page never repeats an entry of
// an earlier page, and entries appended later with older times appear in
// later pages.
func (s *Store) Search(ctx context.Context, q Query) (Result, error) {
	pq, since, until, err := s.prepare(q)
	if err != nil {
		return Result{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	var cursor *key
	if q.Cursor != "" {
		k, err := parseCursor(q.Cursor)
		if err != nil {
			return Result{}, err
		}
		cursor = &k
	}
	ps, release, err := s.acquire(since, until)
	if err != nil {
		return Result{}, err
	}
	defer release()
	vs := views(ps, pq, since, until)
	var h iterHeap
	var res Result
	var last key
	for len(res.Entries) < limit {
		for len(vs) > 0 && (len(h) == 0 || vs[0].maxT >= h[0].hkey.t) {
			it := newIter(vs[0], pq, since, until, cursor)
			vs = vs[1:]
			ok, err := it.next(ctx)
			if err != nil {
				return Result{}, err
			}
			if ok {
				heap.Push(&h, it)
			}
		}
		if len(h) == 0 {
			break
		}
		it := h[0]
		res.Entries = append(res.Entries, it.head)
		last = it.hkey
		ok, err := it.next(ctx)
		if err != nil {
			return Result{}, err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	if len(res.Entries) == limit {
		res.Next = last.String()
	}
	return res, nil
}

// each calls fn with the time of every entry matching q in [since, until)
// and, unless timeOnly and the index alone decides, the entry.
func (s *Store) each(ctx context.Context, q Query, timeOnly bool, fn func(t int64, e *api.LogEntry)) error {
	pq, since, until, err := s.prepare(q)
	if err != nil {
		return err
	}
	ps, release, err := s.acquire(since, until)
	if err != nil {
		return err
	}
	defer release()
	var e api.LogEntry
	for _, v := range views(ps, pq, since, until) {
		list, exact := v.order(pq)
		for n, pos := range list {
			if n&4095 == 4095 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			t := v.time(pos)
			if t < since || t >= until {
				continue
			}
			if exact && timeOnly {
				fn(t, nil)
				continue
			}
			p := v.record(pos)
			if p == nil {
				return fmt.Errorf("log store: segment %016x: %w", v.seq, errCorrupt)
			}
			if err := decodeRecord(p, &e); err != nil {
				return fmt.Errorf("log store: segment %016x: %w", v.seq, err)
			}
			if exact || query.Match(pq, &e) {
				fn(t, &e)
			}
		}
	}
	return nil
}

// Count counts the entries matching q by the value of field (built-in or
// parsed), most frequent first (ties by value), at most top buckets (0: all).
// Entries without the field, or with an empty value, are not counted.
//
// In a sealed segment inside the time range, when the index decides the
// query alone, the field's tokens are counted without reading any record.
func (s *Store) Count(ctx context.Context, q Query, field string, top int) ([]Bucket, error) {
	pq, since, until, err := s.prepare(q)
	if err != nil {
		return nil, err
	}
	ps, release, err := s.acquire(since, until)
	if err != nil {
		return nil, err
	}
	defer release()
	counts := map[string]int64{}
	var e api.LogEntry
	indexed := field != "message" && field != "time"
	for _, v := range views(ps, pq, since, until) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if v.sg != nil && indexed && v.minT >= since && v.maxT < until {
			c := plan(v.sg, root(pq))
			if c.exact {
				countTokens(v.sg, c, field, counts)
				continue
			}
		}
		list, exact := v.order(pq)
		for n, pos := range list {
			if n&4095 == 4095 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if t := v.time(pos); t < since || t >= until {
				continue
			}
			p := v.record(pos)
			if p == nil {
				return nil, fmt.Errorf("log store: segment %016x: %w", v.seq, errCorrupt)
			}
			if err := decodeRecord(p, &e); err != nil {
				return nil, fmt.Errorf("log store: segment %016x: %w", v.seq, err)
			}
			if !exact && !query.Match(pq, &e) {
				continue
			}
			if val, ok := query.FieldValue(&e, field); ok && val != "" {
				counts[val]++
			}
		}
	}
	out := make([]Bucket, 0, len(counts))
	for k, n := range counts {
		out = append(out, Bucket{Key: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out, nil
}

// countTokens adds, for every value of field in the segment, how many of
// the candidates hold it.
func countTokens(sg *sealed, c cand, field string, counts map[string]int64) {
	var bm []uint64
	if !c.all {
		if len(c.list) == 0 {
			return
		}
		bm = make([]uint64, (sg.n+63)/64)
		for _, p := range c.list {
			bm[p>>6] |= 1 << (p & 63)
		}
	}
	prefix := field + "\x00"
	for i := sg.search(prefix); i < sg.ntok; i++ {
		tok := sg.tokenBytes(i)
		if !strings.HasPrefix(string(tok), prefix) {
			break
		}
		var n int64
		if bm == nil {
			n = int64(sg.count(i))
		} else {
			for _, p := range sg.postings(i) {
				if bm[p>>6]&(1<<(p&63)) != 0 {
					n++
				}
			}
		}
		if n > 0 {
			counts[string(tok[len(prefix):])] += n
		}
	}
}

// Histogram counts the entries matching q in buckets of step from q.Since
// to q.Until (both required), oldest first, empty buckets included.
func (s *Store) Histogram(ctx context.Context, q Query, step time.Duration) ([]Bucket, error) {
	if q.Since.IsZero() || q.Until.IsZero() || !q.Until.After(q.Since) {
		return nil, errors.New("log store: a histogram needs since < until")
	}
	if step <= 0 {
		return nil, errors.New("log store: a histogram needs a positive step")
	}
	n := int((q.Until.Sub(q.Since) + step - 1) / step)
	if n > 100000 {
		return nil, fmt.Errorf("log store: %d histogram buckets, at most 100000", n)
	}
	out := make([]Bucket, n)
	for i := range out {
		out[i].Time = q.Since.Add(time.Duration(i) * step).UTC()
	}
	since := q.Since.UnixNano()
	err := s.each(ctx, q, true, func(t int64, _ *api.LogEntry) {
		out[(t-since)/int64(step)].Count++
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
