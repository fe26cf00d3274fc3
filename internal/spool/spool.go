// Package spool is an on-disk queue of records a peer has not acknowledged
// yet: the agent's reports to the server (DESIGN.md §4), and the log
// forwarders' batches to their outputs. Nothing is dropped while the peer is
// away, within a disk budget; when the budget is full the oldest records are
// dropped and counted. A shipper reads batches, sends them, and
// acknowledges what the peer took.
//
// Records live in segment files named by the seq of their first record, each
// a run of length-prefixed, CRC-32C checked records (see record.go). The
// acknowledged position and the drop counter live in state.json, replaced
// atomically. Append returns only after its record is fsynced; appends that
// arrive together share one fsync.
//
// The agent's composition root and internal/logs import it; it imports only
// api.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 4 << 20
)

// Errors of the spool.
var (
	ErrClosed   = errors.New("spool closed")
	ErrTooLarge = errors.New("record larger than the spool takes")
)

// Options configure a Spool.
type Options struct {
	Dir string // created if missing
	// MaxBytes is the disk budget of all segment files; default
	// DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started; default
	// DefaultSegmentBytes, and at most MaxBytes/4 so that dropping a segment
	// over budget never drops more than a quarter of the spool.
	SegmentBytes int64
	Now          func() time.Time // default time.Now
}

// Stats describe a spool, for metrics.
type Stats struct {
	Records  int64  // unacknowledged records
	Bytes    int64  // bytes of segment files, acknowledged ones not yet removed included
	Dropped  uint64 // records dropped over the budget, ever
	FirstSeq uint64 // seq of the oldest unacknowledged record, NextSeq if none
	NextSeq  uint64 // seq the next Append gets
}

// Spool is an open spool directory. It is safe for concurrent use.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	now      func() time.Time
	lock     *os.File

	// syncMu makes appends that arrive together share one fsync. It is
	// taken before mu, never while holding it.
	syncMu sync.Mutex
	synced uint64 // every seq <= synced is durable; guarded by syncMu

	mu      sync.Mutex
	segs    []*segment // oldest first; when active != nil, the last is its segment
	active  *os.File   // the segment being written, or nil
	bytes   int64
	acked   uint64
	dropped uint64
	next    uint64
	cursor  cursor        // where the last Read stopped
	notify  chan struct{} // closed on Append, then replaced
	err     error         // sticky: a failed write or fsync leaves the spool unusable
	closed  bool
	buf     []byte
}

// cursor remembers the file position of seq in segment seg, so that a Read
// after an Ack need not scan the segment from its start.
type cursor struct {
	seq, seg uint64
	off      int64
}

// Open opens the spool in opts.Dir, recovering its state from the segment
// files. A torn last record (a crash mid-write) is truncated away.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("open spool: no directory")
	}
	s := &Spool{dir: opts.Dir, maxBytes: opts.MaxBytes, segBytes: opts.SegmentBytes, now: opts.Now,
		notify: make(chan struct{})}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.segBytes <= 0 {
		s.segBytes = DefaultSegmentBytes
	}
	s.segBytes = max(min(s.segBytes, s.maxBytes/4), 1)
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open spool %s: %w", s.dir, err)
	}
	return s, nil
}

// recover loads the state file and the segments, and removes segments with
// nothing left to send. Writing starts in a new segment.
func (s *Spool) recover() error {
	st, err := loadState(s.dir)
	if err != nil {
		return err
	}
	s.acked, s.dropped = st.Acked, st.Dropped
	os.Remove(filepath.Join(s.dir, stateFile+".tmp"))
	firsts, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	var last uint64 // seq of the last record found so far
	for _, first := range firsts {
		path := (&segment{first: first}).path(s.dir)
		if first <= last { // overlaps its predecessor: not written by this code
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		g, err := recoverSegment(s.dir, first)
		if err != nil {
			return fmt.Errorf("recover segment %d: %w", first, err)
		}
		// g.last is first-1 when g is empty: seqs below its name were handed out.
		last = max(last, g.last)
		if g.last <= s.acked || g.last < g.first { // nothing left to send
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		s.segs = append(s.segs, g)
		s.bytes += g.size
	}
	// Seqs are never reused: not those of records dropped or acknowledged
	// (st.Next, st.Acked), nor those below an empty segment's name.
	s.next = max(last+1, s.acked+1, st.Next)
	return nil
}

// Append adds a record of type typ with the JSON data and returns its seq
// once it is durable. When the disk budget is full, the oldest segments are
// dropped first and their unacknowledged records counted in Stats.Dropped.
func (s *Spool) Append(typ string, data json.RawMessage) (uint64, error) {
	if len(typ) > maxTypeLen {
		return 0, fmt.Errorf("spool append: type longer than %d bytes", maxTypeLen)
	}
	if len(data) > 0 && !json.Valid(data) {
		return 0, fmt.Errorf("spool append %s: data is not valid JSON", typ)
	}
	s.mu.Lock()
	seq, err := s.appendLocked(typ, data)
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("spool append %s: %w", typ, err)
	}
	if err := s.syncTo(seq); err != nil {
		return 0, fmt.Errorf("spool append %s: %w", typ, err)
	}
	return seq, nil
}

func (s *Spool) appendLocked(typ string, data []byte) (uint64, error) {
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	n := recordSize(typ, data)
	if n > s.maxBytes || n > maxRecord {
		return 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	if s.active != nil {
		if g := s.segs[len(s.segs)-1]; g.size > 0 && g.size+n > s.segBytes {
			if err := s.rotate(); err != nil {
				return 0, err
			}
		}
	}
	if s.bytes+n > s.maxBytes {
		if err := s.dropOldest(n); err != nil {
			return 0, err
		}
	}
	if s.active == nil {
		if err := s.create(); err != nil {
			return 0, err
		}
	}
	g := s.segs[len(s.segs)-1]
	seq := s.next
	s.buf = encodeRecord(s.buf[:0], seq, s.now(), typ, data)
	if _, err := s.active.Write(s.buf); err != nil {
		// Cut a partial record off so the seq can be used again.
		if terr := s.active.Truncate(g.size); terr != nil {
			s.err = fmt.Errorf("write %s: %w (and truncate: %v)", g.path(s.dir), err, terr)
			return 0, s.err
		}
		return 0, fmt.Errorf("write %s: %w", g.path(s.dir), err)
	}
	g.last, g.size = seq, g.size+n
	s.bytes += n
	s.next++
	close(s.notify)
	s.notify = make(chan struct{})
	return seq, nil
}

// syncTo returns once seq is durable. Whoever fsyncs first makes every
// record written before it durable, so the appends waiting behind it return
// without their own fsync.
func (s *Spool) syncTo(seq uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= seq {
		return nil
	}
	s.mu.Lock()
	f, hi, err := s.active, s.next-1, s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// A segment that is no longer active was fsynced when it was rotated or
	// the spool closed (else s.err says so); an os.ErrClosed from a file
	// closed meanwhile means the same.
	if f != nil {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("fsync spool segment: %w", err)
			}
			err = s.err
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Lock()
	err = s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.synced = hi
	return nil
}

// create starts a new segment for the next seq and makes it the active one.
func (s *Spool) create() error {
	g := &segment{first: s.next, last: s.next - 1}
	f, err := os.OpenFile(g.path(s.dir), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(g.path(s.dir))
		return err
	}
	s.active = f
	s.segs = append(s.segs, g)
	return nil
}

// rotate fsyncs and closes the active segment; the next Append starts a new
// one. A rotated segment with nothing unacknowledged is removed.
func (s *Spool) rotate() error {
	if s.active == nil {
		return nil
	}
	f := s.active
	s.active = nil
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.err = fmt.Errorf("fsync spool segment: %w", err)
		return s.err
	}
	if g := s.segs[len(s.segs)-1]; g.last <= s.acked {
		if err := os.Remove(g.path(s.dir)); err != nil {
			return err
		}
		s.segs = s.segs[:len(s.segs)-1]
		s.bytes -= g.size
	}
	return nil
}

// dropOldest removes the oldest segments until n more bytes fit the budget,
// counting their unacknowledged records as dropped. The new count is saved
// before any file goes, so a crash can count a drop twice but never reuse a
// seq.
func (s *Spool) dropOldest(n int64) error {
	if s.active != nil && s.bytes-s.segs[len(s.segs)-1].size+n > s.maxBytes {
		// Even the segment being written has to go.
		if err := s.rotate(); err != nil {
			return err
		}
	}
	k, bytes, dropped := 0, s.bytes, s.dropped
	for k < len(s.segs) && bytes+n > s.maxBytes {
		bytes -= s.segs[k].size
		dropped += s.segs[k].unacked(s.acked)
		k++
	}
	if dropped != s.dropped {
		if err := s.saveState(s.acked, dropped); err != nil {
			return err
		}
		s.dropped = dropped
	}
	for k > 0 {
		g := s.segs[0]
		if err := os.Remove(g.path(s.dir)); err != nil {
			return err
		}
		s.segs[0] = nil
		s.segs = s.segs[1:]
		s.bytes -= g.size
		k--
	}
	return nil
}

// saveState persists the ack position, the drop counter and the next seq.
func (s *Spool) saveState(acked, dropped uint64) error {
	return saveState(s.dir, state{Acked: acked, Dropped: dropped, Next: s.next})
}
