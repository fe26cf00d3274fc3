// Package whisper is Corral's metric storage in Graphite's whisper format: one
// file per series under a root directory, laid out as carbon lays it out, with
// storage-schemas.conf and storage-aggregation.conf semantics. Files are in
// whisper's classic uncompressed format, so graphite-web and the whisper-*
// tools read them and files made by carbon can be adopted as they are.
// Updates are written by this package (update.go: whisper.py's update_many
// semantics, batched); reads go through github.com/go-graphite/go-whisper.
//
// Store writes and reads files directly; Cache sits in front of it as carbon's
// write-back cache. The metrics ingest and render code import this package;
// server builds the Store and runs the Cache.
package whisper

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	gowhisper "github.com/go-graphite/go-whisper"
)

var (
	// ErrNotFound reports that a series has no whisper file.
	ErrNotFound = errors.New("whisper: series not found")
	// ErrInvalidName reports a metric name that cannot map to a file path.
	ErrInvalidName = errors.New("whisper: invalid metric name")
	// ErrUnsupportedAggregation reports an aggregation method whisper.py
	// does not know (in a rule or in a file's header).
	ErrUnsupportedAggregation = errors.New("whisper: unsupported aggregation method")
)

// Point is one value at a Unix time in seconds.
type Point struct {
	Time  int64
	Value float64
}

// Series is a fetched range: Values[i] is the value at Start+i*Step, NaN when
// missing. Until is Start+len(Values)*Step.
type Series struct {
	Start, Until, Step int64
	Values             []float64
}

// Options configures a Store.
type Options struct {
	Root         string       // directory holding the whisper tree; created if missing
	Schemas      Schemas      // nil: DefaultSchemasConf
	Aggregations Aggregations // nil: DefaultAggregationConf
	// TagFullFilenames names tagged series' files by the escaped series name
	// (carbon's TAG_HASH_FILENAMES = False) instead of by its sha256 (the
	// default, TAG_HASH_FILENAMES = True).
	TagFullFilenames bool
	Sparse           bool // create sparse files instead of preallocating
	Logger           *slog.Logger
	// Now is the clock that decides which archive a point goes to and
	// which points are too old to keep; default time.Now.
	Now func() time.Time
	// MaxOpenFiles is how many files are kept open between updates (with
	// their headers), saving an open, a close and a header read per
	// update; rounded down to a multiple of 1024 (files hash onto 1024
	// lock stripes, each keeping its share). 0: half the process's
	// descriptor limit, at most 65536; negative: none.
	MaxOpenFiles int
}

// Store reads and writes whisper files under a root directory. It holds no
// open files; per-series locks keep writers of one file apart. It is safe
// for concurrent use.
type Store struct {
	root         string
	schemas      Schemas
	aggregations Aggregations
	tagFull      bool
	sparse       bool
	log          *slog.Logger
	now          func() time.Time
	seed         maphash.Seed
	locks        [lockStripes]sync.Mutex
	handles      [lockStripes]map[string]*handle // kept open files, under locks[i]
	perStripe    int                             // kept files per stripe
	updaters     sync.Pool                       // of *updater
}

// lockStripes is the number of file locks; files hash onto them.
const lockStripes = 1024

// Open prepares a Store over opts.Root. It fails when an aggregation rule asks
// for a method whisper.py does not know (ErrUnsupportedAggregation).
func Open(opts Options) (*Store, error) {
	if opts.Root == "" {
		return nil, errors.New("whisper: Options.Root is required")
	}
	if opts.Schemas == nil {
		s, err := ParseSchemas(strings.NewReader(DefaultSchemasConf), "default storage-schemas.conf")
		if err != nil {
			return nil, err
		}
		opts.Schemas = s
	}
	if opts.Aggregations == nil {
		a, err := ParseAggregations(strings.NewReader(DefaultAggregationConf), "default storage-aggregation.conf")
		if err != nil {
			return nil, err
		}
		opts.Aggregations = a
	}
	for _, a := range opts.Aggregations {
		if _, ok := methodIDs[a.Method]; !ok {
			return nil, fmt.Errorf("aggregation [%s] (line %d) method %s: %w", a.Name, a.Line, a.Method, ErrUnsupportedAggregation)
		}
	}
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return nil, fmt.Errorf("create whisper root: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxOpenFiles == 0 {
		opts.MaxOpenFiles = defaultMaxOpenFiles()
	}
	return &Store{
		perStripe: max(opts.MaxOpenFiles, 0) / lockStripes,
		root:      opts.Root, schemas: opts.Schemas, aggregations: opts.Aggregations,
		tagFull: opts.TagFullFilenames, sparse: opts.Sparse,
		log: log.With("component", "whisper"), now: opts.Now, seed: maphash.MakeSeed(),
		updaters: sync.Pool{New: func() any { return new(updater) }},
	}, nil
}

// Close closes the files kept open. The Store stays usable; files are
// opened again as needed.
func (s *Store) Close() error {
	for i := range s.locks {
		s.locks[i].Lock()
		for rel := range s.handles[i] {
			s.forget(i, rel)
		}
		s.locks[i].Unlock()
	}
	return nil
}

// Schema returns the schema and aggregation rule a new file for name would get.
func (s *Store) Schema(name string) (Schema, Aggregation) {
	return s.schemas.Match(name), s.aggregations.Match(name)
}

// NormalizeTagged returns carbon's canonical form of a tagged name
// "name;k=v;...": tags sorted, validated as TaggedSeries does.
func NormalizeTagged(name string) (string, error) {
	parts := strings.Split(name, ";")
	if parts[0] == "" {
		return "", fmt.Errorf("%w: %q has no metric name", ErrInvalidName, name)
	}
	tags := make([]string, 0, len(parts)-1)
	for _, t := range parts[1:] {
		k, v, ok := strings.Cut(t, "=")
		switch {
		case !ok || k == "" || v == "":
			return "", fmt.Errorf("%w: tag %q in %q must be k=v", ErrInvalidName, t, name)
		case strings.ContainsAny(k, "!^=") || strings.HasPrefix(v, "~"):
			return "", fmt.Errorf("%w: tag %q in %q has a forbidden character", ErrInvalidName, t, name)
		}
		tags = append(tags, ";"+t)
	}
	slices.Sort(tags)
	return parts[0] + strings.Join(tags, ""), nil
}

// Path returns the whisper file for a metric name, relative to the root:
// "a.b.c" is "a/b/c.wsp"; a tagged name is "_tagged/<h[0:3]>/<h[3:6]>/<h>.wsp"
// with h the sha256 of its canonical form (carbon's TaggedSeries.encode).
func (s *Store) Path(name string) (string, error) {
	if strings.Contains(name, ";") {
		canon, err := NormalizeTagged(name)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(canon))
		h := hex.EncodeToString(sum[:])
		file := h
		if s.tagFull {
			if strings.ContainsAny(canon, "/\x00") {
				return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
			}
			file = strings.ReplaceAll(canon, ".", "_DOT_")
		}
		return filepath.Join("_tagged", h[0:3], h[3:6], file+".wsp"), nil
	}
	parts := strings.Split(strings.TrimLeft(name, "."), ".")
	for _, p := range parts {
		if p == "" || p == ".." || strings.ContainsAny(p, "/\x00") {
			return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
		}
	}
	return filepath.Join(parts...) + ".wsp", nil
}

// stripe returns the index of the lock (and kept files) of a file, by its
// path under the root.
func (s *Store) stripe(rel string) int {
	return int(maphash.String(s.seed, rel) % uint64(len(s.locks)))
}

// lock returns the mutex of a file, by its path under the root.
func (s *Store) lock(rel string) *sync.Mutex { return &s.locks[s.stripe(rel)] }

// Write stores points for name, creating its file with the matching schema and
// aggregation on first write. Points older than the file's retention are
// dropped, as in carbon; all points of one call go to the file in one
// update (see updater).
func (s *Store) Write(name string, points []Point) error {
	_, err := s.write(name, points)
	return err
}

// write is Write that also reports how many points were within the
// file's retention.
func (s *Store) write(name string, points []Point) (int, error) {
	if len(points) == 0 {
		return 0, nil
	}
	rel, err := s.Path(name)
	if err != nil {
		return 0, err
	}
	i := s.stripe(rel)
	s.locks[i].Lock()
	defer s.locks[i].Unlock()
	hd, cached, err := s.handle(i, name, rel)
	if err != nil {
		return 0, err
	}
	if !cached {
		defer hd.f.Close()
	}
	u := s.updaters.Get().(*updater)
	defer s.updaters.Put(u)
	n, err := u.update(hd.f, hd.h, hd.bases, points, s.now().Unix())
	if err != nil {
		if cached {
			s.forget(i, rel)
		}
		return n, fmt.Errorf("update whisper file %s: %w", filepath.Join(s.root, rel), err)
	}
	return n, nil
}

// handle is an open whisper file with its header and archive bases, kept
// between updates while there is room (Options.MaxOpenFiles) and for at
// most handleTTL, so a file replaced on disk (whisper-resize, a restore)
// is picked up again.
type handle struct {
	f      rawFile
	h      header
	bases  []int64
	opened int64 // unix seconds
}

// handleTTL is how long an open file is reused.
const handleTTL = 60

// handle returns the open file for rel, creating it if missing; cached
// reports whether it stays open after use (else the caller closes it). The
// caller holds locks[i].
func (s *Store) handle(i int, name, rel string) (*handle, bool, error) {
	now := s.now().Unix()
	m := s.handles[i]
	if hd := m[rel]; hd != nil {
		if now-hd.opened < handleTTL {
			return hd, true, nil
		}
		s.forget(i, rel)
	}
	path := filepath.Join(s.root, rel)
	f, err := openRaw(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.create(name, path); err == nil {
			f, err = openRaw(path)
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("open whisper file %s: %w", path, err)
	}
	h, base0, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("read whisper file %s: %w", path, err)
	}
	hd := &handle{f: f, h: h, bases: make([]int64, len(h.archives)), opened: now}
	for j := range hd.bases {
		hd.bases[j] = -1
	}
	hd.bases[0] = base0
	if s.perStripe == 0 {
		return hd, false, nil
	}
	if m == nil {
		m = make(map[string]*handle, s.perStripe)
		s.handles[i] = m
	}
	if len(m) >= s.perStripe {
		for victim := range m { // map order: a random victim suits cyclic access
			s.forget(i, victim)
			break
		}
	}
	m[rel] = hd
	return hd, true, nil
}

// forget closes and drops a kept file; the caller holds locks[i].
func (s *Store) forget(i int, rel string) {
	if hd := s.handles[i][rel]; hd != nil {
		hd.f.Close()
		delete(s.handles[i], rel)
	}
}

// readHeader reads a whisper file's header and, when it came in the same
// read, the first archive's base interval (else -1).
func readHeader(f io.ReaderAt) (header, int64, error) {
	b := make([]byte, headerSize(8)+pointSize)
	for {
		n, err := f.ReadAt(b, 0)
		h, perr := parseHeader(b[:n])
		if perr == nil {
			base0 := int64(-1)
			if o := h.archives[0].offset; o+pointSize <= int64(n) {
				base0 = int64(binary.BigEndian.Uint32(b[o:]))
			}
			return h, base0, nil
		}
		if !errors.Is(perr, io.ErrUnexpectedEOF) || n < len(b) {
			if err != nil && !errors.Is(err, io.EOF) {
				return header{}, -1, err
			}
			return header{}, -1, perr
		}
		b = make([]byte, headerSize(maxArchives))
	}
}

// create makes a new whisper file for name with whisper.py's layout,
// unless the Store is sparse preallocated with fallocate(2) where the file
// system has it (carbon's WHISPER_FALLOCATE_CREATE), else with zeros. It fails if the file
// appeared meanwhile (the caller holds the path's lock, so only another
// process can race it).
func (s *Store) create(name, path string) error {
	schema, agg := s.Schema(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	hdr := encodeHeader(methodIDs[agg.Method], float32(agg.XFilesFactor), schema.Retentions)
	size := int64(len(hdr))
	for _, r := range schema.Retentions {
		size += int64(r.Points) * pointSize
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(path)
		return err
	}
	if _, err := f.Write(hdr); err != nil {
		return fail(err)
	}
	prealloc := false
	if !s.sparse {
		if prealloc, err = preallocate(f.Fd(), size); err != nil {
			return fail(err)
		}
	}
	if s.sparse || prealloc {
		if err := f.Truncate(size); err != nil {
			return fail(err)
		}
	} else {
		zeros := make([]byte, min(size-int64(len(hdr)), 64<<10))
		for left := size - int64(len(hdr)); left > 0; left -= int64(len(zeros)) {
			if _, err := f.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
				return fail(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	s.log.Debug("created whisper file", "name", name, "path", path, "schema", schema.Name, "aggregation", agg.Name)
	return nil
}

// Fetch reads [from, until] of name with whisper's semantics: the range is
// clamped to now and to the file's retention, and the highest-precision
// archive that still covers from is used. A range wholly in the future or
// before the retention yields an empty Series. Missing files are ErrNotFound.
func (s *Store) Fetch(name string, from, until int64) (Series, error) {
	rel, err := s.Path(name)
	if err != nil {
		return Series{}, err
	}
	path := filepath.Join(s.root, rel)
	mu := s.lock(rel)
	mu.Lock()
	defer mu.Unlock()
	w, err := gowhisper.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Series{}, ErrNotFound
	}
	if err != nil {
		return Series{}, fmt.Errorf("open whisper file %s: %w", path, err)
	}
	defer w.Close()
	ts, err := w.Fetch(int(from), int(until))
	if err != nil {
		return Series{}, fmt.Errorf("fetch whisper file %s: %w", path, err)
	}
	if ts == nil {
		return Series{}, nil
	}
	v := ts.Values()
	start, step := int64(ts.FromTime()), int64(ts.Step())
	return Series{Start: start, Step: step, Until: start + int64(len(v))*step, Values: v}, nil
}

// window computes what Fetch would return for a file with these retentions at
// now, without a file: the archive step and the aligned bounds. ok is false
// when the range is in the future or beyond the retention.
func window(rets []Retention, now, from, until int64) (start, end, step int64, ok bool) {
	maxRet := int64(rets[len(rets)-1].Duration())
	oldest := now - maxRet
	if from > until || from > now || until < oldest {
		return 0, 0, 0, false
	}
	from = max(from, oldest)
	until = min(until, now)
	step = int64(rets[len(rets)-1].SecondsPerPoint)
	for _, r := range rets {
		if int64(r.Duration()) >= now-from {
			step = int64(r.SecondsPerPoint)
			break
		}
	}
	start = from - from%step + step
	end = until - until%step + step
	if start == end {
		end += step
	}
	return start, end, step, true
}

// emptySeries is window's result as a Series of NaNs.
func emptySeries(rets []Retention, now time.Time, from, until int64) Series {
	start, end, step, ok := window(rets, now.Unix(), from, until)
	if !ok {
		return Series{}
	}
	v := make([]float64, (end-start)/step)
	for i := range v {
		v[i] = math.NaN()
	}
	return Series{Start: start, Until: end, Step: step, Values: v}
}
