package graph

import (
	"fmt"
	"io"
	"math"
	"testing"
)

// benchSeries is n series of points values each, a minute apart.
func benchSeries(n, points int) []Series {
	s := make([]Series, n)
	for i := range s {
		v := make([]float64, points)
		for j := range v {
			v[j] = float64(i*100) + 50*math.Sin(float64(j)/100+float64(i))
			if j%997 == 0 {
				v[j] = math.NaN()
			}
		}
		s[i] = Series{Name: fmt.Sprintf("servers.host%02d.cpu.user", i), Start: 1764000000, Step: 10, Values: v}
	}
	return s
}

func benchDraw(b *testing.B, format string) {
	s := benchSeries(10, 8640)
	o := DefaultOptions("")
	o.Width, o.Height, o.Title = 1000, 800, "ten series of a day at 10 s"
	b.ReportAllocs()
	for b.Loop() {
		if err := Draw(io.Discard, format, s, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrawPNG draws a 1000x800 PNG of 10 series × 8,640 points.
func BenchmarkDrawPNG(b *testing.B) { benchDraw(b, "png") }

// BenchmarkDrawSVG draws the same graph as SVG.
func BenchmarkDrawSVG(b *testing.B) { benchDraw(b, "svg") }
