package graph

import (
	"fmt"
	"image/color"
	"math"
	"time"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// line is a series prepared for drawing.
type line struct {
	name                   string
	color                  color.NRGBA
	width                  float64
	dashed, stacked, right bool
	start, step            int64
	raw                    []float64 // after drawNullAsZero
	values                 []float64 // consolidated (and stacked) values drawn
	ppp                    int       // raw points per drawn value
	fill                   bool
}

// box is the drawing area in pixels, origin top left as in graphite-web.
type box struct{ xmin, xmax, ymin, ymax float64 }

// renderer draws one graph on a canvas whose units are pixels (72 DPI).
type renderer struct {
	c           vg.Canvas
	o           Options
	w, h        float64
	fonts       *font.Cache
	face        font.Face
	area        box
	start, end  int64 // time range, Unix seconds
	lines       []*line
	left, right yAxis
	hasRight    bool
	labelW      float64 // width of the left (or only) value labels
	labelWR     float64 // width of the right value labels
}

// render draws series on c with o.
func render(c vg.Canvas, series []Series, o Options) error {
	r := &renderer{c: c, o: o, w: float64(o.Width), h: float64(o.Height), fonts: newFonts()}
	r.face = r.font(o.FontSize)
	if err := r.prepare(series); err != nil {
		return err
	}
	if len(r.lines) == 0 || r.end <= r.start {
		r.noData()
		return nil
	}
	if o.GraphOnly {
		f := true
		r.o.HideLegend = &f
		r.o.HideGrid, r.o.HideAxes = true, true
		r.o.Title, r.o.VTitle, r.o.VTitleRight = "", "", ""
		r.o.Margin = 0
	}
	m := float64(r.o.Margin)
	r.area = box{xmin: m + 10, xmax: r.w - m, ymin: m, ymax: r.h - m}
	if o.GraphOnly {
		r.area = box{0, r.w, 0, r.h}
	}
	r.drawTitles()
	if r.legendShown() {
		r.drawLegend()
	}
	if !r.o.HideAxes {
		r.area.ymax -= r.extents().Ascent.Points() * 2
	}
	if err := r.layoutY(); err != nil {
		return err
	}
	if !r.o.HideAxes {
		r.drawYLabels()
		conf := chooseXConfig(time.Duration(r.end-r.start)*time.Second, r.area.xmax-r.area.xmin)
		r.drawXLabels(conf)
		if !r.o.HideGrid {
			r.drawGrid(conf)
		}
	}
	r.drawLines()
	return nil
}

// prepare resolves colors and widths and the time range.
func (r *renderer) prepare(series []Series) error {
	next := 0
	first := true
	for i, s := range series {
		l := &line{name: s.Name, width: s.LineWidth, dashed: s.Dashed, stacked: s.Stacked,
			right: s.SecondYAxis, start: s.Start, step: s.Step}
		if l.width <= 0 {
			l.width = r.o.LineWidth
		}
		if s.Color != "" {
			c, err := ParseColor(s.Color)
			if err != nil {
				return fmt.Errorf("series %d (%s): %w", i, s.Name, err)
			}
			l.color = c
		} else {
			l.color = r.o.ColorList[next%len(r.o.ColorList)]
			next++
		}
		if l.step <= 0 {
			l.step = 1
		}
		// ±Inf cannot be placed on an axis: drawn as missing.
		l.raw = make([]float64, len(s.Values))
		for j, v := range s.Values {
			switch {
			case !math.IsNaN(v) && !math.IsInf(v, 0):
				l.raw[j] = v
			case r.o.DrawNullAsZero:
				l.raw[j] = 0
			default:
				l.raw[j] = math.NaN()
			}
		}
		switch r.o.AreaMode {
		case "stacked":
			l.stacked = l.stacked || !l.right
		case "all":
			l.fill = true
		case "first":
			l.fill = i == 0
		}
		if l.stacked {
			l.fill = true
		}
		if l.right {
			r.hasRight = true
		}
		if len(s.Values) > 0 {
			end := s.Start + int64(len(s.Values))*l.step
			if first || s.Start < r.start {
				r.start = s.Start
			}
			if first || end > r.end {
				r.end = end
			}
			first = false
		}
		r.lines = append(r.lines, l)
	}
	if first {
		r.lines = nil
		return nil
	}
	if !r.o.From.IsZero() {
		r.start = r.o.From.Unix()
	}
	if !r.o.Until.IsZero() {
		r.end = r.o.Until.Unix()
	}
	return nil
}

// font returns the face of the configured font at size.
func (r *renderer) font(size float64) font.Face {
	v, _ := fontVariant(r.o.FontName)
	f := font.Font{Typeface: "Liberation", Variant: v}
	if r.o.FontBold {
		f.Weight = stdfont.WeightBold
	}
	if r.o.FontItalic {
		f.Style = stdfont.StyleItalic
	}
	return r.fonts.Lookup(f, font.Length(size))
}

func (r *renderer) extents() font.Extents { return r.face.Extents() }

// pt converts top-left pixel coordinates to the canvas's.
func (r *renderer) pt(x, y float64) vg.Point {
	return vg.Point{X: vg.Length(x), Y: vg.Length(r.h - y)}
}

// text draws s at (x, y); align is 0 (left), 0.5 (center) or 1 (right) of
// the text's width; valign "top", "middle" or "baseline".
func (r *renderer) text(face font.Face, s string, x, y, align float64, valign string, clr color.Color) {
	ext := face.Extents()
	switch valign {
	case "top":
		y += ext.Ascent.Points()
	case "middle":
		y += ext.Ascent.Points() - ext.Height.Points()/2
	}
	x -= align * face.Width(s).Points()
	r.c.SetColor(clr)
	r.c.FillString(face, r.pt(x, y), s)
}

// vtext draws s rotated to read bottom to top, centered on (x, y).
func (r *renderer) vtext(s string, x, y float64, clr color.Color) {
	r.c.Push()
	r.c.Translate(r.pt(x, y))
	r.c.Rotate(math.Pi / 2)
	r.c.SetColor(clr)
	r.c.FillString(r.face, vg.Point{X: -r.face.Width(s) / 2, Y: 0}, s)
	r.c.Pop()
}

func (r *renderer) noData() {
	red, _ := ParseColor("red")
	size := math.Log(r.w * r.h)
	face := r.font(size)
	r.text(face, "No Data", r.w/2, r.h/2, 0.5, "top", red)
}

func (r *renderer) drawTitles() {
	if r.o.Title != "" {
		size := r.o.FontSize + math.Floor(math.Log(r.o.FontSize))
		face := r.font(size)
		y := r.area.ymin
		for _, ln := range splitLines(r.o.Title) {
			r.text(face, ln, r.w/2, y, 0.5, "top", r.o.FgColor)
			y += face.Extents().Height.Points()
		}
		r.area.ymin = y + float64(r.o.Margin)
	}
	lh := r.extents().Height.Points()
	if r.o.VTitle != "" {
		x := r.area.xmin + lh
		for _, ln := range splitLines(r.o.VTitle) {
			r.vtext(ln, x, r.h/2, r.o.FgColor)
			x += lh
		}
		r.area.xmin = x + float64(r.o.Margin) + lh
	}
	if r.o.VTitleRight != "" {
		x := r.area.xmax - lh
		for _, ln := range splitLines(r.o.VTitleRight) {
			r.vtext(ln, x, r.h/2, r.o.FgColor)
			x -= lh
		}
		r.area.xmax = x - float64(r.o.Margin) - lh
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (r *renderer) legendShown() bool {
	if r.o.HideLegend != nil {
		return !*r.o.HideLegend
	}
	return len(r.lines) <= LegendMaxItems
}

// drawLegend draws colored boxes and names in columns below the graph and
// moves the bottom of the drawing area up (graphite-web's drawLegend).
func (r *renderer) drawLegend() {
	type entry struct {
		name string
		clr  color.NRGBA
	}
	var entries []entry
	seen := map[string]bool{}
	longest := 0.0
	for _, l := range r.lines {
		if r.o.UniqueLegend && seen[l.name] {
			continue
		}
		seen[l.name] = true
		entries = append(entries, entry{l.name, l.color})
		longest = math.Max(longest, r.face.Width(l.name).Points())
	}
	ext := r.extents()
	const padding = 5.0
	boxSize := ext.Height.Points() - 1
	lineHeight := ext.Height.Points() + 1
	labelWidth := longest + 2*(boxSize+padding)
	columns := math.Max(1, math.Floor((r.w-r.area.xmin)/labelWidth))
	rows := math.Ceil(float64(len(entries)) / columns)
	r.area.ymax -= rows * (lineHeight + padding)
	x, y := r.area.xmin, r.area.ymax+2*padding
	border, _ := ParseColor("darkgrey")
	for i, e := range entries {
		r.c.SetColor(e.clr)
		r.c.Fill(rectPath(x, r.h-y-boxSize, boxSize, boxSize))
		r.c.SetColor(border)
		r.c.SetLineWidth(1)
		r.c.SetLineDash(nil, 0)
		r.c.Stroke(rectPath(x+0.5, r.h-y-boxSize+0.5, boxSize-1, boxSize-1))
		r.text(r.face, e.name, x+boxSize+padding, y, 0, "top", r.o.FgColor)
		x += labelWidth
		if (i+1)%int(columns) == 0 {
			x = r.area.xmin
			y += lineHeight
		}
	}
}
