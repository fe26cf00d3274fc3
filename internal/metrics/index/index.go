// Package index is Graphite's metric name index: a trie of dot-separated
// series names that answers graphite-web's /metrics/find and /metrics/expand
// glob queries, and Tags, graphite's tag database of tagged series
// ("cpu;dc=east;host=a") queried by tag expressions (seriesByTag,
// /tags/findSeries, /tags/autoComplete/...). The Graphite HTTP API and the
// render package import it; carbon ingest feeds it with Index.Add and
// Tags.Add.
//
// Tags are persisted with OpenTags: whisper files of tagged series are named
// by a hash of the name, so the names cannot be recovered from the whisper
// tree. OpenTags loads an append-only file of canonical names, one per line,
// and appends each new name to it, buffered (Flush to push, Close at
// shutdown; no fsync per name). A crash loses at most the unflushed names,
// which carbon relearns when the series is next written; a torn last line is
// dropped on load.
package index

import (
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Index is a trie of metric names. It is safe for concurrent use: many
// readers (Find, Expand, Len) and occasional writers (Add).
type Index struct {
	mu   sync.RWMutex
	root trieNode
	n    int
	// walkers recycles Find's walkers, whose result buffers grow to the
	// size of large finds: growing them again on every find was a third of
	// its time.
	walkers sync.Pool
}

// smallKids is how many children a node keeps in a sorted slice before it
// switches to a map; most metric trees fan out a little per level, and a short
// slice is far more cache-friendly than a map.
const smallKids = 16

type trieNode struct {
	kids     []child              // sorted by name, while len <= smallKids
	children map[string]*trieNode // used instead of kids once larger
	// sorted caches the map's children ordered by name for glob walks. Add
	// clears it under the write lock; Find fills it under the read lock, where
	// concurrent readers may race to store equal slices, which is harmless.
	sorted atomic.Pointer[[]child]
	leaf   bool
}

type child struct {
	name string
	node *trieNode
	pre  uint64 // prefix(name): get compares it before touching the name's bytes
}

// prefix packs the first 8 bytes of s: two names of one length up to 8
// bytes are equal exactly when their prefixes are, and longer names that
// differ there are told apart without reading their bytes (a cache miss per
// child, the bulk of a wide find).
func prefix(s string) uint64 {
	var p uint64
	for i := 0; i < len(s) && i < 8; i++ {
		p |= uint64(s[i]) << (8 * i)
	}
	return p
}

func cmpChild(a, b child) int { return strings.Compare(a.name, b.name) }

func (n *trieNode) numChildren() int { return len(n.kids) + len(n.children) }

func (n *trieNode) get(name string) *trieNode {
	if n.children != nil {
		return n.children[name]
	}
	pre := prefix(name)
	for i := range n.kids {
		k := &n.kids[i]
		if k.pre == pre && len(k.name) == len(name) && (len(name) <= 8 || k.name == name) {
			return k.node
		}
	}
	return nil
}

// insert adds a child that get reported missing. The caller holds the write lock.
func (n *trieNode) insert(name string, c *trieNode) {
	switch {
	case n.children != nil:
		n.children[name] = c
		n.sorted.Store(nil)
	case len(n.kids) < smallKids:
		i, _ := slices.BinarySearchFunc(n.kids, child{name: name}, cmpChild)
		n.kids = slices.Insert(n.kids, i, child{name: name, node: c, pre: prefix(name)})
	default:
		n.children = make(map[string]*trieNode, 2*smallKids)
		for _, k := range n.kids {
			n.children[k.name] = k.node
		}
		n.children[name] = c
		n.kids = nil
	}
}

// sortedChildren returns n's children ordered by name. The caller holds at
// least the read lock.
func (n *trieNode) sortedChildren() []child {
	if n.children == nil {
		return n.kids
	}
	if p := n.sorted.Load(); p != nil {
		return *p
	}
	cs := make([]child, 0, len(n.children))
	for name, c := range n.children {
		cs = append(cs, child{name: name, node: c, pre: prefix(name)})
	}
	slices.SortFunc(cs, cmpChild)
	n.sorted.Store(&cs)
	return cs
}

// Node is one match of a Find: the full dot-separated Path and its last node
// Name. A node can be a Leaf (a series) and a Branch (has children) at once.
type Node struct {
	Path   string
	Name   string
	Leaf   bool
	Branch bool
}

// New returns an empty Index.
func New() *Index { return &Index{} }

// Add inserts the series name and reports whether it was new. Names that are
// empty or hold an empty node ("a..b", ".a", "a.") are refused with false.
func (ix *Index) Add(name string) bool {
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return false
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := &ix.root
	for part := range strings.SplitSeq(name, ".") {
		c := n.get(part)
		if c == nil {
			c = &trieNode{}
			n.insert(strings.Clone(part), c)
		}
		n = c
	}
	if n.leaf {
		return false
	}
	n.leaf = true
	ix.n++
	return true
}

// Len returns the number of distinct series added.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// Find returns the nodes matching query at the query's depth, sorted by Path.
// Each dot-separated part of query is a glob (see Match); a part without glob
// characters is a direct child lookup. A malformed glob returns an error
// wrapping ErrBadPattern.
func (ix *Index) Find(query string) ([]Node, error) {
	parts := strings.Split(query, ".")
	pats := make([]*pattern, len(parts))
	for i, p := range parts {
		if !hasGlob(p) {
			pats[i] = &pattern{literal: true, variants: []variant{{literal: true, text: p}}}
			continue
		}
		pt, err := compile(p)
		if err != nil {
			return nil, err
		}
		pats[i] = pt
	}
	w, _ := ix.walkers.Get().(*walker)
	if w == nil {
		w = new(walker)
	}
	defer func() {
		// Keep the grown buffers for the next Find, unless a huge result
		// would pin memory.
		if cap(w.buf) <= maxPooledBuf {
			w.pats, w.names, w.buf, w.hits = nil, w.names[:0], w.buf[:0], w.hits[:0]
			ix.walkers.Put(w)
		}
	}()
	w.pats, w.split = pats, true
	ix.mu.RLock()
	w.walk(&ix.root, 0)
	ix.mu.RUnlock()
	if len(w.hits) == 0 {
		return nil, nil
	}
	// All paths share one string: one allocation instead of one per node.
	all := string(w.buf)
	out := make([]Node, len(w.hits))
	for i, h := range w.hits {
		out[i] = Node{Path: all[h.start:h.end], Name: all[h.name:h.end], Leaf: h.leaf, Branch: h.branch}
	}
	// The walk visits children in name order, which is path order unless a
	// name holds a byte below '.'; sort only then.
	cmp := func(a, b Node) int { return strings.Compare(a.Path, b.Path) }
	if !slices.IsSortedFunc(out, cmp) {
		slices.SortFunc(out, cmp)
	}
	return out, nil
}

// maxPooledBuf bounds the path buffer a pooled walker keeps (16 MiB).
const maxPooledBuf = 16 << 20

// walker collects the matches of one Find.
type walker struct {
	split bool // may walk one wide level in parallel (the top walker only)
	pats  []*pattern
	names []string // node names from the root to the current node
	buf   []byte   // concatenated result paths
	hits  []hit
}

type hit struct {
	start, name, end int
	leaf, branch     bool
}

func (w *walker) walk(n *trieNode, depth int) {
	if n.numChildren() == 0 {
		return
	}
	p := w.pats[depth]
	if p.literal {
		for _, v := range p.variants { // distinct by construction
			if c := n.get(v.text); c != nil {
				w.visit(c, v.text, depth)
			}
		}
		return
	}
	all := p.matchesAll()
	kids := n.sortedChildren()
	if w.split && len(kids) >= parallelKids && depth+1 < len(w.pats) {
		w.walkParallel(kids, p, all, depth)
		return
	}
	for _, c := range kids {
		if all || p.match(c.name) {
			w.visit(c.node, c.name, depth)
		}
	}
}

// parallelKids is the fan-out from which a glob level below which the find
// goes on is walked by several goroutines: a wide find is bound by memory
// latency (a few cache misses per node), which cores overlap.
const parallelKids = 2048

// walkParallel walks kids in runtime.GOMAXPROCS contiguous chunks, each with
// its own walker, and appends their results in order.
func (w *walker) walkParallel(kids []child, p *pattern, all bool, depth int) {
	parts := min(runtime.GOMAXPROCS(0), 8)
	subs := make([]walker, parts)
	var wg sync.WaitGroup
	for i := range subs {
		lo, hi := i*len(kids)/parts, (i+1)*len(kids)/parts
		sub := &subs[i]
		sub.pats = w.pats
		sub.names = append(make([]string, 0, len(w.pats)), w.names...)
		wg.Go(func() {
			for _, c := range kids[lo:hi] {
				if all || p.match(c.name) {
					sub.visit(c.node, c.name, depth)
				}
			}
		})
	}
	wg.Wait()
	for i := range subs {
		off := len(w.buf)
		w.buf = append(w.buf, subs[i].buf...)
		for _, h := range subs[i].hits {
			h.start, h.name, h.end = h.start+off, h.name+off, h.end+off
			w.hits = append(w.hits, h)
		}
	}
}

func (w *walker) visit(c *trieNode, name string, depth int) {
	w.names = append(w.names, name)
	defer func() { w.names = w.names[:len(w.names)-1] }()
	if depth+1 < len(w.pats) {
		w.walk(c, depth+1)
		return
	}
	h := hit{start: len(w.buf), leaf: c.leaf, branch: c.numChildren() > 0}
	for i, nm := range w.names {
		if i > 0 {
			w.buf = append(w.buf, '.')
		}
		w.buf = append(w.buf, nm...)
	}
	h.end = len(w.buf)
	h.name = h.end - len(name)
	w.hits = append(w.hits, h)
}

// Expand returns the sorted, distinct paths matching query, as graphite-web's
// expand_view does; with leavesOnly only series (leaves) are kept.
func (ix *Index) Expand(query string, leavesOnly bool) ([]string, error) {
	nodes, err := ix.Find(query)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.Leaf || !leavesOnly {
			out = append(out, n.Path) // Find yields each path once, sorted
		}
	}
	return out, nil
}

// Leaves returns every series name, sorted (graphite-web's
// /metrics/index.json).
func (ix *Index) Leaves() []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]string, 0, ix.n)
	var walk func(n *trieNode, prefix string)
	walk = func(n *trieNode, prefix string) {
		for _, c := range n.sortedChildren() {
			path := c.name
			if prefix != "" {
				path = prefix + "." + c.name
			}
			if c.node.leaf {
				out = append(out, path)
			}
			walk(c.node, path)
		}
	}
	walk(&ix.root, "")
	sort.Strings(out)
	return out
}
