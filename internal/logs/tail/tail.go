// Package tail follows log files the way Filebeat and rsyslog's imfile do:
// glob patterns re-evaluated as files appear, appended lines read in
// batches, rotation by rename and by copytruncate followed, and the offset
// of every file checkpointed on disk once the caller has acknowledged its
// lines, so a restart neither loses lines nor re-sends acknowledged ones
// (delivery is at least once).
//
// The agent's file log input runs one Tailer per LogInput and hands each
// batch to its spool; the parse package turns the lines into entries.
//
// Where a never-seen file starts: a pattern the checkpoint has never
// recorded starts at the end of the files it matches when it is first
// followed (the history before the agent followed them is not shipped,
// like `tail -F`), unless Options.FromBeginning is set (Filebeat's
// behaviour). Every file found after that, created while the agent runs or
// while it was stopped, is read from its beginning.
//
// A followed file (one device+inode) goes through these states:
//
//	found by a pattern ──► following ──► rotated ──► closed
//	                        │    ▲   path gone or     drained and idle for
//	                        └────┘   another inode    CloseRotated; its
//	             shrank or its first bytes changed    checkpoint entry goes
//	             (copytruncate): the copy next to it
//	             is read from the old offset, the
//	             file again from 0
//
// Lines are lost only where no tailer can see them: what a writer adds
// between logrotate's copy and its truncate (logrotate's own window), a
// file rotated and removed or compressed before the tailer saw it (two
// rotations within one Poll, or while the agent is stopped without
// delaycompress), or a file truncated and refilled past the old offset with
// the same first KiB. Lines are sent twice when the agent dies between
// acknowledging a batch and the next checkpoint write (at most Checkpoint's
// worth), or when a pattern also matches the rotated copies (app.log*): a
// copytruncate copy then looks like a new file. Patterns should name the
// live files only, as with Filebeat.
package tail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Options configure a Tailer.
type Options struct {
	// Patterns are filepath.Glob patterns of the files to follow.
	Patterns []string
	// StatePath is the checkpoint file ("" keeps offsets in memory only).
	StatePath string
	// Poll is how often files are re-globbed and read when idle (250 ms).
	Poll time.Duration
	// MaxLine bounds a line (1 MiB): the rest is skipped and the line ends
	// with the marker " …[truncated N bytes]".
	MaxLine int
	// BatchLines and BatchBytes bound one batch (1024 lines, 1 MiB).
	BatchLines, BatchBytes int
	// CloseRotated is how long a file that was renamed away or removed is
	// kept open after it stopped growing, for writers that reopen late
	// (nginx until its USR1): 5 s.
	CloseRotated time.Duration
	// Checkpoint is the least time between two writes of the state file
	// (1 s); it is also written when Run ends. A crash re-sends at most
	// what was acknowledged since the last write.
	Checkpoint time.Duration
	// FromBeginning reads the files of a never-followed pattern from their
	// start instead of their end.
	FromBeginning bool
	Logger        *slog.Logger
	Now           func() time.Time
}

// Line is one line of a followed file, without its newline (and CR).
type Line struct {
	Path string
	// Offset is the file offset just after the line's newline: where to
	// resume once this line is safe.
	Offset int64
	// Data is valid until the out function returns; copy it to keep it.
	Data []byte
	// Truncated says the line was longer than MaxLine and was cut.
	Truncated bool
	// Pending is set by the out function on lines it accepted but has not
	// made durable yet: the lines of a multiline event still open. The
	// file's checkpoint then stays before its first pending line of the
	// batch, so that after a restart the event is read again whole; it
	// moves on with a later batch that has no pending line before it.
	Pending bool

	r   *reader
	gen int
}

// Stats are the tailer's counters since New.
type Stats struct {
	Lines, Bytes, Truncated   int64
	Rotations, Truncations    int64 // renamed/removed files, files that shrank
	Files                     int64 // files open now
	OpenErrors, DeliverErrors int64
}

// Tailer follows the files matching some glob patterns.
type Tailer struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	readers  []*reader
	byKey    map[fileKey]*reader
	buf      []byte
	batch    batch
	st       state // the checkpoint as loaded
	patterns []string
	warned   map[string]bool // paths whose open error was logged
	lastScan time.Time
	lastSave time.Time
	dirty    bool

	lines, bytes, truncated, rotations, truncations, files, openErrs, deliverErrs atomic.Int64
}

// New returns a Tailer; Run starts it.
func New(opts Options) *Tailer {
	if opts.Poll <= 0 {
		opts.Poll = 250 * time.Millisecond
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 1 << 20
	}
	if opts.BatchLines <= 0 {
		opts.BatchLines = 1024
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1 << 20
	}
	if opts.CloseRotated <= 0 {
		opts.CloseRotated = 5 * time.Second
	}
	if opts.Checkpoint <= 0 {
		opts.Checkpoint = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tailer{
		opts:   opts,
		log:    log.With("component", "tail"),
		now:    opts.Now,
		byKey:  map[fileKey]*reader{},
		buf:    make([]byte, 256<<10),
		batch:  batch{maxLines: opts.BatchLines, maxBytes: opts.BatchBytes},
		warned: map[string]bool{},
	}
}

// Stats returns the counters; safe to call while Run runs.
func (t *Tailer) Stats() Stats {
	return Stats{
		Lines: t.lines.Load(), Bytes: t.bytes.Load(), Truncated: t.truncated.Load(),
		Rotations: t.rotations.Load(), Truncations: t.truncations.Load(), Files: t.files.Load(),
		OpenErrors: t.openErrs.Load(), DeliverErrors: t.deliverErrs.Load(),
	}
}

// Run follows the files until ctx ends. Each batch goes to out; when out
// returns nil its lines count as acknowledged and their offsets are
// checkpointed, when it returns an error the same batch is offered again
// after Poll. Run writes the checkpoint before it returns nil at the end of
// ctx; it returns an error only for a bad pattern.
func (t *Tailer) Run(ctx context.Context, out func(batch []Line) error) error {
	for _, p := range t.opts.Patterns {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("tail pattern %q: %w", p, err)
		}
	}
	defer t.closeAll()
	t.start()
	for {
		progress, err := t.step(ctx, out)
		if err != nil {
			break // ctx ended while a batch waited
		}
		t.maybeSave(false)
		if progress {
			if ctx.Err() != nil {
				break
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(t.opts.Poll):
			continue
		}
		break
	}
	t.maybeSave(true)
	return nil
}

// start loads the checkpoint, opens the files the patterns match and
// resumes the rotated files of entries no pattern finds any more.
func (t *Tailer) start() {
	if t.opts.StatePath != "" {
		st, ok, err := loadState(t.opts.StatePath)
		if err != nil {
			// Keep going from the beginning of every file: duplicates
			// rather than loss.
			t.log.Error("tail state unreadable, reading files from their start", "err", err)
			st = state{Patterns: slices.Clone(t.opts.Patterns)}
			ok = true
		}
		if ok {
			t.st = st
		}
	}
	known := map[string]bool{}
	for _, p := range t.st.Patterns {
		known[p] = true
	}
	t.scan(known)
	// Files of the checkpoint no pattern matched now: rotated while the
	// agent was stopped. Finish them if they are still next to their path.
	for _, e := range t.st.Files {
		k := fileKey{Dev: e.Dev, Ino: e.Ino}
		if _, ok := t.byKey[k]; ok || k == (fileKey{}) {
			continue
		}
		probe := &reader{pos: e.Offset, fpLen: e.FPLen, fp: e.FP}
		f, p := probe.findCopy(filepath.Dir(e.Path), fileKey{}, k)
		if f == nil {
			continue
		}
		r := &reader{f: f, key: k, path: e.Path, pos: e.Offset, acked: e.Offset, fpLen: e.FPLen, fp: e.FP,
			rotated: true, grace: 0, idleSince: t.now()}
		t.add(r)
		t.rotations.Add(1)
		t.log.Info("finishing a file rotated while stopped", "path", e.Path, "now", p, "offset", e.Offset)
	}
	t.patterns = slices.Clone(t.st.Patterns)
	for _, p := range t.opts.Patterns {
		if !slices.Contains(t.patterns, p) {
			t.patterns = append(t.patterns, p)
		}
	}
	t.dirty = true
	t.maybeSave(true)
}

// add starts following r.
func (t *Tailer) add(r *reader) {
	t.readers = append(t.readers, r)
	t.byKey[r.key] = r
	t.files.Add(1)
}

// scan globs the patterns: new files get a reader, followed files no
// longer at a matched path become rotated. initial, on the first scan, says
// which patterns the checkpoint knew.
func (t *Tailer) scan(initial map[string]bool) {
	t.lastScan = t.now()
	seen := map[fileKey]bool{}
	for _, pattern := range t.opts.Patterns {
		paths, _ := filepath.Glob(pattern) // patterns were checked in Run
		sort.Strings(paths)
		for _, path := range paths {
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			k := keyOf(fi)
			if r, ok := t.byKey[k]; ok && k != (fileKey{}) {
				seen[k] = true
				if r.rotated && r.path == path {
					r.rotated = false // back where it was (a rename undone)
				}
				continue
			}
			atEnd := initial != nil && !initial[pattern] && !t.opts.FromBeginning
			if r := t.open(path, atEnd); r != nil {
				seen[r.key] = true
			}
		}
	}
	for _, r := range t.readers {
		if !seen[r.key] && !r.rotated {
			r.rotated, r.grace, r.idleSince = true, t.opts.CloseRotated, t.now()
			t.rotations.Add(1)
			t.log.Debug("file rotated or removed", "path", r.path)
		}
	}
}

// open starts following path: from its checkpoint when it has one, else
// from its end when atEnd, else from its start.
func (t *Tailer) open(path string, atEnd bool) *reader {
	f, err := os.Open(path)
	if err != nil {
		t.openErrs.Add(1)
		if !t.warned[path] {
			t.warned[path] = true
			t.log.Warn("cannot open log file", "path", path, "err", err)
		}
		return nil
	}
	delete(t.warned, path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil
	}
	r := &reader{f: f, key: keyOf(fi), path: path, lastSize: -1}
	if _, ok := t.byKey[r.key]; ok && r.key != (fileKey{}) {
		f.Close() // replaced between the stat and the open, and followed already
		return nil
	}
	from := "start"
	for _, e := range t.st.Files {
		if (fileKey{Dev: e.Dev, Ino: e.Ino}) != r.key || r.key == (fileKey{}) && e.Path != path {
			continue
		}
		probe := &reader{pos: e.Offset, fpLen: e.FPLen, fp: e.FP}
		if e.Offset <= fi.Size() && probe.sameStart(f) {
			r.pos, r.acked, r.fpLen, r.fp = e.Offset, e.Offset, e.FPLen, e.FP
			from = "checkpoint"
		} else if e.Offset > 0 {
			// Truncated while the agent was stopped: finish the copy.
			t.truncations.Add(1)
			if cf, cp := probe.findCopy(filepath.Dir(path), r.key, fileKey{}); cf != nil {
				if cfi, err := cf.Stat(); err == nil && t.byKey[keyOf(cfi)] == nil {
					t.add(&reader{f: cf, key: keyOf(cfi), path: path, pos: e.Offset, acked: e.Offset,
						fpLen: e.FPLen, fp: e.FP, lastSize: -1, rotated: true, idleSince: t.now()})
					t.log.Info("finishing the copy of a file truncated while stopped", "path", path, "copy", cp)
				} else {
					cf.Close()
				}
			}
		}
		break
	}
	if from == "start" && atEnd {
		r.pos = lineStartBefore(f, fi.Size())
		r.acked = r.pos
		from = "end"
	}
	r.refreshFP(fi.Size())
	t.add(r)
	t.log.Debug("following log file", "path", path, "from", from, "offset", r.pos)
	return r
}

// lineStartBefore returns the offset after the last newline before size,
// so that a line being written when the tailer starts is read whole.
func lineStartBefore(f *os.File, size int64) int64 {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return size
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return start + int64(i) + 1
			}
		}
		end = start
		if size-end > 1<<20 {
			return size // no newline in the last MiB: start at the end
		}
	}
	return 0
}

// step scans when due, reads one batch and delivers it. It returns whether
// it delivered anything (or closed a file), and an error only when ctx
// ended before the batch was acknowledged.
func (t *Tailer) step(ctx context.Context, out func([]Line) error) (bool, error) {
	if t.now().Sub(t.lastScan) >= t.opts.Poll {
		t.scan(nil)
	}
	t.batch.reset()
	// Rotated files first: their lines are older than their successors'.
	// The others take turns at being first, so that one busy file cannot
	// starve the rest.
	sort.SliceStable(t.readers, func(i, j int) bool { return t.readers[i].rotated && !t.readers[j].rotated })
	if i := slices.IndexFunc(t.readers, func(r *reader) bool { return !r.rotated }); i >= 0 && len(t.readers)-i > 1 {
		rest := t.readers[i:]
		first := rest[0]
		copy(rest, rest[1:])
		rest[len(rest)-1] = first
	}
	anyDone := false
	for _, r := range t.readers {
		if t.batch.full() {
			break
		}
		t.read(r)
		anyDone = anyDone || r.done
	}
	lines := t.batch.seal()
	if len(lines) > 0 {
		for tries := 0; ; tries++ {
			err := out(lines)
			if err == nil {
				if tries > 0 {
					t.log.Info("log lines accepted again", "tries", tries+1)
				}
				break
			}
			t.deliverErrs.Add(1)
			if tries == 0 {
				t.log.Warn("log lines not accepted, retrying every poll", "lines", len(lines), "err", err)
			}
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(t.opts.Poll):
			}
		}
		t.commit(lines)
	}
	if anyDone {
		t.closeDone()
	}
	return len(lines) > 0 || anyDone, nil
}

// read appends r's new lines to the batch, following truncation.
func (t *Tailer) read(r *reader) {
	if r.done {
		return
	}
	fi, err := r.f.Stat()
	if err != nil {
		return
	}
	// A change of size or mtime is when the file may have been truncated
	// (and maybe refilled to the same size since the last look).
	size := fi.Size()
	if size != r.lastSize || !fi.ModTime().Equal(r.lastMod) {
		if size < r.pos || !r.sameStart(r.f) {
			t.truncatedFile(r)
		}
		r.lastSize, r.lastMod = size, fi.ModTime()
		r.refreshFP(size)
	}
	maxLine := t.opts.MaxLine
	for r.pos < size && !t.batch.full() {
		n, err := r.f.ReadAt(t.buf[:min(int64(len(t.buf)), size-r.pos)], r.pos)
		if n == 0 {
			if err != nil && err != io.EOF {
				t.log.Warn("read log file", "path", r.path, "err", err)
			}
			break
		}
		t.batch.consume(r, t.buf[:n], maxLine)
	}
	if !r.rotated {
		return
	}
	if r.pos < size {
		r.idleSince = t.now()
		return
	}
	if t.now().Sub(r.idleSince) >= r.grace && !t.batch.full() {
		if len(r.partial) > 0 || r.dropped > 0 {
			t.batch.emit(r, nil, r.pos, maxLine) // the last line had no newline
		}
		r.done = true
	}
}

// truncatedFile handles a file that shrank or whose start changed
// (copytruncate): what the copy holds beyond the reader's position is read
// from the copy, then the file is read again from its start.
func (t *Tailer) truncatedFile(r *reader) {
	t.truncations.Add(1)
	t.log.Info("log file truncated, reading it from the start", "path", r.path, "offset", r.pos)
	if r.pos > 0 {
		if f, p := r.findCopy(filepath.Dir(r.path), r.key, fileKey{}); f != nil {
			fi, err := f.Stat()
			if err == nil {
				if _, taken := t.byKey[keyOf(fi)]; !taken {
					c := &reader{f: f, key: keyOf(fi), path: r.path, pos: r.pos, acked: r.pos, gen: r.gen,
						partial: r.partial, dropped: r.dropped, fpLen: r.fpLen, fp: r.fp, lastSize: fi.Size(),
						rotated: true, grace: 0, idleSince: t.now()}
					t.add(c)
					t.log.Debug("reading the rest from the copy", "path", r.path, "copy", p)
					r.partial = nil
				} else {
					f.Close()
				}
			} else {
				f.Close()
			}
		}
	}
	r.gen++
	r.pos, r.acked, r.fpLen, r.fp = 0, 0, 0, 0
	r.partial, r.dropped = r.partial[:0], 0
	t.dirty = true
}

// commit records the acknowledged offsets of a delivered batch: per file,
// the end of its last line before its first Pending one.
func (t *Tailer) commit(lines []Line) {
	var n int64
	var held map[*reader]bool // files with a pending line in this batch
	for i := range lines {
		l := &lines[i]
		if l.Pending {
			if held == nil {
				held = map[*reader]bool{}
			}
			held[l.r] = true
		}
		if l.r.gen == l.gen && !held[l.r] {
			l.r.acked = l.Offset
		}
		n += int64(len(l.Data))
		if l.Truncated {
			t.truncated.Add(1)
		}
		l.r = nil
	}
	t.lines.Add(int64(len(lines)))
	t.bytes.Add(n)
	t.dirty = true
}

// closeDone closes drained rotated files.
func (t *Tailer) closeDone() {
	kept := t.readers[:0]
	for _, r := range t.readers {
		if !r.done {
			kept = append(kept, r)
			continue
		}
		r.f.Close()
		if t.byKey[r.key] == r {
			delete(t.byKey, r.key)
		}
		t.files.Add(-1)
		t.log.Debug("closed rotated log file", "path", r.path)
	}
	clear(t.readers[len(kept):])
	t.readers = kept
	t.dirty = true
}

func (t *Tailer) closeAll() {
	for _, r := range t.readers {
		r.f.Close()
	}
	t.files.Add(-int64(len(t.readers)))
	t.readers = nil
	clear(t.byKey)
}

// maybeSave writes the checkpoint when it changed and Checkpoint has
// passed since the last write, or now when force is set.
func (t *Tailer) maybeSave(force bool) {
	if t.opts.StatePath == "" || !t.dirty || !force && t.now().Sub(t.lastSave) < t.opts.Checkpoint {
		return
	}
	st := state{Patterns: t.patterns}
	for _, r := range t.readers {
		if r.done {
			continue
		}
		e := stateEntry{Path: r.path, Dev: r.key.Dev, Ino: r.key.Ino, Offset: r.acked}
		// The fingerprint must describe the bytes before the offset's
		// generation; after a truncation acked is 0 and any start matches.
		if r.acked > 0 || r.fpLen > 0 {
			e.FPLen, e.FP = r.fpLen, r.fp
		}
		st.Files = append(st.Files, e)
	}
	if err := saveState(t.opts.StatePath, st); err != nil {
		t.log.Error("checkpoint log offsets", "err", err)
		return
	}
	t.lastSave, t.dirty = t.now(), false
}
