package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"corral/internal/api"
	"corral/internal/driver"
)

// Task output becomes "log" reports: each task's stdout and stderr are
// tailed (exec: the files in the sandbox, following their rotation to
// <file>.1; other drivers: driver.Logger's follow stream), cut into lines
// and sent in batches of up to logBatchMax lines or after logBatchWait.
// How far each stream was sent is saved in <task dir>/logpos.json once the
// batch is in the spool, so a restarted agent goes on from there (a few
// lines may be sent twice, none are lost unless rotated away meanwhile).
const (
	logBatchMax  = 500
	logBatchWait = 200 * time.Millisecond
	// maxLogLine is the longest message kept; the rest of a longer line is
	// dropped and a marker says how long it was.
	maxLogLine = 64 << 10
	// logPoll is how often exec output files are looked at.
	logPoll = 100 * time.Millisecond
	// logPosEvery bounds how often a task's log position is written.
	logPosEvery = time.Second
	// logItemBytes bounds what a tail reads before handing lines over.
	logItemBytes = 1 << 20
)

// lineSplitter cuts a byte stream into lines. Committed counts the bytes of
// the stream that are fully handled (up to the end of the last line given
// out), the offset to resume from.
type lineSplitter struct {
	buf       []byte
	dropped   int // bytes of the current line beyond maxLogLine
	committed int64
}

// feed adds p and calls emit for each complete line, without its "\n" (and
// "\r"), cut to maxLogLine bytes with a marker.
func (s *lineSplitter) feed(p []byte, emit func(string)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLogLine - len(s.buf); room > 0 {
			n := min(room, len(chunk))
			s.buf = append(s.buf, chunk[:n]...)
			s.dropped += len(chunk) - n
		} else {
			s.dropped += len(chunk)
		}
		if i < 0 {
			return
		}
		s.committed += int64(len(s.buf) + s.dropped + 1)
		emit(s.line())
		p = p[i+1:]
	}
}

// flush gives out a last line without "\n", if any (the stream ended).
func (s *lineSplitter) flush(emit func(string)) {
	if len(s.buf) == 0 && s.dropped == 0 {
		return
	}
	s.committed += int64(len(s.buf) + s.dropped)
	emit(s.line())
}

func (s *lineSplitter) line() string {
	b := bytes.TrimSuffix(s.buf, []byte("\r"))
	var msg string
	if s.dropped > 0 {
		total := len(s.buf) + s.dropped
		// Cut at a rune boundary so the message stays valid UTF-8.
		for len(b) > 0 && !utf8.Valid(b[max(0, len(b)-utf8.UTFMax):]) {
			b = b[:len(b)-1]
		}
		msg = string(b) + " …[truncated: line of " + strconv.Itoa(total) + " bytes]"
	} else {
		msg = string(b)
	}
	s.buf, s.dropped = s.buf[:0], 0
	return msg
}

// logItem is what a tailer hands the batcher: lines, and how far its
// stream is sent once they are in the spool.
type logItem struct {
	entries []api.LogEntry
	tail    *logTail
	stream  string    // "" with a tail: only save the tail's positions
	pos     streamPos // of stream, after entries
	// flushed, when not nil, is closed once this item and all before it
	// are spooled (the task's output ended: its end is reported after).
	flushed chan struct{}
}

// logBatcher gathers the lines of every task into "log" reports. Positions
// are updated and saved only by it, after the lines are spooled.
type logBatcher struct {
	in     chan logItem
	report func(typ string, data any) error
	log    *slog.Logger
	dirty  map[*logTail]bool // positions not saved yet
}

func newLogBatcher(report func(string, any) error, log *slog.Logger) *logBatcher {
	return &logBatcher{in: make(chan logItem, 16), report: report, log: log, dirty: map[*logTail]bool{}}
}

// send hands lines to the batcher; false when ctx ended first.
func (b *logBatcher) send(ctx context.Context, it logItem) bool {
	select {
	case b.in <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// run batches until ctx ends, then sends what it holds and saves every
// position. A report holds logBatchMax lines, or fewer when logBatchWait
// passed since the oldest line waiting or a task's output ended; lines of
// one item may go in two reports, and its position counts once both are
// spooled.
func (b *logBatcher) run(ctx context.Context) {
	var items []logItem
	n := 0 // lines waiting in items
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timing := false
	flush := func(force, final bool) {
		all := make([]api.LogEntry, 0, n)
		for _, it := range items {
			all = append(all, it.entries...)
		}
		sent, spooled := 0, true
		for len(all)-sent >= logBatchMax || force && sent < len(all) {
			chunk := all[sent:min(sent+logBatchMax, len(all))]
			if err := b.report("log", chunk); err != nil {
				b.log.Warn("task output not spooled", "lines", len(chunk), "err", err)
				spooled = false
			}
			sent += len(chunk)
		}
		// Items wholly sent are done: their positions move on.
		done, cum := 0, 0
		saveNow := final
		for done < len(items) && cum+len(items[done].entries) <= sent {
			it := items[done]
			cum += len(it.entries)
			done++
			if it.tail == nil {
				continue
			}
			if it.stream == "" {
				saveNow = true // the task's output ended
			} else if spooled {
				it.tail.pos[it.stream] = it.pos
			}
			b.dirty[it.tail] = true
		}
		for t := range b.dirty {
			if t.savePos(saveNow) {
				delete(b.dirty, t)
			}
		}
		for _, it := range items[:done] {
			if it.flushed != nil {
				close(it.flushed)
			}
		}
		if done < len(items) {
			items[done].entries = items[done].entries[sent-cum:]
		}
		items = slices.Delete(items, 0, done)
		n = len(all) - sent
		if n == 0 && timing {
			timer.Stop()
			timing = false
		}
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case it := <-b.in:
					items = append(items, it)
					n += len(it.entries)
				default:
					flush(true, true)
					return
				}
			}
		case it := <-b.in:
			items = append(items, it)
			n += len(it.entries)
			if n > 0 && !timing {
				timer.Reset(logBatchWait)
				timing = true
			}
			if it.flushed != nil {
				flush(true, false)
			} else if n >= logBatchMax {
				flush(false, false)
			}
		case <-timer.C:
			timing = false
			flush(true, false)
		}
	}
}

// logPos is logpos.json: per stream, the file (by inode) and offset up to
// which the output was sent; for streams of driver.Logger, Offset counts
// the bytes of the stream.
type logPos map[string]streamPos

type streamPos struct {
	Inode  uint64 `json:"inode,omitempty"`
	Offset int64  `json:"offset"`
}

func loadLogPos(path string) logPos {
	pos := logPos{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &pos)
	}
	return pos
}

// logTail follows the output of one task until the task ended (ended is
// closed; a last read follows) or ctx ends.
type logTail struct {
	task, app, node string
	dir             string // the task's directory, for logpos.json
	batcher         *logBatcher
	now             func() time.Time
	log             *slog.Logger

	// pos and written are the batcher's: the positions of the spooled
	// lines and when they were last saved.
	pos     logPos
	written time.Time
}

func (t *logTail) entry(stream, msg string) api.LogEntry {
	return api.LogEntry{Time: t.now(), Node: t.node, Source: "task", App: t.app, Task: t.task, Stream: stream, Message: msg}
}

// savePos writes the committed positions, at most every logPosEvery
// unless force; it reports whether they are saved (or need not be: the
// task's directory is gone).
func (t *logTail) savePos(force bool) bool {
	now := t.now()
	if !force && now.Sub(t.written) < logPosEvery {
		return false
	}
	t.written = now
	b, _ := json.Marshal(t.pos)
	if err := writeFileAtomic(filepath.Join(t.dir, taskLogPosFile), b, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.log.Debug("save task log position", "task", t.task, "err", err)
	}
	return true
}

// fileStream is one output file of an exec task being followed.
type fileStream struct {
	name  string // stdout or stderr
	path  string
	f     *os.File
	inode uint64
	split lineSplitter
	base  int64 // offset in f where split started
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// openAt opens the stream's file for reading from the saved position: the
// current file if it is the one saved; the rotated <file>.1 if that is it
// (read to its end first); else the current file from its start.
func (s *fileStream) openAt(p streamPos) {
	try := func(path string) bool {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		fi, err := f.Stat()
		if err != nil || (p.Inode != 0 && inodeOf(fi) != p.Inode) || fi.Size() < p.Offset {
			f.Close()
			return false
		}
		f.Seek(p.Offset, io.SeekStart)
		s.f, s.inode, s.base = f, inodeOf(fi), p.Offset
		return true
	}
	if p.Inode != 0 && (try(s.path) || try(s.path+".1")) {
		return
	}
	s.open0()
}

func (s *fileStream) open0() {
	f, err := os.Open(s.path)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	s.f, s.inode, s.base = f, inodeOf(fi), 0
}

// followFiles tails the exec task's stdout and stderr in its sandbox.
func (t *logTail) followFiles(ctx context.Context, sandbox string, ended <-chan struct{}) {
	t.pos = loadLogPos(filepath.Join(t.dir, taskLogPosFile))
	streams := []*fileStream{
		{name: "stdout", path: filepath.Join(sandbox, "stdout")},
		{name: "stderr", path: filepath.Join(sandbox, "stderr")},
	}
	for _, s := range streams {
		s.openAt(t.pos[s.name])
	}
	defer func() {
		for _, s := range streams {
			if s.f != nil {
				s.f.Close()
			}
		}
	}()
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(logPoll)
	defer tick.Stop()
	for {
		last := false
		select {
		case <-ended:
			last = true
		default:
		}
		for _, s := range streams {
			if !t.pump(ctx, s, buf, last) {
				return
			}
		}
		if last {
			t.finish(ctx)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ended:
		case <-tick.C:
		}
	}
}

// pump reads what is new in s and hands its lines to the batcher; at the
// file's end it moves to a new file that replaced it (rotation). last
// flushes a line without "\n". It reports false when ctx ended.
func (t *logTail) pump(ctx context.Context, s *fileStream, buf []byte, last bool) bool {
	for {
		if s.f == nil {
			s.open0()
			if s.f == nil {
				return ctx.Err() == nil
			}
		}
		var lines []api.LogEntry
		emit := func(msg string) { lines = append(lines, t.entry(s.name, msg)) }
		read := 0
		readAll := func(limit int) {
			for len(lines) < limit && read < logItemBytes {
				n, err := s.f.Read(buf)
				read += n
				s.split.feed(buf[:n], emit)
				if err != nil || n == 0 {
					return
				}
			}
		}
		readAll(logBatchMax)
		full := len(lines) >= logBatchMax || read >= logItemBytes
		rotated := false
		if !full {
			if fi, err := os.Stat(s.path); err == nil && inodeOf(fi) != s.inode {
				// f is now <file>.1: the writer closed it before the
				// rename, so what it holds now is all of it.
				rotated = true
				for read = 0; ; read = 0 {
					readAll(math.MaxInt)
					if read < logItemBytes {
						break
					}
					// A large rest: hand it over in parts.
					p := streamPos{Inode: s.inode, Offset: max(0, s.base+s.split.committed)}
					if !t.batcher.send(ctx, logItem{entries: lines, tail: t, stream: s.name, pos: p}) {
						return false
					}
					lines = nil
				}
			}
		}
		if last && !full && !rotated {
			s.split.flush(emit)
		}
		if len(lines) > 0 || rotated {
			p := streamPos{Inode: s.inode, Offset: max(0, s.base+s.split.committed)}
			if !t.batcher.send(ctx, logItem{entries: lines, tail: t, stream: s.name, pos: p}) {
				return false
			}
		}
		if rotated {
			// A line cut by the rotation goes on in the new file: its
			// start is kept, and offsets count from the new file's start.
			s.f.Close()
			s.f = nil
			s.split.committed = -int64(len(s.split.buf) + s.split.dropped)
			continue
		}
		if full {
			continue // more to read now
		}
		return true
	}
}

// finish waits until the task's output is spooled and its positions
// saved.
func (t *logTail) finish(ctx context.Context) {
	done := make(chan struct{})
	if !t.batcher.send(ctx, logItem{tail: t, flushed: done}) {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// followStream tails a driver.Logger's follow stream (stdout and stderr
// interleaved; no stream name), skipping the bytes sent before a restart.
func (t *logTail) followStream(ctx context.Context, lg driver.Logger, h driver.Handle) {
	t.pos = loadLogPos(filepath.Join(t.dir, taskLogPosFile))
	skip := t.pos["output"].Offset
	rc, err := lg.Logs(ctx, h, true)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("task output not available", "task", t.task, "err", err)
		}
		return
	}
	defer rc.Close()
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, rc, skip); err != nil {
			return
		}
	}
	var split lineSplitter
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		var lines []api.LogEntry
		emit := func(msg string) { lines = append(lines, t.entry("", msg)) }
		split.feed(buf[:n], emit)
		if rerr != nil && ctx.Err() == nil {
			split.flush(emit)
		}
		if len(lines) > 0 {
			p := streamPos{Offset: skip + split.committed}
			if !t.batcher.send(ctx, logItem{entries: lines, tail: t, stream: "output", pos: p}) {
				return
			}
		}
		if rerr != nil {
			if ctx.Err() == nil {
				t.finish(ctx)
			}
			return
		}
	}
}
