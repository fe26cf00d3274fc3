package graph

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/url"
	"strings"
	"testing"
)

// opts parses a query string into Options or fails the test.
func opts(t *testing.T, query string) Options {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOptions(q)
	if err != nil {
		t.Fatalf("ParseOptions(%s): %v", query, err)
	}
	return o
}

// drawPNG draws series and decodes the PNG.
func drawPNG(t *testing.T, series []Series, o Options) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := Draw(&buf, "png", series, o); err != nil {
		t.Fatalf("Draw: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img
}

func drawSVG(t *testing.T, series []Series, o Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Draw(&buf, "svg", series, o); err != nil {
		t.Fatalf("Draw: %v", err)
	}
	return buf.String()
}

func rgb(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// near reports whether a and b differ by at most tol in each channel.
func near(a, b color.NRGBA, tol int) bool {
	d := func(p, q uint8) bool { return int(p)-int(q) <= tol && int(q)-int(p) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

// constant is a series of n points, step 1 from time 0, all v except the
// indexes in gaps, which are NaN.
func constant(name string, n int, v float64, gaps ...int) Series {
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = v
	}
	for _, g := range gaps {
		vals[g] = math.NaN()
	}
	return Series{Name: name, Start: 0, Step: 1, Values: vals}
}

var (
	black   = color.NRGBA{0, 0, 0, 255}
	pureRed = color.NRGBA{255, 0, 0, 255} // graphite's "darkred"
	blue    = color.NRGBA{0, 0, 255, 255} // graphite's "darkblue"
)

func TestDrawPNGSizeAndLineRow(t *testing.T) {
	// graphOnly: the drawing area is the whole image, so a value v on
	// [yMin, yMax] = [0, 100] is drawn at row h - v/100*h.
	o := opts(t, "width=200&height=100&graphOnly=true&yMin=0&yMax=100&lineWidth=3&colorList=darkred")
	img := drawPNG(t, []Series{constant("a", 200, 50)}, o)
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 100 {
		t.Fatalf("size = %v, want 200x100", b)
	}
	const row = 50 // 100 - 50/100*100
	for x := 2; x < 198; x++ {
		for _, y := range []int{row - 1, row} {
			if c := rgb(img, x, y); c != pureRed {
				t.Fatalf("pixel (%d,%d) = %v, want the series color %v", x, y, c, pureRed)
			}
		}
		for _, y := range []int{row - 4, row + 3, 10, 90} {
			if c := rgb(img, x, y); c != black {
				t.Fatalf("pixel (%d,%d) = %v, want background", x, y, c)
			}
		}
	}
}

func TestDrawPNGDefaultLayout(t *testing.T) {
	// With axes, title and legend, the constant line is somewhere in the
	// middle rows and spans most of the width; the legend box has the
	// series color near the bottom left.
	o := opts(t, "width=400&height=300&title=Load&yMin=0&yMax=100&lineWidth=3&colorList=darkblue")
	img := drawPNG(t, []Series{constant("load.one", 100, 50)}, o)
	lineRow := -1
	for y := 60; y < 240 && lineRow < 0; y++ {
		if rgb(img, 200, y) == blue {
			lineRow = y
		}
	}
	if lineRow < 0 {
		t.Fatal("no pixel of the series color in column 200")
	}
	count := 0
	for x := 0; x < 400; x++ {
		if rgb(img, x, lineRow) == blue {
			count++
		}
	}
	if count < 300 {
		t.Errorf("the line covers %d of 400 pixels of row %d, want most of the width", count, lineRow)
	}
	found := false
	for y := 250; y < 300 && !found; y++ {
		for x := 0; x < 60; x++ {
			if rgb(img, x, y) == blue {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no legend box of the series color in the bottom left corner")
	}
}

func TestDrawNullGaps(t *testing.T) {
	// 100 points over 100 pixels: point i covers columns [i, i+1). Points
	// 40..59 are missing.
	gaps := make([]int, 0, 20)
	for i := 40; i < 60; i++ {
		gaps = append(gaps, i)
	}
	s := []Series{constant("a", 100, 50, gaps...)}
	const row = 50
	tests := []struct {
		name   string
		query  string
		gapRow int // row that must hold the series color inside the gap; -1: none
	}{
		{"slope breaks", "", -1},
		{"staircase breaks", "&lineMode=staircase", -1},
		{"connected joins", "&lineMode=connected", row},
		{"drawNullAsZero", "&drawNullAsZero=true&yMin=-100", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(t, "width=100&height=100&graphOnly=true&yMin=0&yMax=100&lineWidth=3&colorList=darkred"+tt.query)
			img := drawPNG(t, s, o)
			lineRow := row
			if tt.name == "drawNullAsZero" {
				lineRow = 25 // 50 on [-100, 100]
			}
			for _, x := range []int{5, 20, 36, 64, 80, 95} {
				if c := rgb(img, x, lineRow); c != pureRed {
					t.Errorf("pixel (%d,%d) = %v, want line", x, lineRow, c)
				}
			}
			for x := 43; x <= 57; x++ {
				c := rgb(img, x, lineRow)
				if tt.gapRow >= 0 {
					if tt.name == "connected joins" && c != pureRed {
						t.Errorf("gap pixel (%d,%d) = %v, want the line joined", x, lineRow, c)
					}
					if tt.name == "drawNullAsZero" {
						if c != black {
							t.Errorf("gap pixel (%d,%d) = %v, want background at 50", x, lineRow, c)
						}
						if z := rgb(img, x, tt.gapRow); z != pureRed {
							t.Errorf("gap pixel (%d,%d) = %v, want the line at 0", x, tt.gapRow, z)
						}
					}
				} else if c != black {
					t.Errorf("gap pixel (%d,%d) = %v, want background", x, lineRow, c)
				}
			}
		})
	}
}

func TestDrawAreaModes(t *testing.T) {
	// Two constant series, 10 (darkred) and 20 (darkblue), on [0, 40] in a
	// 100x100 graphOnly image: value v is at row 100 - v*2.5.
	s := []Series{constant("a", 100, 10), constant("b", 100, 20)}
	base := "width=100&height=100&graphOnly=true&yMin=0&yMax=40&colorList=darkred,darkblue"
	tests := []struct {
		name  string
		query string
		want  map[int]color.NRGBA // row at column 50 → color
	}{
		{"none", "", map[int]color.NRGBA{90: black, 80: black, 60: black}},
		// stacked: a fills 0..10 (rows 75..100), b fills 10..30 (rows 25..75).
		{"stacked", "&areaMode=stacked", map[int]color.NRGBA{90: pureRed, 60: blue, 40: blue, 20: black}},
		// all: each series is filled down to the bottom in order, so b
		// (drawn last) covers a, as in graphite-web.
		{"all", "&areaMode=all", map[int]color.NRGBA{90: blue, 60: blue, 40: black}},
		// first: only a is filled.
		{"first", "&areaMode=first", map[int]color.NRGBA{90: pureRed, 60: black, 40: black}},
		// areaAlpha 0.5 over black: half the channel values.
		{"alpha", "&areaMode=first&areaAlpha=0.5", map[int]color.NRGBA{90: {128, 0, 0, 255}, 60: black}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := drawPNG(t, s, opts(t, base+tt.query))
			for row, want := range tt.want {
				if c := rgb(img, 50, row); !near(c, want, 1) {
					t.Errorf("pixel (50,%d) = %v, want %v", row, c, want)
				}
			}
		})
	}
}

func TestDrawPerSeriesStyle(t *testing.T) {
	// Per-series color overrides the list; Stacked stacks without areaMode.
	s := []Series{constant("a", 100, 10), constant("b", 100, 20)}
	s[0].Color, s[0].Stacked = "#00ff00", true
	s[1].Color, s[1].Stacked = "ff00ff", true
	img := drawPNG(t, s, opts(t, "width=100&height=100&graphOnly=true&yMin=0&yMax=40"))
	if c := rgb(img, 50, 90); c != (color.NRGBA{0, 255, 0, 255}) {
		t.Errorf("lower band = %v, want #00ff00", c)
	}
	if c := rgb(img, 50, 50); c != (color.NRGBA{255, 0, 255, 255}) {
		t.Errorf("upper band = %v, want #ff00ff", c)
	}
	if c := rgb(img, 50, 20); c != black {
		t.Errorf("above the stack = %v, want background", c)
	}

	// A per-series line width: 9 pixels thick around row 50.
	w := constant("w", 100, 20)
	w.LineWidth, w.Color = 9, "darkred"
	img = drawPNG(t, []Series{w}, opts(t, "width=100&height=100&graphOnly=true&yMin=0&yMax=40"))
	for _, row := range []int{46, 53} {
		if c := rgb(img, 50, row); c != pureRed {
			t.Errorf("wide line pixel (50,%d) = %v, want red", row, c)
		}
	}

	bad := constant("x", 10, 1)
	bad.Color = "chartreuse-ish"
	if err := Draw(io.Discard, "png", []Series{bad}, DefaultOptions("")); err == nil || !strings.Contains(err.Error(), `unknown color "chartreuse-ish"`) {
		t.Errorf("bad series color: err = %v", err)
	}
}

func TestDrawSecondYAxis(t *testing.T) {
	left := Series{Name: "left", Start: 0, Step: 60, Values: []float64{0, 2, 4, 6, 8, 10}}
	right := Series{Name: "right", Start: 0, Step: 60, Values: []float64{0, 400, 800, 1200, 1600, 2000}, SecondYAxis: true}
	svg := drawSVG(t, []Series{left, right}, opts(t, "width=400&height=300"))
	texts := svgTexts(t, svg)
	// Left: range 10 → step 2.5; right: range 2000 → step 500.
	for _, want := range []string{"7.5", "2.5", "1500", "2000", "left", "right"} {
		if !texts[want] {
			t.Errorf("svg has no text %q; texts: %v", want, keys(texts))
		}
	}
}

func TestDrawSVG(t *testing.T) {
	s := []Series{constant("servers.web1.cpu", 3600, 5), constant("servers.web2.cpu", 3600, 7)}
	s[0].Dashed = true
	svg := drawSVG(t, s, opts(t, "width=500&height=300&title=CPU+%26+load&vtitle=percent"))
	texts := svgTexts(t, svg)
	for _, want := range []string{"CPU & load", "percent", "servers.web1.cpu", "servers.web2.cpu", "00:30"} {
		if !texts[want] {
			t.Errorf("svg has no text %q; texts: %v", want, keys(texts))
		}
	}
	if !strings.Contains(svg, `width="500pt" height="300pt"`) {
		t.Errorf("svg size attributes missing: %.200s", svg)
	}
	if !strings.Contains(svg, "stroke-dasharray") {
		t.Error("dashed series drew no dashed stroke")
	}
}

func TestDrawLegend(t *testing.T) {
	many := func(n int, name func(i int) string) []Series {
		var s []Series
		for i := range n {
			s = append(s, constant(name(i), 10, float64(i)))
		}
		return s
	}
	seriesName := func(i int) string { return fmt.Sprintf("host%02d.load", i) }
	count := func(svg, text string) int { return strings.Count(svg, ">"+text+"</text>") }
	tests := []struct {
		name   string
		series []Series
		query  string
		text   string
		want   int
	}{
		{"10 series shown", many(10, seriesName), "", "host09.load", 1},
		{"11 series hidden", many(11, seriesName), "", "host00.load", 0},
		{"11 series forced", many(11, seriesName), "hideLegend=false", "host10.load", 1},
		{"hidden", many(2, seriesName), "hideLegend=true", "host00.load", 0},
		{"graphOnly hides", many(2, seriesName), "graphOnly=true", "host00.load", 0},
		{"duplicates", many(3, func(int) string { return "same" }), "", "same", 3},
		{"uniqueLegend", many(3, func(int) string { return "same" }), "uniqueLegend=true", "same", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := drawSVG(t, tt.series, opts(t, tt.query))
			if got := count(svg, tt.text); got != tt.want {
				t.Errorf("%q appears %d times, want %d", tt.text, got, tt.want)
			}
		})
	}
}

func TestDrawTimeLabels(t *testing.T) {
	const start = 1764028800 // 2025-11-25 00:00:00 UTC
	hour := Series{Name: "a", Start: start, Step: 60, Values: make([]float64, 60)}
	week := Series{Name: "a", Start: start, Step: 3600, Values: make([]float64, 7*24)}
	texts := svgTexts(t, drawSVG(t, []Series{hour}, opts(t, "width=500&height=300")))
	for _, want := range []string{"00:10", "00:20", "00:50"} {
		if !texts[want] {
			t.Errorf("hour graph has no label %q; texts: %v", want, keys(texts))
		}
	}
	texts = svgTexts(t, drawSVG(t, []Series{week}, opts(t, "width=500&height=300")))
	for _, want := range []string{"11/26", "11/30"} {
		if !texts[want] {
			t.Errorf("week graph has no label %q; texts: %v", want, keys(texts))
		}
	}
	texts = svgTexts(t, drawSVG(t, []Series{hour}, opts(t, "width=500&height=300&tz=Asia/Kolkata")))
	if !texts["05:40"] { // UTC+5:30
		t.Errorf("hour graph in Asia/Kolkata has no label 05:40; texts: %v", keys(texts))
	}
}

func TestDrawNoData(t *testing.T) {
	for _, series := range [][]Series{nil, {{Name: "empty", Start: 100, Step: 60}}} {
		svg := drawSVG(t, series, opts(t, "title=x"))
		if !svgTexts(t, svg)["No Data"] {
			t.Errorf("series %v: svg has no \"No Data\"", series)
		}
		img := drawPNG(t, series, opts(t, ""))
		// The text is antialiased: count pixels of graphite's red
		// (200,0,50) blended over black, i.e. with G = 0 and R:B = 4:1.
		reddish := 0
		for y := 100; y < 150; y++ {
			for x := 120; x < 210; x++ {
				c := rgb(img, x, y)
				if c.R > 60 && c.G == 0 && math.Abs(float64(c.R)/4-float64(c.B)) <= 2 {
					reddish++
				}
			}
		}
		if reddish < 30 {
			t.Errorf("series %v: %d red pixels in the middle of the png, want the \"No Data\" text", series, reddish)
		}
	}
}

func TestDrawDeterministic(t *testing.T) {
	s := []Series{constant("a", 500, 3, 10, 11, 12), constant("b", 500, 7)}
	for _, format := range []string{"png", "svg"} {
		var a, b bytes.Buffer
		o := opts(t, "width=300&height=200&title=t&areaMode=stacked")
		if err := Draw(&a, format, s, o); err != nil {
			t.Fatal(err)
		}
		if err := Draw(&b, format, s, o); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s output differs between two draws of the same input", format)
		}
	}
}

func TestDrawErrors(t *testing.T) {
	s := []Series{constant("a", 10, 1)}
	tests := []struct {
		format string
		o      Options
		series []Series
		want   string
	}{
		{"gif", DefaultOptions(""), s, `format: "gif" is not a graph format`},
		{"png", Options{}, s, "width: must be an integer between 1 and 10000"},
		{"png", opts(t, "logBase=10"), []Series{constant("zero", 10, 0)}, "logBase:"},
	}
	for _, tt := range tests {
		err := Draw(io.Discard, tt.format, tt.series, tt.o)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Draw(%s) error = %v, want prefix %q", tt.format, err, tt.want)
		}
	}
}

// svgTexts parses svg as XML and returns the set of its <text> contents.
func svgTexts(t *testing.T, svg string) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	texts := map[string]bool{}
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts[string(tok)] = true
			}
		}
	}
	return texts
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDrawTransparentBackground(t *testing.T) {
	img := drawPNG(t, []Series{constant("a", 10, 1)}, opts(t, "width=50&height=40&bgcolor=00000000&graphOnly=true&yMin=0&yMax=4"))
	if c := rgb(img, 25, 5); c.A != 0 {
		t.Errorf("background pixel = %v, want transparent", c)
	}
}

func TestDrawOddInputs(t *testing.T) {
	inf := Series{Name: "inf", Start: 0, Step: 10, Values: []float64{1, math.Inf(1), 3, math.Inf(-1), 5}}
	allNaN := constant("nan", 20, math.NaN(), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
	zeroStep := Series{Name: "zero step", Start: 100, Step: 0, Values: []float64{1, 2, 3}}
	shifted := Series{Name: "later", Start: 50, Step: 5, Values: []float64{4, 4, 4}}
	huge := constant("huge", 10, 1e300)
	queries := []string{
		"width=1&height=1", "width=10&height=10&title=T&vtitle=V", "width=40&height=5",
		"yAxisSide=right", "logBase=10&yMin=1", "hideYAxis=true", "hideAxes=true", "hideGrid=true",
		"areaMode=all&areaAlpha=0.3&lineMode=staircase", "areaMode=stacked&drawNullAsZero=true",
		"fontName=Courier&fontBold=true&fontItalic=true&fontSize=30", "yMin=10&yMax=0",
		"template=plain&title=a%0Ab&vtitle=c%0Ad&vtitleRight=e",
	}
	sets := [][]Series{{inf}, {allNaN}, {zeroStep, shifted}, {huge}, {inf, allNaN, zeroStep, shifted}}
	for _, q := range queries {
		for i, s := range sets {
			for _, format := range []string{"png", "svg"} {
				err := Draw(io.Discard, format, s, opts(t, q))
				if err != nil && !strings.HasPrefix(err.Error(), "logBase:") {
					t.Errorf("%s, set %d, %s: %v", q, i, format, err)
				}
			}
		}
	}
}
