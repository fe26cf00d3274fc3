package parse

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Marker is what Truncate appends to a cut line, followed by the number of
// bytes dropped and "]"; AppendMarker writes it.
const Marker = " …[truncated "

// AppendMarker appends the truncation marker for dropped bytes to b:
// " …[truncated 123 bytes]".
func AppendMarker(b []byte, dropped int64) []byte {
	b = append(b, Marker...)
	b = strconv.AppendInt(b, dropped, 10)
	return append(b, " bytes]"...)
}

// CutPoint returns the length of the longest prefix of b that is at most max
// bytes and does not split a UTF-8 sequence.
func CutPoint(b []byte, max int) int {
	if max >= len(b) {
		return len(b)
	}
	if max <= 0 {
		return 0
	}
	// Back up over continuation bytes (at most 3) to a sequence start.
	for i := max; i > max-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return max
}

// Truncate returns line cut to at most max bytes with the marker appended
// when it was longer, with invalid UTF-8 replaced by U+FFFD either way, and
// whether it cut. The result may share memory with line when nothing needed
// changing. max <= 0 means no limit.
func Truncate(line []byte, max int) ([]byte, bool) {
	cut := false
	if max > 0 && len(line) > max {
		n := CutPoint(line, max)
		out := make([]byte, 0, n+32)
		out = append(out, line[:n]...)
		if !utf8.Valid(out) {
			out = bytes.ToValidUTF8(out, []byte("\uFFFD"))
		}
		return AppendMarker(out, int64(len(line)-n)), true
	}
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	return line, cut
}
