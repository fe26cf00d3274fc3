package relay

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"corral/internal/metrics/carbon"
)

// pickleChunk is the number of points per pickle message, carbon's
// MAX_DATAPOINTS_PER_MESSAGE.
const pickleChunk = 500

// AppendPickle appends points as one message of carbon's pickle protocol:
// a 4-byte big-endian length and a protocol-2 pickle of
// [(name, (timestamp, value)), ...], as carbon-relay sends to port 2004.
func AppendPickle(b []byte, points []carbon.Point) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0) // length, filled in below
	b = append(b, 0x80, 2)    // PROTO 2
	b = append(b, ']', '(')   // EMPTY_LIST, MARK
	for _, p := range points {
		if utf8.ValidString(p.Name) {
			b = append(b, 'X') // BINUNICODE
		} else {
			b = append(b, 'B') // BINBYTES: carbon decodes bytes paths too
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		if p.Time >= math.MinInt32 && p.Time <= math.MaxInt32 {
			b = append(b, 'J') // BININT
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(p.Time)))
		} else {
			b = append(b, 0x8a, 8) // LONG1, 8 bytes two's complement
			b = binary.LittleEndian.AppendUint64(b, uint64(p.Time))
		}
		b = append(b, 'G') // BINFLOAT
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Value))
		b = append(b, 0x86, 0x86) // TUPLE2 (ts, value), TUPLE2 (name, pair)
	}
	b = append(b, 'e', '.') // APPENDS, STOP
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}
