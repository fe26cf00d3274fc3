// Package whisper is Corral's metric storage in Graphite's whisper format: one
// file per series under a root directory, laid out as carbon lays it out, with
// storage-schemas.conf and storage-aggregation.conf semantics. Files are
// written in whisper's classic uncompressed format through
// github.com/go-graphite/go-whisper, so graphite-web and the whisper-* tools
// read them and files made by carbon can be adopted as they are.
//
// Store writes and reads files directly; Cache sits in front of it as carbon's
// write-back cache. The metrics ingest and render code import this package;
// server builds the Store and runs the Cache.
package whisper

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
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
	// ErrUnsupportedAggregation reports an aggregation method (avg_zero,
	// absmax, absmin) that go-whisper cannot roll up correctly.
	ErrUnsupportedAggregation = errors.New("whisper: aggregation method not supported for writing")
)

// writableMethods maps whisper.py method names to go-whisper's; ids 1-5 are the
// same in both. go-whisper reads 6-8 as first/mix/percentile, not as
// whisper.py's avg_zero/absmax/absmin, so those are refused for writing.
var writableMethods = map[string]gowhisper.AggregationMethod{
	"average": gowhisper.Average, "sum": gowhisper.Sum, "last": gowhisper.Last,
	"max": gowhisper.Max, "min": gowhisper.Min,
}

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
	locks        [256]sync.Mutex
}

// Open prepares a Store over opts.Root. It fails when an aggregation rule asks
// for a method go-whisper cannot write (ErrUnsupportedAggregation).
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
		if _, ok := writableMethods[a.Method]; !ok {
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
	return &Store{
		root: opts.Root, schemas: opts.Schemas, aggregations: opts.Aggregations,
		tagFull: opts.TagFullFilenames, sparse: opts.Sparse,
		log: log.With("component", "whisper"),
	}, nil
}

// Close releases the Store. It holds no files open, so it only exists for
// symmetry with Cache and future handle caching.
func (s *Store) Close() error { return nil }

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

func (s *Store) lock(name string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(name))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// Write stores points for name, creating its file with the matching schema and
// aggregation on first write. Points outside the file's retention are dropped
// by whisper, as in carbon.
func (s *Store) Write(name string, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	rel, err := s.Path(name)
	if err != nil {
		return err
	}
	path := filepath.Join(s.root, rel)
	mu := s.lock(name)
	mu.Lock()
	defer mu.Unlock()
	w, err := gowhisper.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		w, err = s.create(name, path)
	}
	if err != nil {
		return fmt.Errorf("open whisper file %s: %w", path, err)
	}
	defer w.Close()
	if !writable(w.AggregationMethod()) {
		return fmt.Errorf("write %s: file method %s: %w", path, w.AggregationMethod(), ErrUnsupportedAggregation)
	}
	tsp := make([]*gowhisper.TimeSeriesPoint, len(points))
	for i, p := range points {
		tsp[i] = &gowhisper.TimeSeriesPoint{Time: int(p.Time), Value: p.Value}
	}
	if err := w.UpdateMany(tsp); err != nil {
		return fmt.Errorf("update whisper file %s: %w", path, err)
	}
	return nil
}

// writable reports whether go-whisper rolls up a file's method as whisper.py does.
func writable(m gowhisper.AggregationMethod) bool {
	for _, v := range writableMethods {
		if v == m {
			return true
		}
	}
	return false
}

func (s *Store) create(name, path string) (*gowhisper.Whisper, error) {
	schema, agg := s.Schema(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	rets := make(gowhisper.Retentions, len(schema.Retentions))
	for i, r := range schema.Retentions {
		nr := gowhisper.NewRetention(r.SecondsPerPoint, r.Points)
		rets[i] = &nr
	}
	w, err := gowhisper.CreateWithOptions(path, rets, writableMethods[agg.Method], float32(agg.XFilesFactor),
		&gowhisper.Options{Sparse: s.sparse})
	if err != nil {
		return nil, err
	}
	s.log.Debug("created whisper file", "name", name, "path", path, "schema", schema.Name, "aggregation", agg.Name)
	return w, nil
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
	mu := s.lock(name)
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
