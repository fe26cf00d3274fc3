package parse

import (
	"bufio"
	"bytes"
)

// DefaultMaxFrame bounds a syslog frame when SplitSyslog is given 0: 64 KiB,
// rsyslog's largest common maxMessageSize.
const DefaultMaxFrame = 64 << 10

// SplitSyslog returns a bufio.SplitFunc for syslog over TCP (RFC 6587) that
// accepts octet-counted frames ("57 <34>1 2003-...") and newline-delimited
// ones mixed on one stream: a frame is octet-counted when it starts with a
// non-zero digit, up to 9 digits, a space and '<'; otherwise it runs to the
// next LF (a CR before it is dropped). Empty lines are skipped.
//
// A frame longer than max is cut to max bytes, its token marked with
// Truncate's marker, and the rest of it skipped, so one client cannot make
// the reader buffer without bound; the scanner's buffer must hold max+16
// bytes (scanner.Buffer(make([]byte, 64<<10), max+16)). The function keeps
// that skipping state: make one per connection.
func SplitSyslog(max int) bufio.SplitFunc {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var skip int64    // bytes still to skip of an octet-counted frame
	var long []byte   // the kept start of an over-long line being skipped
	var dropped int64 // bytes of it skipped so far
	return func(data []byte, atEOF bool) (int, []byte, error) {
		adv := 0
		for {
			if skip > 0 {
				n := int64(len(data) - adv)
				if n >= skip {
					adv += int(skip)
					skip = 0
				} else {
					skip -= n
					return len(data), nil, nil
				}
			}
			if long != nil {
				i := bytes.IndexByte(data[adv:], '\n')
				if i < 0 {
					dropped += int64(len(data) - adv)
					if !atEOF {
						return len(data), nil, nil
					}
					tok := AppendMarker(long, dropped)
					long, dropped = nil, 0
					return len(data), tok, nil
				}
				dropped += int64(i)
				tok := AppendMarker(long, dropped)
				long, dropped = nil, 0
				return adv + i + 1, tok, nil
			}
			// Skip blank lines and spaces between frames.
			for adv < len(data) && (data[adv] == '\n' || data[adv] == '\r' || data[adv] == ' ' || data[adv] == 0) {
				adv++
			}
			if adv >= len(data) {
				return adv, nil, nil
			}
			d := data[adv:]
			if n, hdr, ok, need := octetCount(d, atEOF); need {
				if atEOF {
					break // what there is is a newline frame
				}
				return adv, nil, nil
			} else if ok {
				if n > int64(max) {
					if len(d) < hdr+max {
						if atEOF {
							return len(data), AppendMarker(append([]byte(nil), d[hdr:]...), n-int64(len(d)-hdr)), nil
						}
						return adv, nil, nil
					}
					tok := AppendMarker(append([]byte(nil), d[hdr:hdr+max]...), n-int64(max))
					skip = n - int64(max)
					return adv + hdr + max, tok, nil
				}
				if int64(len(d)-hdr) < n {
					if atEOF {
						return len(data), d[hdr:], nil // the peer closed mid-frame
					}
					return adv, nil, nil
				}
				return adv + hdr + int(n), d[hdr : hdr+int(n)], nil
			}
			break
		}
		d := data[adv:]
		i := bytes.IndexByte(d, '\n')
		switch {
		case i >= 0 && i <= max:
			return adv + i + 1, trimEOL(d[:i+1]), nil
		case i >= 0: // over-long, its end in sight
			return adv + i + 1, AppendMarker(append(make([]byte, 0, max+32), d[:max]...), int64(i-max)), nil
		case atEOF && len(d) > max:
			return len(data), AppendMarker(append(make([]byte, 0, max+32), d[:max]...), int64(len(d)-max)), nil
		case len(d) > max: // over-long: keep the start, skip to its end
			long = append(make([]byte, 0, max+32), d[:max]...)
			return adv + max, nil, nil
		}
		if atEOF {
			return len(data), trimEOL(d), nil
		}
		return adv, nil, nil
	}
}

// octetCount reads an octet-counting header "MSG-LEN SP" followed by '<'.
// need says more data is required to decide.
func octetCount(d []byte, atEOF bool) (n int64, hdr int, ok, need bool) {
	if d[0] < '1' || d[0] > '9' {
		return 0, 0, false, false
	}
	i := 0
	for i < len(d) && i < 10 && d[i] >= '0' && d[i] <= '9' {
		n = n*10 + int64(d[i]-'0')
		i++
	}
	switch {
	case i == len(d) || i+1 == len(d) && d[i] == ' ':
		return 0, 0, false, !atEOF
	case i > 9 || d[i] != ' ' || d[i+1] != '<':
		return 0, 0, false, false
	}
	return n, i + 1, true, false
}
