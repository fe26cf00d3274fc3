package store

import (
	"fmt"
	"os"
	"sort"
	"strings"

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

	buf   []byte  // the log file's contents
	offs  []int64 // frame offset of each ordinal
	times []int64 // Unix ns of each ordinal
	post  map[string]*[]uint32
	// sorted is true while times are non-decreasing in arrival order.
	sorted     bool
	minT, maxT int64
	lastAppend int64 // Unix ns, by the store's clock
}

func newActive(seq uint64, path string, f *os.File) *active {
	return &active{seq: seq, path: path, f: f, post: make(map[string]*[]uint32), sorted: true}
}

// tokenizer builds index tokens without allocating for tokens already known.
type tokenizer struct {
	key   []byte
	words []string
}

// fieldToken is the index token of a field's exact value.
func fieldToken(name, value string) string { return name + "\x00" + value }

// index adds the record at off (already in a.buf) with entry e to the index.
func (a *active) index(e *api.LogEntry, off int64, tk *tokenizer) {
	ord := uint32(len(a.offs))
	t := e.Time.UnixNano()
	if len(a.times) == 0 {
		a.minT, a.maxT = t, t
	} else {
		if t < a.times[len(a.times)-1] {
			a.sorted = false
		}
		a.minT, a.maxT = min(a.minT, t), max(a.maxT, t)
	}
	a.offs = append(a.offs, off)
	a.times = append(a.times, t)
	add := func(tok []byte) {
		if l, ok := a.post[string(tok)]; ok {
			if n := len(*l); n == 0 || (*l)[n-1] != ord {
				*l = append(*l, ord)
			}
			return
		}
		l := []uint32{ord}
		a.post[string(tok)] = &l
	}
	field := func(name, value string) {
		if value == "" {
			return
		}
		tk.key = append(append(append(tk.key[:0], name...), 0), value...)
		add(tk.key)
	}
	field("node", e.Node)
	field("source", e.Source)
	field("app", e.App)
	field("task", e.Task)
	field("stream", e.Stream)
	field("level", e.Level)
	for k, v := range e.Fields {
		field(k, v)
	}
	tk.words = query.AppendWords(tk.words[:0], e.Message)
	for _, w := range tk.words {
		tk.key = append(tk.key[:0], w...)
		add(tk.key)
	}
}

// snapshot is a consistent read-only view of an active segment.
type snapshot struct {
	a     *active
	buf   []byte
	offs  []int64
	times []int64
	n     int
}

// lookup returns the ordinals holding token tok. Call with the partition
// locked; the returned slice is not written to afterwards below its length.
func (a *active) lookup(tok string) []uint32 {
	if l, ok := a.post[tok]; ok {
		return *l
	}
	return nil
}

// prefix calls fn for every token starting with p. Call with the partition
// locked.
func (a *active) prefix(p string, accept func(tok string) bool, add func(post []uint32)) {
	for tok, l := range a.post {
		if strings.HasPrefix(tok, p) && accept(tok) {
			add(*l)
		}
	}
}

func (a *active) size() int { return len(a.offs) }

// sealFiles writes the active segment as a sealed segment in dir: records
// sorted by (time, arrival), then the index. It returns the paths written.
func (a *active) sealFiles(dir string) (dataPath, idxPath string, err error) {
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
	data := make([]byte, 0, len(a.buf))
	offs := make([]int64, n+1)
	times := make([]int64, n)
	for pos, ord := range order {
		offs[pos] = int64(len(data))
		end := int64(len(a.buf))
		if int(ord)+1 < n {
			end = a.offs[ord+1]
		}
		data = append(data, a.buf[a.offs[ord]:end]...)
		times[pos] = a.times[ord]
	}
	offs[n] = int64(len(data))
	toks := make([]string, 0, len(a.post))
	for tok := range a.post {
		toks = append(toks, tok)
	}
	sort.Strings(toks)
	idx := encodeIndex(toks, func(tok string) []uint32 {
		l := *a.post[tok]
		if a.sorted {
			return l
		}
		m := make([]uint32, len(l))
		for i, ord := range l {
			m[i] = rank[ord]
		}
		sort.Slice(m, func(i, j int) bool { return m[i] < m[j] })
		return m
	}, times, order, offs, a.minT, a.maxT)
	base := fmt.Sprintf("%016x", a.seq)
	dataPath = dir + "/" + base + ".data"
	idxPath = dir + "/" + base + ".idx"
	if err := writeFileSync(dataPath, data); err != nil {
		return "", "", err
	}
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
