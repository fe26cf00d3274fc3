package carbon

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
)

// encodePickle2 writes points as Python's pickle protocol 2 would:
// [(name, (ts, value)), ...] with APPENDS batches of 1000.
func encodePickle2(points []Point) []byte {
	b := []byte{0x80, 2, ']', '('}
	for i, p := range points {
		if i > 0 && i%1000 == 0 {
			b = append(b, 'e', '(')
		}
		b = append(b, 'X')
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Name)))
		b = append(b, p.Name...)
		b = append(b, 'J')
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Time))
		b = append(b, 'G')
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Value))
		b = append(b, 0x86, 0x86)
	}
	return append(b, 'e', '.')
}

var sink Point

func BenchmarkParseLine(b *testing.B) {
	lines := [][]byte{
		[]byte("servers.www01.cpu.user 42.5 1700000000"),
		[]byte("servers.www02.memory.used 123456789 1700000010"),
		[]byte("app.requests.count 17 1700000020"),
		[]byte("app.latency.p99 0.0125 1700000030"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p, err := ParseLine(lines[i&3], 0)
		if err != nil {
			b.Fatal(err)
		}
		sink = p
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkLineReader(b *testing.B) {
	var buf bytes.Buffer
	const n = 10000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, "servers.www%02d.cpu.user %d.%d %d\n", i%50, i, i%10, 1700000000+i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	r := bytes.NewReader(data)
	lines := 0
	for b.Loop() {
		r.Reset(data)
		lr := NewLineReader(r, func() int64 { return 0 }, nil)
		for {
			p, ok := lr.Next()
			if !ok {
				break
			}
			sink = p
			lines++
		}
		if lr.Bad() != 0 || lr.Err() != nil {
			b.Fatal(lr.Bad(), lr.Err())
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParsePickle(b *testing.B) {
	frame := encodePickle2(manyPoints(10000))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	points := 0
	for b.Loop() {
		ps, err := ParsePickle(frame)
		if err != nil {
			b.Fatal(err)
		}
		points += len(ps)
	}
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
}
