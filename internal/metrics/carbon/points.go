package carbon

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BadEntriesError reports the entries of a pickle frame that were skipped.
type BadEntriesError struct {
	Count int   // number of bad entries
	First error // what was wrong with the first one
}

func (e *BadEntriesError) Error() string {
	return fmt.Sprintf("%d bad pickle entries, first: %v", e.Count, e.First)
}

func (e *BadEntriesError) Unwrap() error { return e.First }

// ParsePickle decodes one frame of carbon's pickle protocol: a pickled list
// (or tuple) of (path, (timestamp, value)) entries, protocols 0 to 5 as far
// as such data goes. As in carbon, the path may be str or bytes, the inner
// pair may be a tuple or list (extra items ignored), and timestamp and value
// may be ints, floats, bools or numeric strings.
//
// A frame that is not such a pickle returns nil and an error wrapping
// ErrPickle. Otherwise the good points are returned; if some entries were
// bad (wrong shape, non-numeric, NaN/Inf value, negative timestamp, invalid
// tagged path) they are skipped and the error is a *BadEntriesError.
// Timestamps are not defaulted: -1 is a bad entry here.
func ParsePickle(frame []byte) ([]Point, error) {
	if len(frame) > MaxPickleFrame {
		return nil, perr("frame of %d bytes exceeds %d", len(frame), MaxPickleFrame)
	}
	root, err := decodePickle(frame)
	if err != nil {
		return nil, err
	}
	if root.k != pList && root.k != pTuple {
		return nil, perr("top level is a %s, want a list", kindNames[root.k])
	}
	entries := *root.seq
	points := make([]Point, 0, len(entries))
	var bad *BadEntriesError
	for i, e := range entries {
		p, err := entryPoint(e)
		if err != nil {
			if bad == nil {
				bad = &BadEntriesError{First: fmt.Errorf("entry %d: %w", i, err)}
			}
			bad.Count++
			continue
		}
		points = append(points, p)
	}
	if bad != nil {
		return points, bad
	}
	return points, nil
}

func entryPoint(e pval) (Point, error) {
	if (e.k != pList && e.k != pTuple) || len(*e.seq) != 2 {
		return Point{}, fmt.Errorf("not a (path, (timestamp, value)) pair")
	}
	name, dp := (*e.seq)[0], (*e.seq)[1]
	if name.k != pStr {
		return Point{}, fmt.Errorf("path is a %s", kindNames[name.k])
	}
	if (dp.k != pList && dp.k != pTuple) || len(*dp.seq) < 2 {
		return Point{}, fmt.Errorf("datapoint of %q is not a (timestamp, value) pair", name.s)
	}
	ts, ok := pyFloat((*dp.seq)[0])
	if !ok {
		return Point{}, fmt.Errorf("timestamp of %q is not a number", name.s)
	}
	v, ok := pyFloat((*dp.seq)[1])
	if !ok {
		return Point{}, fmt.Errorf("value of %q is not a number", name.s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Point{}, fmt.Errorf("value of %q is not finite", name.s)
	}
	t, _, msg := floatTime(ts)
	if msg == "" && ts == -1 {
		msg = "is -1"
	}
	if msg != "" {
		return Point{}, fmt.Errorf("timestamp of %q %s", name.s, msg)
	}
	path, err := NormalizeName(name.s)
	if err != nil {
		return Point{}, err
	}
	return Point{Name: path, Value: v, Time: t}, nil
}

// pyFloat converts v as Python's float() would.
func pyFloat(v pval) (float64, bool) {
	switch v.k {
	case pBool, pInt:
		return float64(v.n), true
	case pBig:
		return v.f, !math.IsInf(v.f, 0) // Python raises OverflowError
	case pFloat:
		return v.f, true
	case pStr:
		return parseFloat(trimSpace([]byte(v.s)))
	}
	return 0, false
}

// unquoteString decodes the argument of the STRING opcode: a quoted
// literal with Python 2 string escapes.
func unquoteString(b []byte) (string, error) {
	if len(b) < 2 || (b[0] != '\'' && b[0] != '"') || b[len(b)-1] != b[0] {
		return "", perr("STRING argument must be quoted")
	}
	b = b[1 : len(b)-1]
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i == len(b) {
			return "", perr("STRING ends with a backslash")
		}
		c = b[i]
		switch c {
		case '\n':
		case '\\', '\'', '"':
			sb.WriteByte(c)
		case 'a':
			sb.WriteByte('\a')
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'v':
			sb.WriteByte('\v')
		case 'x':
			if i+2 >= len(b) {
				return "", perr("STRING has a truncated \\x escape")
			}
			x, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
			if err != nil {
				return "", perr("STRING has an invalid \\x escape")
			}
			sb.WriteByte(byte(x))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			x := int(c - '0')
			for k := 0; k < 2 && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7'; k++ {
				i++
				x = x*8 + int(b[i]-'0')
			}
			sb.WriteByte(byte(x))
		default: // unknown escapes are kept, as in Python
			sb.WriteByte('\\')
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

// rawUnicodeEscape decodes the argument of the UNICODE opcode: Latin-1
// bytes with \uXXXX and \UXXXXXXXX escapes, returned as UTF-8.
func rawUnicodeEscape(b []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\\' && i+1 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') {
			n := 4
			if b[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(b) {
				return "", perr("UNICODE has a truncated escape")
			}
			x, err := strconv.ParseUint(string(b[i+2:i+2+n]), 16, 32)
			if err != nil || x > utf8.MaxRune {
				return "", perr("UNICODE has an invalid escape")
			}
			sb.WriteRune(rune(x))
			i += 1 + n
			continue
		}
		sb.WriteRune(rune(c))
	}
	return sb.String(), nil
}
