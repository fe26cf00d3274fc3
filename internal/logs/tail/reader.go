package tail

import (
	"bytes"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"time"

	"corral/internal/logs/parse"
)

// fpMax is how many leading bytes of a file its fingerprint covers.
const fpMax = 1024

// reader follows one file (one device+inode).
type reader struct {
	f    *os.File
	key  fileKey
	path string // the path it was found at; lines carry it

	pos      int64  // next byte to read
	partial  []byte // the current line's bytes before pos, at most MaxLine
	dropped  int64  // bytes of the current line beyond MaxLine, skipped
	gen      int    // bumped when the file is truncated
	acked    int64  // end offset of the last acknowledged line of gen
	fpLen    int    // bytes the fingerprint covers
	fp       uint64 // fnv-64a of the first fpLen bytes
	lastSize int64
	lastMod  time.Time

	rotated   bool          // renamed away or removed: drain, then close
	grace     time.Duration // how long a rotated file may stay idle
	idleSince time.Time     // when a rotated reader last found no new data
	done      bool          // drained; close once its lines are acknowledged
}

// fingerprint hashes the first n bytes of f; it returns the hash and how
// many bytes it covered (fewer when the file is shorter).
func fingerprint(f *os.File, n int) (uint64, int, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return 0, 0, err
	}
	h := fnv.New64a()
	h.Write(buf[:got])
	return h.Sum64(), got, nil
}

// sameStart reports whether f still begins with the bytes the reader
// fingerprinted. An empty fingerprint matches anything.
func (r *reader) sameStart(f *os.File) bool {
	if r.fpLen == 0 {
		return true
	}
	sum, n, err := fingerprint(f, r.fpLen)
	return err == nil && n == r.fpLen && sum == r.fp
}

// refreshFP extends the fingerprint while the file is shorter than fpMax.
func (r *reader) refreshFP(size int64) {
	if r.fpLen >= fpMax || size <= int64(r.fpLen) {
		return
	}
	if sum, n, err := fingerprint(r.f, fpMax); err == nil && n > r.fpLen {
		r.fp, r.fpLen = sum, n
	}
}

// room is how many more bytes the current line may keep: none once some
// were dropped, so that what is kept is always the line's start.
func (r *reader) room(maxLine int) int {
	if r.dropped > 0 {
		return 0
	}
	return max(maxLine-len(r.partial), 0)
}

// batch collects lines into one arena; Data is set when it is sealed.
type batch struct {
	lines    []Line
	spans    [][2]int
	arena    []byte
	maxLines int
	maxBytes int
}

func (b *batch) full() bool {
	return len(b.lines) >= b.maxLines || len(b.arena) >= b.maxBytes
}

func (b *batch) reset() {
	b.lines, b.spans, b.arena = b.lines[:0], b.spans[:0], b.arena[:0]
}

// seal points every line's Data into the arena.
func (b *batch) seal() []Line {
	for i, s := range b.spans {
		b.lines[i].Data = b.arena[s[0]:s[1]:s[1]]
	}
	return b.lines
}

// emit appends one line of r ending at file offset end: the reader's
// partial bytes followed by rest, cut to maxLine with the marker.
func (b *batch) emit(r *reader, rest []byte, end int64, maxLine int) {
	start := len(b.arena)
	b.arena = append(b.arena, r.partial...)
	dropped := r.dropped
	if room := r.room(maxLine); len(rest) > room {
		n := parse.CutPoint(rest, room)
		dropped += int64(len(rest) - n)
		rest = rest[:n]
	}
	b.arena = append(b.arena, rest...)
	truncated := dropped > 0
	if truncated {
		b.arena = parse.AppendMarker(b.arena, dropped)
	} else if n := len(b.arena); n > start && b.arena[n-1] == '\r' {
		b.arena = b.arena[:n-1]
	}
	r.partial, r.dropped = r.partial[:0], 0
	if len(b.arena) == start {
		return // an empty line carries nothing
	}
	b.lines = append(b.lines, Line{Path: r.path, Offset: end, Truncated: truncated, r: r, gen: r.gen})
	b.spans = append(b.spans, [2]int{start, len(b.arena)})
}

// consume splits data, read at r.pos, into lines. It returns how many
// bytes it used: all of data unless the batch filled up.
func (b *batch) consume(r *reader, data []byte, maxLine int) int {
	used := 0
	for used < len(data) && !b.full() {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			rest := data[used:]
			if room := r.room(maxLine); len(rest) > room {
				n := parse.CutPoint(rest, room)
				r.partial = append(r.partial, rest[:n]...)
				r.dropped += int64(len(rest) - n)
			} else {
				r.partial = append(r.partial, rest...)
			}
			used = len(data)
			break
		}
		b.emit(r, data[used:used+i], r.pos+int64(used+i+1), maxLine)
		used += i + 1
	}
	r.pos += int64(used)
	return used
}

// findCopy looks in dir for a regular file other than skip that begins with
// the reader's fingerprinted bytes and holds more than the reader's
// position: the copy logrotate's copytruncate made, or the renamed file of
// a rotation that happened while the agent was stopped (want non-zero:
// that inode).
func (r *reader) findCopy(dir string, skip fileKey, want fileKey) (*os.File, string) {
	if r.fpLen == 0 && want == (fileKey{}) {
		return nil, ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, ""
	}
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		fi, err := de.Info()
		if err != nil || fi.Size() <= r.pos {
			continue
		}
		k := keyOf(fi)
		if k == skip || want != (fileKey{}) && k != want {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if r.sameStart(f) {
			return f, p
		}
		f.Close()
	}
	return nil, ""
}
