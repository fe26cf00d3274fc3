// Package store is Corral's log store on the server: entries shipped by the
// agents are appended here and searched, counted, histogrammed and tailed
// with the query language of internal/logs/query. The server opens one Store
// in its data dir; nothing else imports this package.
//
// Design (measured with bench_test.go): SQLite with an FTS5 index costs
// 29-41 µs of CPU per nginx line here (BenchmarkSQLiteFTS5Append), this
// store 7-18 µs on the same shared 2-core machine (BenchmarkAppend; the
// range is the machine's load), so the store keeps its own files:
//
//	<dir>/<partition start, 20261125T160000Z>/   one directory per time partition
//	    <seq>.log          the active segment: framed records, fsynced per Append
//	    <seq>.data <seq>.idx  sealed segments: records sorted by time, and an
//	                       inverted index (message words, field=value tokens)
//
// Appends to a partition are written and indexed under its lock and then
// fsynced outside it, concurrent appends sharing one fsync (group commit).
// An entry goes to the partition of its time. Each partition appends to one
// active segment whose index is in memory; at Options.SegmentEntries entries
// (or SegmentBytes, or when idle) it is sealed into immutable memory-mapped
// files. Queries plan candidates from the index (exact field values, globs
// and comparisons through the sorted token dictionary, words and phrases)
// and query.Match has the final word on every entry. Results are newest
// first by (time, arrival); retention drops whole partitions.
//
// Full-text search matches words (runs of letters and digits,
// case-insensitive), not substrings: "timeout" does not find "timeouts"; use
// timeout* for a prefix.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
)

// Options configure a Store.
type Options struct {
	Dir string
	// MaxAge drops partitions that ended longer ago; 0 keeps them.
	MaxAge time.Duration
	// MaxBytes drops the oldest partitions while the store is larger; 0 means
	// no limit. The newest partition is never dropped.
	MaxBytes int64
	// Partition is the time span of a partition (default 1 hour).
	Partition time.Duration
	// SegmentEntries and SegmentBytes seal an active segment (defaults
	// 262,144 entries, 64 MiB).
	SegmentEntries int
	SegmentBytes   int64
	// SealIdle seals an active segment that had no append for this long when
	// Enforce runs (default 5 minutes).
	SealIdle time.Duration
	// IndexWorkers index each batch in parallel, each a share of the
	// tokens (default 1: on a busy 2-core machine a second worker costs
	// more CPU than it saves, see BenchmarkAppend).
	IndexWorkers int
	// NoSync skips the fsync of each Append (tests and benchmarks of the
	// index only: an acknowledged batch may be lost on power failure).
	NoSync bool
	Logger *slog.Logger
	Now    func() time.Time
}

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("log store closed")

// Store is an open log store. Its methods are safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu     sync.RWMutex
	parts  map[int64]*partition // by start, Unix ns
	closed bool
	seq    atomic.Uint64
	// tokHint is the distinct token count of the last sealed segment.
	tokHint atomic.Int64

	tail tailHub

	droppedPartitions, droppedEntries, droppedBytes atomic.Int64
}

// partition is one time partition's directory.
type partition struct {
	start int64 // Unix ns
	end   int64
	dir   string
	refs  sync.WaitGroup

	mu     sync.Mutex
	sealed []*sealed // ascending seq
	act    *active
	dead   bool // closed or dropped: appends go elsewhere
}

// Stats are the store's self metrics.
type Stats struct {
	Entries         int64 // stored entries
	Bytes           int64 // bytes on disk
	Partitions      int
	Segments        int   // sealed and active
	ActiveEntries   int64 // entries in active segments (index in memory)
	DroppedParts    int64 // partitions dropped by retention since Open
	DroppedEntries  int64
	DroppedBytes    int64
	TailSubscribers int
	TailLagged      int64 // tails ended because their reader fell behind
}

const partitionLayout = "20060102T150405Z"

// Open opens (or creates) the store in opts.Dir, recovering active segments
// that were not sealed: their valid records are kept, a torn last record is
// cut, and they are sealed.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("log store: no directory")
	}
	if opts.Partition <= 0 {
		opts.Partition = time.Hour
	}
	if opts.SegmentEntries <= 0 {
		opts.SegmentEntries = 1 << 18
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	opts.SegmentBytes = min(opts.SegmentBytes, 1<<31) // offsets in a chunk are 32 bits
	if opts.IndexWorkers <= 0 {
		opts.IndexWorkers = 1
	}
	if opts.SealIdle <= 0 {
		opts.SealIdle = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	s := &Store{opts: opts, log: opts.Logger.With("component", "logstore"), now: opts.Now, parts: map[int64]*partition{}}
	s.tail.init()
	dirs, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	for _, d := range dirs {
		if strings.HasSuffix(d.Name(), ".drop") {
			os.RemoveAll(filepath.Join(opts.Dir, d.Name())) // a drop a crash interrupted
			continue
		}
		t, err := time.Parse(partitionLayout, d.Name())
		if !d.IsDir() || err != nil {
			continue
		}
		p := &partition{start: t.UnixNano(), end: t.Add(opts.Partition).UnixNano(), dir: filepath.Join(opts.Dir, d.Name())}
		if err := s.load(p); err != nil {
			s.closeAll()
			return nil, err
		}
		s.parts[p.start] = p
	}
	return s, nil
}

// load opens a partition's segments, recovering and sealing logs.
func (s *Store) load(p *partition) error {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return fmt.Errorf("log store: %w", err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	var seqs []uint64
	for name := range have {
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(p.dir, name))
			continue
		}
		base, ext, _ := strings.Cut(name, ".")
		seq, err := strconv.ParseUint(base, 16, 64)
		if err != nil {
			continue
		}
		if seq > s.seq.Load() {
			s.seq.Store(seq)
		}
		switch ext {
		case "idx":
			seqs = append(seqs, seq)
		case "log":
			if have[base+".idx"] {
				os.Remove(filepath.Join(p.dir, name)) // sealed before a crash removed it
				continue
			}
			os.Remove(filepath.Join(p.dir, base+".data"))
			ok, err := s.recoverLog(p, seq)
			if err != nil {
				return err
			}
			if ok {
				seqs = append(seqs, seq)
				have[base+".data"] = true
			}
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		base := filepath.Join(p.dir, fmt.Sprintf("%016x", seq))
		if !have[fmt.Sprintf("%016x.data", seq)] {
			return fmt.Errorf("log store: %s.idx has no data file", base)
		}
		sg, err := openSealed(seq, base+".data", base+".idx")
		if err != nil {
			return fmt.Errorf("log store: %w", err)
		}
		p.sealed = append(p.sealed, sg)
	}
	return nil
}

// recoverLog rebuilds an unsealed log's index, cuts a torn tail and seals
// it; it reports whether a sealed segment was written.
func (s *Store) recoverLog(p *partition, seq uint64) (bool, error) {
	path := filepath.Join(p.dir, fmt.Sprintf("%016x.log", seq))
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("log store: %w", err)
	}
	a := newActive(seq, path, nil, 1, 0)
	var entries []api.LogEntry
	var offs []int64
	off := int64(0)
	for off < int64(len(b)) {
		payload, next, err := frameAt(b, off, true)
		var e api.LogEntry
		if err == nil {
			err = decodeRecord(payload, &e)
		}
		if err != nil {
			s.log.Warn("cut torn log", "path", path, "offset", off, "bytes", int64(len(b))-off)
			break
		}
		entries = append(entries, e)
		offs = append(offs, off)
		off = next
	}
	a.addChunk(b[:off]) // chunk 0: offsets are plain file offsets
	a.index(entries, offs)
	if len(a.offs) == 0 {
		return false, os.Remove(path)
	}
	if _, _, err := a.sealFiles(p.dir); err != nil {
		return false, fmt.Errorf("log store: seal %s: %w", path, err)
	}
	syncDir(p.dir)
	return true, os.Remove(path)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// partitionFor returns the partition holding time t (Unix ns), creating it.
func (s *Store) partitionFor(t int64) (*partition, error) {
	span := int64(s.opts.Partition)
	start := t - ((t%span)+span)%span
	s.mu.RLock()
	p, ok := s.parts[start]
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok {
		return p, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if p, ok := s.parts[start]; ok {
		return p, nil
	}
	dir := filepath.Join(s.opts.Dir, time.Unix(0, start).UTC().Format(partitionLayout))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	syncDir(s.opts.Dir)
	p = &partition{start: start, end: start + span, dir: dir}
	s.parts[start] = p
	return p, nil
}

// Append stores entries durably: when it returns nil, every entry is in an
// fsynced log file and visible to Search, and live tails have been handed
// the matching ones. Entries go to the partitions of their times, in order;
// an entry without a time gets the store's clock (set in the slice). A
// batch spanning partitions is committed partition by partition: after an
// error, a resent batch may store the first part twice.
func (s *Store) Append(ctx context.Context, entries []api.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range entries {
		if entries[i].Time.IsZero() {
			entries[i].Time = s.now()
		}
	}
	span := int64(s.opts.Partition)
	// Most batches fall in one partition; group by partition otherwise.
	for i := 0; i < len(entries); {
		start := entries[i].Time.UnixNano()
		start -= ((start % span) + span) % span
		j := i + 1
		for j < len(entries) {
			t := entries[j].Time.UnixNano()
			if t < start || t >= start+span {
				break
			}
			j++
		}
		p, err := s.partitionFor(start)
		if err != nil {
			return err
		}
		if err := s.appendTo(p, entries[i:j]); err != nil {
			return err
		}
		i = j
	}
	s.tail.publish(entries)
	return nil
}

func (s *Store) appendTo(p *partition, entries []api.LogEntry) error {
	// Encode outside the lock: concurrent reports only queue for the write,
	// the index and the fsync.
	est := 0
	for i := range entries {
		est += 64 + len(entries[i].Message) + len(entries[i].Source)
		for k, v := range entries[i].Fields {
			est += 4 + len(k) + len(v)
		}
	}
	buf := make([]byte, 0, est)
	var keys []string
	ends := make([]int, len(entries))
	for i := range entries {
		buf, keys = appendRecord(buf, &entries[i], keys)
		ends[i] = len(buf)
	}

	a, end, err := s.writeIndexed(p, entries, buf, ends)
	if err != nil || a == nil || s.opts.NoSync {
		return err
	}
	return a.syncTo(end)
}

// writeIndexed writes a batch's records to the partition's log and indexes
// them; it returns the active segment and the log size to fsync to (nil
// when the batch needs no fsync: dropped, or sealed, which fsyncs).
func (s *Store) writeIndexed(p *partition, entries []api.LogEntry, buf []byte, ends []int) (*active, int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			return nil, 0, ErrClosed
		}
		// Dropped by retention while this batch waited: older than what
		// the store keeps.
		s.droppedEntries.Add(int64(len(entries)))
		return nil, 0, nil
	}
	if p.act == nil {
		seq := s.seq.Add(1)
		path := filepath.Join(p.dir, fmt.Sprintf("%016x.log", seq))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
		if err != nil {
			return nil, 0, fmt.Errorf("log store: %w", err)
		}
		syncDir(p.dir)
		p.act = newActive(seq, path, f, s.opts.IndexWorkers, int(s.tokHint.Load()))
	}
	a := p.act
	if _, err := a.f.Write(buf); err != nil {
		// Undo a partial write so the file stays a sequence of whole records.
		_ = a.f.Truncate(a.bytes)
		return nil, 0, fmt.Errorf("log store: write %s: %w", a.path, err)
	}
	offs := make([]int64, len(entries))
	base := a.addChunk(buf)
	start := 0
	for i := range entries {
		offs[i] = base | int64(start)
		start = ends[i]
	}
	a.index(entries, offs)
	a.lastAppend = s.now().UnixNano()
	if len(a.offs) >= s.opts.SegmentEntries || a.bytes >= s.opts.SegmentBytes {
		return nil, 0, s.seal(p)
	}
	return a, a.bytes, nil
}

// syncTo returns once the log is fsynced up to end. Appends that wait here
// together share one fsync (group commit).
func (a *active) syncTo(end int64) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	switch {
	case a.synced >= end:
		return nil
	case a.state == logSealed:
		return nil // the sealed files were fsynced
	case a.state == logClosed:
		return ErrClosed
	}
	// Everything written when the fsync starts is covered by it.
	target := a.written.Load()
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("log store: sync %s: %w", a.path, err)
	}
	a.synced = target
	return nil
}

// closeLog closes the log file once no fsync runs; state says why.
func (a *active) closeLog(state int) {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if a.state == logOpen && a.f != nil {
		a.f.Close()
	}
	a.state = state
}

// seal turns the partition's active segment into a sealed one. Call with
// p.mu held.
func (s *Store) seal(p *partition) error {
	a := p.act
	if a == nil {
		return nil
	}
	if len(a.offs) >= s.opts.SegmentEntries/2 {
		s.tokHint.Store(int64(a.tokens()))
	}
	dataPath, idxPath, err := a.sealFiles(p.dir)
	if err != nil {
		return fmt.Errorf("log store: seal %s: %w", a.path, err)
	}
	syncDir(p.dir)
	sg, err := openSealed(a.seq, dataPath, idxPath)
	if err != nil {
		return fmt.Errorf("log store: %w", err)
	}
	a.closeLog(logSealed)
	if err := os.Remove(a.path); err != nil {
		s.log.Warn("remove sealed log", "path", a.path, "err", err)
	}
	p.sealed = append(p.sealed, sg)
	p.act = nil
	return nil
}

// acquire returns the partitions overlapping [since, until) (Unix ns),
// newest first, each held until release is called.
func (s *Store) acquire(since, until int64) ([]*partition, func(), error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	var ps []*partition
	for _, p := range s.parts {
		if p.end > since && p.start < until {
			p.refs.Add(1)
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].start > ps[j].start })
	return ps, func() {
		for _, p := range ps {
			p.refs.Done()
		}
	}, nil
}

// Stats returns the store's self metrics.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{
		Partitions:     len(s.parts),
		DroppedParts:   s.droppedPartitions.Load(),
		DroppedEntries: s.droppedEntries.Load(),
		DroppedBytes:   s.droppedBytes.Load(),
	}
	st.TailSubscribers, st.TailLagged = s.tail.stats()
	for _, p := range s.parts {
		e, b, n, act := p.size()
		st.Entries += e
		st.Bytes += b
		st.Segments += n
		st.ActiveEntries += act
	}
	return st
}

// size returns a partition's entries, bytes, segments and active entries.
func (p *partition) size() (entries, bytes int64, segments int, activeEntries int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sg := range p.sealed {
		entries += int64(sg.n)
		bytes += sg.bytes
	}
	segments = len(p.sealed)
	if p.act != nil {
		activeEntries = int64(len(p.act.offs))
		entries += activeEntries
		bytes += p.act.bytes
		segments++
	}
	return entries, bytes, segments, activeEntries
}

// Close seals the active segments and closes the store. It waits for
// running searches.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.tail.close()
	var errs []error
	for _, p := range s.parts {
		p.mu.Lock()
		if err := s.seal(p); err != nil {
			errs = append(errs, err)
		}
		p.mu.Unlock()
	}
	s.closeAll()
	return errors.Join(errs...)
}

func (s *Store) closeAll() {
	for _, p := range s.parts {
		p.refs.Wait()
		p.close()
	}
}

func (p *partition) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	for _, sg := range p.sealed {
		sg.close()
	}
	p.sealed = nil
	if p.act != nil {
		p.act.closeLog(logClosed)
		p.act = nil
	}
}
