package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"corral/internal/api"
	"corral/internal/logs/query"
)

// active is the segment a partition appends to: its records are in a log file
// (fsynced per batch) and, for reading, in memory; its index is in memory.
// Ordinals are arrival order. A full or idle active segment is sealed.
type active struct {
	seq  uint64
	path string
	f    *os.File

	// chunks hold the log file's records for reading, in pieces so that
	// appends never copy what is there; a record never spans chunks.
	chunks [][]byte
	bytes  int64   // bytes in the log file
	offs   []int64 // chunk<<32 | offset in chunk, of each ordinal's frame
	times  []int64 // Unix ns of each ordinal
	// The in-memory index: a token's 64-bit hash picks its shard (one per
	// index worker, filled in parallel) and its posting list there. Two
	// tokens with one hash would share a list, a superset that Match
	// filters; toks keeps the first token of each list for globs,
	// comparisons and sealing.
	seed   maphash.Seed
	shards []shard
	// Group commit: syncMu is held during an fsync; synced is the log size
	// known durable; written the size written so far.
	syncMu  sync.Mutex
	synced  int64
	written atomic.Int64
	state   int // logOpen, logSealed, logClosed; under syncMu
	// sorted is true while times are non-decreasing in arrival order.
	sorted     bool
	minT, maxT int64
	lastAppend int64 // Unix ns, by the store's clock
}

// plist is a posting list that grows in blocks: long lists are never
// copied to grow (memory bandwidth is what appends run out of first).
type plist struct {
	done [][]uint32 // full blocks
	cur  []uint32   // never empty
}

const plistBlock = 4096

func (l *plist) add(ord uint32) {
	if l.cur[len(l.cur)-1] == ord {
		return
	}
	if len(l.cur) == cap(l.cur) && len(l.cur) >= plistBlock {
		l.done = append(l.done, l.cur)
		l.cur = make([]uint32, 0, 2*plistBlock)
	}
	l.cur = append(l.cur, ord)
}

// flat returns the list in one slice; the caller must not modify it.
func (l *plist) flat() []uint32 {
	if len(l.done) == 0 {
		return l.cur[:len(l.cur):len(l.cur)]
	}
	n := len(l.cur)
	for _, b := range l.done {
		n += len(b)
	}
	out := make([]uint32, 0, n)
	for _, b := range l.done {
		out = append(out, b...)
	}
	return append(out, l.cur...)
}

// shard is one part of an active segment's index.
type shard struct {
	tokIx map[uint64]int32
	toks  []string
	lists []plist
	key   []byte // scratch for building tokens
}

// newActive makes an empty active segment; tokens is how many distinct
// tokens to make room for (the last sealed segment's count), so that the
// index does not grow by copying.
func newActive(seq uint64, path string, f *os.File, workers, tokens int) *active {
	a := &active{seq: seq, path: path, f: f, seed: maphash.MakeSeed(), shards: make([]shard, max(workers, 1)), sorted: true}
	per := tokens / len(a.shards)
	for i := range a.shards {
		a.shards[i].tokIx = make(map[uint64]int32, per)
		a.shards[i].toks = make([]string, 0, per)
		a.shards[i].lists = make([]plist, 0, per)
	}
	return a
}

// tokens returns the number of distinct tokens.
func (a *active) tokens() int {
	n := 0
	for i := range a.shards {
		n += len(a.shards[i].toks)
	}
	return n
}

// fieldToken is the index token of a field's exact value.
func fieldToken(name, value string) string { return name + "\x00" + value }

const chunkSize = 1 << 20

// The states of an active segment's log file.
const (
	logOpen   = iota
	logSealed // its entries are in fsynced sealed files
	logClosed // the store closed it
)

// addChunk keeps a batch of framed records (not copied, not to be
// modified) for reading and returns the packed offset of its start.
func (a *active) addChunk(frames []byte) int64 {
	a.chunks = append(a.chunks, frames)
	a.bytes += int64(len(frames))
	a.written.Store(a.bytes)
	return int64(len(a.chunks)-1) << 32
}

// frameIn returns the whole frame at packed offset off.
func frameIn(chunks [][]byte, off int64) []byte {
	c := chunks[off>>32]
	o := off & 0xffffffff
	if o+frameHeader > int64(len(c)) {
		return nil
	}
	end := o + frameHeader + int64(binary.LittleEndian.Uint32(c[o:]))
	if end > int64(len(c)) {
		return nil
	}
	return c[o:end]
}

// index adds entries, whose records are at packed offsets offs, to the
// segment: each shard in its own goroutine.
func (a *active) index(entries []api.LogEntry, offs []int64) {
	base := uint32(len(a.offs))
	for i := range entries {
		t := entries[i].Time.UnixNano()
		if len(a.times) == 0 {
			a.minT, a.maxT = t, t
		} else {
			if t < a.times[len(a.times)-1] {
				a.sorted = false
			}
			a.minT, a.maxT = min(a.minT, t), max(a.maxT, t)
		}
		a.times = append(a.times, t)
	}
	a.offs = append(a.offs, offs...)
	n := uint64(len(a.shards))
	if n == 1 {
		a.shards[0].index(a.seed, entries, base, 0, 1)
		return
	}
	var wg sync.WaitGroup
	for k := range a.shards {
		wg.Go(func() { a.shards[k].index(a.seed, entries, base, uint64(k), n) })
	}
	wg.Wait()
}

// index adds the tokens of entries whose hash is k modulo n.
func (sh *shard) index(seed maphash.Seed, entries []api.LogEntry, base uint32, k, n uint64) {
	var ord uint32
	add := func(tok []byte) {
		h := maphash.Bytes(seed, tok)
		if h%n != k {
			return
		}
		i, ok := sh.tokIx[h]
		if !ok {
			sh.tokIx[h] = int32(len(sh.lists))
			sh.toks = append(sh.toks, string(tok))
			sh.lists = append(sh.lists, plist{cur: []uint32{ord}})
			return
		}
		sh.lists[i].add(ord)
	}
	field := func(name, value string) {
		if value == "" {
			return
		}
		sh.key = append(append(append(sh.key[:0], name...), 0), value...)
		add(sh.key)
	}
	for i := range entries {
		e := &entries[i]
		ord = base + uint32(i)
		field("node", e.Node)
		field("source", e.Source)
		field("app", e.App)
		field("task", e.Task)
		field("stream", e.Stream)
		field("level", e.Level)
		for k, v := range e.Fields {
			field(k, v)
		}
		sh.key = query.EachWord(e.Message, sh.key, add)
	}
}

// lookup returns the ordinals holding token tok. Call with the partition
// locked; the returned slice is not written to afterwards below its length.
func (a *active) lookup(tok string) []uint32 {
	h := maphash.String(a.seed, tok)
	sh := &a.shards[h%uint64(len(a.shards))]
	if i, ok := sh.tokIx[h]; ok {
		return sh.lists[i].flat()
	}
	return nil
}

// prefix calls fn for every token starting with p. Call with the partition
// locked.
func (a *active) prefix(p string, accept func(tok string) bool, add func(post []uint32)) {
	for k := range a.shards {
		sh := &a.shards[k]
		for i, tok := range sh.toks {
			if strings.HasPrefix(tok, p) && accept(tok) {
				add(sh.lists[i].flat())
			}
		}
	}
}

func (a *active) size() int { return len(a.offs) }

// sealFiles writes the active segment as a sealed segment in dir: records
// sorted by (time, arrival), then the index. It returns the paths written.
func (a *active) sealFiles(dir string) (dataPath, idxPath string, err error) {
	base := fmt.Sprintf("%016x", a.seq)
	dataPath = dir + "/" + base + ".data"
	idxPath = dir + "/" + base + ".idx"
	n := len(a.offs)
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	if !a.sorted {
		sort.SliceStable(order, func(i, j int) bool { return a.times[order[i]] < a.times[order[j]] })
	}
	rank := make([]uint32, n)
	for pos, ord := range order {
		rank[ord] = uint32(pos)
	}
	df, err := os.OpenFile(dataPath+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return "", "", fmt.Errorf("create %s.tmp: %w", dataPath, err)
	}
	defer df.Close()
	w := bufio.NewWriterSize(df, 1<<20)
	written := int64(0)
	offs := make([]int64, n+1)
	times := make([]int64, n)
	for pos, ord := range order {
		offs[pos] = written
		f := frameIn(a.chunks, a.offs[ord])
		if _, err := w.Write(f); err != nil {
			return "", "", fmt.Errorf("write %s.tmp: %w", dataPath, err)
		}
		written += int64(len(f))
		times[pos] = a.times[ord]
	}
	offs[n] = written
	if err := w.Flush(); err != nil {
		return "", "", fmt.Errorf("write %s.tmp: %w", dataPath, err)
	}
	if err := df.Sync(); err != nil {
		return "", "", fmt.Errorf("sync %s.tmp: %w", dataPath, err)
	}
	if err := df.Close(); err != nil {
		return "", "", fmt.Errorf("close %s.tmp: %w", dataPath, err)
	}
	if err := os.Rename(dataPath+".tmp", dataPath); err != nil {
		return "", "", fmt.Errorf("rename %s.tmp: %w", dataPath, err)
	}
	type tokRef struct {
		tok  string
		list []uint32
	}
	refs := make([]tokRef, 0, a.tokens())
	postings := 0
	for k := range a.shards {
		sh := &a.shards[k]
		for i, tok := range sh.toks {
			l := sh.lists[i].flat()
			refs = append(refs, tokRef{tok, l})
			postings += len(l)
		}
	}
	slices.SortFunc(refs, func(x, y tokRef) int { return strings.Compare(x.tok, y.tok) })
	toks := make([]string, len(refs))
	for i := range refs {
		toks[i] = refs[i].tok
	}
	idx := encodeIndex(toks, func(k int) []uint32 {
		l := refs[k].list
		if a.sorted {
			return l
		}
		m := make([]uint32, len(l))
		for i, ord := range l {
			m[i] = rank[ord]
		}
		sort.Slice(m, func(i, j int) bool { return m[i] < m[j] })
		return m
	}, postings, times, order, offs, a.minT, a.maxT)
	if err := writeFileSync(idxPath, idx); err != nil {
		return "", "", err
	}
	return dataPath, idxPath, nil
}

// writeFileSync writes b to path through a temporary file, fsyncs it and
// renames it into place.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
