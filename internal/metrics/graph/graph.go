// Package graph draws Graphite-style line graphs (PNG and SVG) of rendered
// series for the render API's format=png|svg and `corral metrics graph`.
// The render package and the CLI import it; it imports only the plotting
// library: gonum.org/v1/plot's vg canvases (PNG through its gg rasterizer,
// SVG) and Liberation fonts, and golang.org/x/image's color names.
//
// The layout follows graphite-web's glyph.py LineGraph: title on top, the
// legend below the graph, value labels chosen by graphite's "pretty step"
// rule with SI or binary prefixes, time labels from graphite's x axis
// table, points consolidated (averaged) to the pixel width, NaN breaking
// the line. Differences: lines that leave the value range are clamped to
// the drawing area instead of clipped, and stacking with a second y axis
// stacks only the left-axis series.
package graph

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strings"

	"git.sr.ht/~sbinet/gg"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/font/liberation"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one line: Values[i] is the value at Start+i*Step (Unix seconds),
// NaN where missing. The style fields come from carbonapi's per-series
// functions (color(), lineWidth(), dashed(), stacked(), secondYAxis()).
type Series struct {
	Name        string
	Start, Step int64
	Values      []float64
	Color       string  // Graphite color name or hex ("red", "#ff0000", "ff0000"); "" picks from ColorList
	LineWidth   float64 // 0: Options.LineWidth
	Dashed      bool
	Stacked     bool
	SecondYAxis bool
}

// Draw writes the graph of series in format "png" or "svg" to w.
// Options should come from ParseOptions or DefaultOptions.
func Draw(w io.Writer, format string, series []Series, opts Options) error {
	if opts.Width < 1 || opts.Width > maxSize {
		return fmt.Errorf("width: must be an integer between 1 and %d", maxSize)
	}
	if opts.Height < 1 || opts.Height > maxSize {
		return fmt.Errorf("height: must be an integer between 1 and %d", maxSize)
	}
	if len(opts.ColorList) == 0 {
		opts.ColorList = DefaultOptions(opts.Template).ColorList
	}
	width, height := vg.Length(opts.Width), vg.Length(opts.Height)
	switch format {
	case "png":
		// Drawing straight into our RGBA image (no copy by the context)
		// saves a full-image copy per graph.
		img := image.NewRGBA(image.Rect(0, 0, opts.Width, opts.Height))
		ctx := gg.NewContextForRGBA(img)
		ctx.SetLineCapButt()
		ctx.InvertY()
		c := vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(72))
		draw.Draw(img, img.Bounds(), image.NewUniform(opts.BgColor), image.Point{}, draw.Src)
		if err := render(c, series, opts); err != nil {
			return err
		}
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		bw := bufio.NewWriter(w)
		if err := enc.Encode(bw, c.Image()); err != nil {
			return fmt.Errorf("encode png: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write png: %w", err)
		}
		return nil
	case "svg":
		c := vgsvg.NewWith(vgsvg.UseWH(width, height))
		c.SetColor(opts.BgColor)
		c.Fill(rectPath(0, 0, float64(opts.Width), float64(opts.Height)))
		if err := render(c, series, opts); err != nil {
			return err
		}
		if _, err := c.WriteTo(w); err != nil {
			return fmt.Errorf("write svg: %w", err)
		}
		return nil
	}
	return fmt.Errorf("format: %q is not a graph format (png, svg)", format)
}

// rectPath is a rectangle in canvas coordinates (origin bottom left).
func rectPath(x, y, w, h float64) vg.Path {
	var p vg.Path
	p.Move(vg.Point{X: vg.Length(x), Y: vg.Length(y)})
	p.Line(vg.Point{X: vg.Length(x + w), Y: vg.Length(y)})
	p.Line(vg.Point{X: vg.Length(x + w), Y: vg.Length(y + h)})
	p.Line(vg.Point{X: vg.Length(x), Y: vg.Length(y + h)})
	p.Close()
	return p
}

// fontVariant maps a font name to a Liberation variant; known is false
// for names drawn in the Sans fallback.
func fontVariant(name string) (variant font.Variant, known bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case strings.Contains(n, "mono") || strings.Contains(n, "courier") || strings.Contains(n, "console"):
		return "Mono", true
	case strings.Contains(n, "sans") || strings.Contains(n, "arial") || strings.Contains(n, "helvetica") || strings.Contains(n, "verdana"):
		return "Sans", true
	case strings.Contains(n, "serif") || strings.Contains(n, "times") || strings.Contains(n, "georgia"):
		return "Serif", true
	}
	return "Sans", false
}

// newFonts returns a font cache with the Liberation fonts compiled into
// the plotting library (no system fonts needed).
func newFonts() *font.Cache { return font.NewCache(liberation.Collection()) }

// withAlpha scales the alpha of c by a in [0,1].
func withAlpha(c color.NRGBA, a float64) color.NRGBA {
	c.A = uint8(math.Round(float64(c.A) * a))
	return c
}
