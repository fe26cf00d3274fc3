package whisper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The whisper file format (whisper.py, uncompressed): a 16-byte metadata
// block (aggregation method, max retention, xFilesFactor as float32, archive
// count), one 12-byte info block per archive (offset, seconds per point,
// points), then each archive as a ring of 12-byte points (uint32 interval,
// float64 value), all big-endian. A slot is valid when its interval is the
// one the reader expects there; the ring's position is fixed by the first
// slot's interval (the archive's base).
const (
	metadataSize    = 16
	archiveInfoSize = 12
	pointSize       = 12
	maxArchives     = 64 // sanity bound when reading a header
)

// methodIDs are whisper.py's aggregation method ids as stored in the header.
var methodIDs = map[string]uint32{
	"average": 1, "sum": 2, "last": 3, "max": 4, "min": 5,
	"avg_zero": 6, "absmax": 7, "absmin": 8,
}

// methodNames is methodIDs inverted.
var methodNames = [...]string{1: "average", 2: "sum", 3: "last", 4: "max", 5: "min", 6: "avg_zero", 7: "absmax", 8: "absmin"}

// errBadHeader reports a file that is not a whisper file Corral can update.
var errBadHeader = errors.New("whisper: bad header")

// archiveInfo is one archive's header entry.
type archiveInfo struct {
	offset, spp, points int64
}

func (a archiveInfo) size() int64      { return a.points * pointSize }
func (a archiveInfo) retention() int64 { return a.spp * a.points }

// header is a whisper file's metadata.
type header struct {
	method   uint32
	maxRet   uint32
	xff      float32
	archives []archiveInfo
}

// headerSize is the number of bytes before the first archive.
func headerSize(archives int) int64 {
	return metadataSize + int64(archives)*archiveInfoSize
}

// parseHeader decodes a header from the start of a file. b must hold at
// least the metadata; it reports io.ErrUnexpectedEOF when b is too short
// for the archive infos.
func parseHeader(b []byte) (header, error) {
	if len(b) < metadataSize {
		return header{}, io.ErrUnexpectedEOF
	}
	h := header{
		method: binary.BigEndian.Uint32(b[0:]),
		maxRet: binary.BigEndian.Uint32(b[4:]),
		xff:    math.Float32frombits(binary.BigEndian.Uint32(b[8:])),
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	if n == 0 || n > maxArchives {
		return header{}, fmt.Errorf("%w: %d archives", errBadHeader, n)
	}
	if len(b) < int(headerSize(n)) {
		return header{}, io.ErrUnexpectedEOF
	}
	end := headerSize(n)
	for i := range n {
		o := metadataSize + i*archiveInfoSize
		a := archiveInfo{
			offset: int64(binary.BigEndian.Uint32(b[o:])),
			spp:    int64(binary.BigEndian.Uint32(b[o+4:])),
			points: int64(binary.BigEndian.Uint32(b[o+8:])),
		}
		if a.spp == 0 || a.points == 0 || a.offset != end {
			return header{}, fmt.Errorf("%w: archive %d", errBadHeader, i)
		}
		if i > 0 {
			prev := h.archives[i-1]
			if a.spp <= prev.spp || a.spp%prev.spp != 0 || a.retention() <= prev.retention() {
				return header{}, fmt.Errorf("%w: archive %d does not roll up archive %d", errBadHeader, i, i-1)
			}
		}
		end += a.size()
		h.archives = append(h.archives, a)
	}
	if h.method == 0 || int(h.method) >= len(methodNames) {
		return header{}, fmt.Errorf("%w: aggregation method %d: %w", errBadHeader, h.method, ErrUnsupportedAggregation)
	}
	return h, nil
}

// encodeHeader is parseHeader's inverse for a new file with these archives
// (spp, points); offsets are computed.
func encodeHeader(method uint32, xff float32, rets []Retention) []byte {
	b := make([]byte, headerSize(len(rets)))
	maxRet := 0
	off := headerSize(len(rets))
	for i, r := range rets {
		maxRet = max(maxRet, r.SecondsPerPoint*r.Points)
		o := metadataSize + i*archiveInfoSize
		binary.BigEndian.PutUint32(b[o:], uint32(off))
		binary.BigEndian.PutUint32(b[o+4:], uint32(r.SecondsPerPoint))
		binary.BigEndian.PutUint32(b[o+8:], uint32(r.Points))
		off += int64(r.Points) * pointSize
	}
	binary.BigEndian.PutUint32(b[0:], method)
	binary.BigEndian.PutUint32(b[4:], uint32(maxRet))
	binary.BigEndian.PutUint32(b[8:], math.Float32bits(xff))
	binary.BigEndian.PutUint32(b[12:], uint32(len(rets)))
	return b
}

// fileRW is the part of *os.File the update path uses: positioned reads and
// writes, so one open file needs no seeks.
type fileRW interface {
	io.ReaderAt
	io.WriterAt
}

// updater applies batches of points to one whisper file with whisper.py's
// update_many semantics, but touches each affected range once per batch:
// each archive's points are written as contiguous runs, and each affected
// lower-archive interval is rolled up once from one read of the higher
// archive. Its buffers are reused between files; it is not safe for
// concurrent use.
type updater struct {
	f     fileRW
	h     header
	bases []int64 // per archive: interval of slot 0, 0 when empty, -1 unknown
	buf   []byte
	out   []byte
	pts   []Point
	ivals []int64 // aligned intervals of the current top archive batch
	lower []int64
	vals  []float64
	known []float64
}

// update writes pts (any order; for equal intervals the latest time wins,
// and for equal times the one later in pts) at time now. Points older than
// the file's retention are dropped, as whisper.py drops them; points in the
// future are written like whisper.py writes them. bases holds each
// archive's base interval where known (-1 where not; nil: none known) and
// is kept up to date. It returns how many points were within the retention.
func (u *updater) update(f fileRW, h header, bases []int64, pts []Point, now int64) (int, error) {
	u.f, u.h = f, h
	if bases == nil {
		bases = make([]int64, len(h.archives))
		for i := range bases {
			bases[i] = -1
		}
	}
	u.bases = bases
	u.pts = append(u.pts[:0], pts...)
	slices.SortStableFunc(u.pts, func(a, b Point) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	// Newest points go to the finest archive that still covers their age,
	// archive by archive from the finest, as update_many does.
	kept := 0
	end := len(u.pts)
	for i, a := range h.archives {
		start := end
		for start > 0 && now-u.pts[start-1].Time <= a.retention() {
			start--
		}
		if start < end {
			kept += end - start
			if err := u.archiveUpdate(i, u.pts[start:end]); err != nil {
				return kept, err
			}
		}
		end = start
		if end == 0 {
			break
		}
	}
	return kept, nil
}

// base returns the interval stored in archive i's first slot.
func (u *updater) base(i int) (int64, error) {
	if u.bases[i] >= 0 {
		return u.bases[i], nil
	}
	var b [pointSize]byte
	if _, err := u.f.ReadAt(b[:], u.h.archives[i].offset); err != nil {
		return 0, fmt.Errorf("read archive %d base: %w", i, err)
	}
	u.bases[i] = int64(binary.BigEndian.Uint32(b[:]))
	return u.bases[i], nil
}

// slotOffset is the file offset of interval t in archive i with base.
func (u *updater) slotOffset(i int, base, t int64) int64 {
	a := u.h.archives[i]
	d := (t - base) / a.spp % a.points
	if d < 0 {
		d += a.points
	}
	return a.offset + d*pointSize
}

// writeRun writes consecutive points (intervals start, start+spp, ...)
// already encoded in b into archive i, wrapping at the archive's end.
func (u *updater) writeRun(i int, base, start int64, b []byte) error {
	a := u.h.archives[i]
	if extra := int64(len(b)) - a.size(); extra > 0 { // a run longer than the ring: keep its newest
		b = b[extra:]
		start += extra / pointSize * a.spp
	}
	off := u.slotOffset(i, base, start)
	endArchive := a.offset + a.size()
	if off+int64(len(b)) > endArchive {
		n := endArchive - off
		if _, err := u.f.WriteAt(b[:n], off); err != nil {
			return err
		}
		b, off = b[n:], a.offset
	}
	_, err := u.f.WriteAt(b, off)
	return err
}

// archiveUpdate writes time-sorted pts into archive i and rolls them up into
// the coarser archives.
func (u *updater) archiveUpdate(i int, pts []Point) error {
	a := u.h.archives[i]
	// Align and keep the last point of each interval.
	u.ivals = u.ivals[:0]
	u.vals = u.vals[:0]
	for j, p := range pts {
		t := p.Time - mod(p.Time, a.spp)
		if j+1 < len(pts) && pts[j+1].Time-mod(pts[j+1].Time, a.spp) == t {
			continue
		}
		u.ivals = append(u.ivals, t)
		u.vals = append(u.vals, p.Value)
	}
	base, err := u.base(i)
	if err != nil {
		return err
	}
	if base == 0 {
		base = u.ivals[0]
		u.bases[i] = base
	}
	for j := 0; j < len(u.ivals); {
		k := j + 1
		for k < len(u.ivals) && u.ivals[k] == u.ivals[k-1]+a.spp {
			k++
		}
		u.buf = u.buf[:0]
		for m := j; m < k; m++ {
			u.buf = appendPoint(u.buf, u.ivals[m], u.vals[m])
		}
		if err := u.writeRun(i, base, u.ivals[j], u.buf); err != nil {
			return fmt.Errorf("write archive %d: %w", i, err)
		}
		j = k
	}
	// Roll up into each coarser archive the intervals these points touch.
	u.lower = append(u.lower[:0], u.ivals...)
	for lo := i + 1; lo < len(u.h.archives); lo++ {
		spp := u.h.archives[lo].spp
		n := 0
		for _, t := range u.lower {
			t -= mod(t, spp)
			if n == 0 || u.lower[n-1] != t {
				u.lower[n] = t
				n++
			}
		}
		u.lower = u.lower[:n]
		ok, err := u.propagate(lo-1, lo)
		if err != nil {
			return fmt.Errorf("roll up archive %d into %d: %w", lo-1, lo, err)
		}
		if !ok {
			break
		}
	}
	return nil
}

func appendPoint(b []byte, t int64, v float64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(t))
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

// propagate aggregates archive hi into archive lo for each interval in
// u.lower (sorted, distinct, aligned to lo). It reports whether any
// interval had known points and passed xFilesFactor; u.lower keeps only
// those, so the next level rolls up only what changed.
func (u *updater) propagate(hi, lo int) (bool, error) {
	ha, la := u.h.archives[hi], u.h.archives[lo]
	hbase, err := u.base(hi)
	if err != nil || hbase == 0 {
		return false, err
	}
	per := la.spp / ha.spp // higher points per lower point
	// Read the higher points under consecutive lower intervals at once,
	// at most one ring's worth.
	maxGroup := max(ha.points/per, 1)
	written := u.lower[:0]
	for j := 0; j < len(u.lower); {
		k := j + 1
		for k < len(u.lower) && k-j < int(maxGroup) && u.lower[k] == u.lower[k-1]+la.spp {
			k++
		}
		start := u.lower[j]
		n := int64(k-j) * per
		if err := u.readRange(hi, hbase, start, min(n, ha.points)); err != nil {
			return false, err
		}
		raw := u.buf
		out := u.out[:0]
		outStart := int64(-1)
		flush := func() error {
			if outStart < 0 {
				return nil
			}
			err := u.writeLower(lo, outStart, out)
			outStart = -1
			return err
		}
		for m := j; m < k; m++ {
			t := u.lower[m]
			v, ok := u.rollup(raw[int64(m-j)*per*pointSize:], t, ha.spp, per)
			if !ok {
				if err := flush(); err != nil {
					return false, err
				}
				continue
			}
			if outStart < 0 {
				outStart, out = t, out[:0]
			}
			out = appendPoint(out, t, v)
			written = append(written, t)
		}
		if err := flush(); err != nil {
			return false, err
		}
		u.out = out
		j = k
	}
	u.lower = written
	return len(written) > 0, nil
}

// readRange reads n points of archive i starting at interval start into
// u.buf, wrapping at the archive's end.
func (u *updater) readRange(i int, base, start, n int64) error {
	a := u.h.archives[i]
	size := n * pointSize
	u.buf = slices.Grow(u.buf[:0], int(size))[:size]
	off := u.slotOffset(i, base, start)
	b := u.buf
	endArchive := a.offset + a.size()
	if off+size > endArchive {
		m := endArchive - off
		if _, err := u.f.ReadAt(b[:m], off); err != nil {
			return fmt.Errorf("read archive %d: %w", i, err)
		}
		b, off = b[m:], a.offset
	}
	if _, err := u.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("read archive %d: %w", i, err)
	}
	return nil
}

// rollup aggregates per points of raw (the higher archive from interval t,
// step spp) with the file's method; ok is false when no point is known or
// too few are for xFilesFactor.
func (u *updater) rollup(raw []byte, t, spp, per int64) (float64, bool) {
	u.known = u.known[:0]
	for s := range per {
		o := s * pointSize
		if int64(len(raw)) < o+pointSize {
			break
		}
		if int64(binary.BigEndian.Uint32(raw[o:])) != (t+s*spp)&0xffffffff {
			continue
		}
		u.known = append(u.known, math.Float64frombits(binary.BigEndian.Uint64(raw[o+4:])))
	}
	if len(u.known) == 0 || float64(len(u.known))/float64(per) < float64(u.h.xff) {
		return 0, false
	}
	return aggregate(methodNames[u.h.method], u.known, int(per)), true
}

// writeLower writes consecutive rolled-up points into archive lo, setting
// its base when it is empty.
func (u *updater) writeLower(lo int, start int64, b []byte) error {
	base, err := u.base(lo)
	if err != nil {
		return err
	}
	if base == 0 {
		base = start
		u.bases[lo] = base
	}
	return u.writeRun(lo, base, start, b)
}
