package store

import (
	"context"
	"errors"
	"os"
	"sort"
	"time"
)

// Enforce applies retention: it drops whole partitions that ended more than
// MaxAge ago, then the oldest partitions while the store is larger than
// MaxBytes (never the newest), and seals active segments idle for SealIdle.
// Dropped partitions, entries and bytes are counted in Stats.
func (s *Store) Enforce(ctx context.Context) error {
	now := s.now()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	ps := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		ps = append(ps, p)
	}
	s.mu.RUnlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].start < ps[j].start })

	var errs []error
	idle := now.Add(-s.opts.SealIdle).UnixNano()
	for _, p := range ps {
		p.mu.Lock()
		if p.act != nil && p.act.lastAppend <= idle {
			if err := s.seal(p); err != nil {
				errs = append(errs, err)
			}
		}
		p.mu.Unlock()
	}

	var drop []*partition
	if s.opts.MaxAge > 0 {
		cutoff := now.Add(-s.opts.MaxAge).UnixNano()
		for len(ps) > 0 && ps[0].end <= cutoff {
			drop = append(drop, ps[0])
			ps = ps[1:]
		}
	}
	if s.opts.MaxBytes > 0 {
		var total int64
		sizes := make([]int64, len(ps))
		for i, p := range ps {
			_, sizes[i], _, _ = p.size()
			total += sizes[i]
		}
		for i := 0; i < len(ps)-1 && total > s.opts.MaxBytes; i++ {
			drop = append(drop, ps[i])
			total -= sizes[i]
		}
	}
	for _, p := range drop {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.drop(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// drop removes a partition once the searches using it are done.
func (s *Store) drop(p *partition) error {
	s.mu.Lock()
	if s.parts[p.start] != p {
		s.mu.Unlock()
		return nil
	}
	// Renamed first so that a late entry can make a new partition of the
	// same name while this one is removed.
	gone := p.dir + ".drop"
	err := os.Rename(p.dir, gone)
	delete(s.parts, p.start)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	entries, bytes, _, _ := p.size()
	p.refs.Wait()
	p.close()
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	s.droppedPartitions.Add(1)
	s.droppedEntries.Add(entries)
	s.droppedBytes.Add(bytes)
	s.log.Info("dropped log partition", "start", time.Unix(0, p.start).UTC(), "entries", entries, "bytes", bytes)
	return nil
}

// Run enforces retention every interval until ctx ends.
func (s *Store) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Enforce(ctx); err != nil && !errors.Is(err, context.Canceled) {
				if errors.Is(err, ErrClosed) {
					return nil
				}
				s.log.Error("log retention", "err", err)
			}
		}
	}
}
