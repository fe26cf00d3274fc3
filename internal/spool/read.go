package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"corral/internal/api"
)

// Read returns the oldest unacknowledged records, at most max of them
// (no limit if max <= 0) and about maxBytes of encoded records (no limit if
// maxBytes <= 0; one record is returned even when it alone is larger). It
// does not consume them: the same records come back until they are acked.
func (s *Spool) Read(max int, maxBytes int) ([]api.Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []api.Report
	var total int64
	want := s.acked + 1
	for _, g := range s.segs {
		if g.last < want {
			continue
		}
		off := int64(0)
		if c := s.cursor; c.seg == g.first && c.seq == want && c.off <= g.size {
			off = c.off
		}
		full, err := s.readSegment(g, off, want, &out, &total, max, int64(maxBytes))
		if err != nil {
			return nil, err
		}
		if full {
			break
		}
	}
	return out, nil
}

// readSegment appends the records of g from offset off with seq >= want to
// out, until the limits are reached (then it reports full).
func (s *Spool) readSegment(g *segment, off int64, want uint64, out *[]api.Report, total *int64, max int, maxBytes int64) (full bool, err error) {
	f, err := os.Open(g.path(s.dir))
	if err != nil {
		return false, fmt.Errorf("read spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, g.size-off), 64<<10)
	for off < g.size {
		if (max > 0 && len(*out) >= max) || (maxBytes > 0 && *total >= maxBytes) {
			return true, nil
		}
		rec, n, err := readRecord(r, g.size-off)
		if err != nil {
			return false, fmt.Errorf("read spool %s at %d: %w", g.path(s.dir), off, err)
		}
		if rec.Seq >= want {
			if maxBytes > 0 && len(*out) > 0 && *total+n > maxBytes {
				return true, nil
			}
			*out = append(*out, rec)
			*total += n
			s.cursor = cursor{seq: rec.Seq + 1, seg: g.first, off: off + n}
		}
		off += n
	}
	return false, nil
}

// Ack acknowledges every record with a seq <= seq. The position is
// persisted before segments holding only acknowledged records (other than the
// one being written) are removed, so a restart does not resend them.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	seq = min(seq, s.next-1)
	if seq <= s.acked {
		return nil
	}
	if err := s.saveState(seq, s.dropped); err != nil {
		return fmt.Errorf("spool ack %d: %w", seq, err)
	}
	s.acked = seq
	var errs []error
	keep := s.segs[:0]
	for i, g := range s.segs {
		isActive := s.active != nil && i == len(s.segs)-1
		if g.last > s.acked || isActive {
			keep = append(keep, g)
			continue
		}
		if err := os.Remove(g.path(s.dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			keep = append(keep, g) // tried again at the next Ack or Open
			continue
		}
		s.bytes -= g.size
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool ack %d (recorded): remove segments: %w", seq, err)
	}
	return nil
}

// Wait returns a channel that is closed at the next Append (or Close). To not
// miss an Append, call Wait before Read:
//
//	ch := s.Wait()
//	reports, err := s.Read(500, 1<<20)
//	if len(reports) == 0 { select { case <-ch: case <-ctx.Done(): } }
func (s *Spool) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

// Stats returns the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Bytes: s.bytes, Dropped: s.dropped, FirstSeq: s.next, NextSeq: s.next}
	for _, g := range s.segs {
		if n := g.unacked(s.acked); n > 0 {
			if st.Records == 0 {
				st.FirstSeq = g.last - n + 1
			}
			st.Records += int64(n)
		}
	}
	return st
}

// Close fsyncs and closes the spool. Appends after Close fail with ErrClosed.
func (s *Spool) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.rotate()
	if err == nil {
		err = s.err
	}
	close(s.notify)
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}
