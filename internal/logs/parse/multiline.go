package parse

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Multiline joins continuation lines to the line that starts an event, the
// way stack traces need: a line matching Start begins a new event, any other
// line is appended to the current one with "\n". A LogInput's
// `multiline: {start: '^\S'}` makes one.
//
// It is pure: Feed returns the events a line completed, Flush the one still
// open. The caller owns the clock: when Timeout passes after a Feed that
// left Pending true without another Feed, it calls Flush (an event's last
// line is otherwise only known when the next event starts). Not safe for
// concurrent use; one per input stream.
type Multiline struct {
	// Start matches the first line of an event.
	Start *regexp.Regexp
	// MaxLines and MaxBytes bound an event (defaults 500 lines and 1 MiB):
	// when a continuation line would pass either, the event is completed
	// and the line begins the next one, so nothing is dropped.
	MaxLines, MaxBytes int
	// Timeout is how long the caller waits for more lines before Flush
	// (default 3 s, used by the caller only).
	Timeout time.Duration

	buf   []byte
	lines int
}

// Default bounds of a multiline event.
const (
	DefaultMultilineMaxLines = 500
	DefaultMultilineMaxBytes = 1 << 20
	DefaultMultilineTimeout  = 3 * time.Second
)

// NewMultiline compiles start (a LogInput's multiline.start) into a joiner;
// zero bounds take the defaults.
func NewMultiline(start string, maxLines, maxBytes int, timeout time.Duration) (*Multiline, error) {
	if start == "" {
		return nil, errors.New("multiline: start pattern is empty")
	}
	re, err := regexp.Compile(start)
	if err != nil {
		return nil, fmt.Errorf("multiline start: %w", err)
	}
	if maxLines < 0 || maxBytes < 0 || timeout < 0 {
		return nil, errors.New("multiline: negative bound")
	}
	return &Multiline{Start: re, MaxLines: maxLines, MaxBytes: maxBytes, Timeout: timeout}, nil
}

// Feed adds one line (without its newline) and returns the events it
// completed, each a new slice the caller may keep; line is not retained.
func (m *Multiline) Feed(line []byte) (complete [][]byte) {
	maxLines, maxBytes := m.MaxLines, m.MaxBytes
	if maxLines <= 0 {
		maxLines = DefaultMultilineMaxLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMultilineMaxBytes
	}
	starts := m.Start == nil || m.Start.Match(line)
	if m.lines > 0 && (starts || m.lines+1 > maxLines || len(m.buf)+1+len(line) > maxBytes) {
		complete = append(complete, m.Flush())
	}
	if m.lines > 0 {
		m.buf = append(m.buf, '\n')
	}
	m.buf = append(m.buf, line...)
	m.lines++
	return complete
}

// Pending reports whether an event is open.
func (m *Multiline) Pending() bool { return m.lines > 0 }

// OpenLines is how many of the lines fed so far belong to the open event:
// a file input marks them tail.Line.Pending so that its checkpoint does
// not pass them before the event is complete.
func (m *Multiline) OpenLines() int { return m.lines }

// Flush completes and returns the open event, nil when there is none.
func (m *Multiline) Flush() []byte {
	if m.lines == 0 {
		return nil
	}
	ev := make([]byte, len(m.buf))
	copy(ev, m.buf)
	m.buf = m.buf[:0]
	m.lines = 0
	return ev
}

// TimeoutOrDefault is Timeout, or the default when it is not set.
func (m *Multiline) TimeoutOrDefault() time.Duration {
	if m.Timeout <= 0 {
		return DefaultMultilineTimeout
	}
	return m.Timeout
}
