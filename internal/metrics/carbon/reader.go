package carbon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is handed to the error callback for lines longer than MaxLineLen.
var ErrLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineLen)

// LineReader reads newline-delimited plaintext and yields points. Bad lines
// are counted and handed to the error callback, and reading goes on.
// Whitespace-only lines are skipped silently. A final line without a newline
// is parsed at a clean EOF and dropped after any other read error (it may be
// truncated). A LineReader is not safe for concurrent use.
type LineReader struct {
	br      *bufio.Reader
	now     func() int64
	onError func(line []byte, err error)
	bad     uint64
	err     error
	done    bool
}

// NewLineReader returns a LineReader over r. now is called only for points
// without a timestamp (or "-1"). onError may be nil; the line it is given is
// only valid during the call (for a too-long line it is the first MaxLineLen
// bytes).
func NewLineReader(r io.Reader, now func() int64, onError func(line []byte, err error)) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, MaxLineLen+1), now: now, onError: onError}
}

// Next returns the next good point, or false at EOF or a read error.
func (lr *LineReader) Next() (Point, bool) {
	for !lr.done {
		line, err := lr.br.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
		case errors.Is(err, bufio.ErrBufferFull):
			lr.badLine(line[:MaxLineLen], ErrLineTooLong)
			lr.skipLine()
			continue
		default:
			lr.done = true
			if err != io.EOF {
				lr.err = err
				return Point{}, false
			}
			if len(line) == 0 {
				return Point{}, false
			}
		}
		p, needNow, perr := parseLine(line)
		if perr != nil {
			if perr != errBlank {
				lr.badLine(line, perr)
			}
			continue
		}
		if needNow {
			p.Time = lr.now()
		}
		return p, true
	}
	return Point{}, false
}

func (lr *LineReader) badLine(line []byte, err error) {
	lr.bad++
	if lr.onError != nil {
		lr.onError(line, err)
	}
}

// skipLine discards input up to and including the next newline.
func (lr *LineReader) skipLine() {
	for {
		_, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			lr.done = true
			if err != io.EOF {
				lr.err = err
			}
		}
		return
	}
}

// Err returns the read error that ended Next, or nil after a clean EOF.
func (lr *LineReader) Err() error { return lr.err }

// Bad returns the number of bad lines seen so far.
func (lr *LineReader) Bad() uint64 { return lr.bad }
