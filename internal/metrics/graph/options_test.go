package graph

import (
	"image/color"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(url.Values{"target": {"a.b"}, "format": {"png"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Width != 330 || o.Height != 250 {
		t.Errorf("size = %dx%d, want 330x250", o.Width, o.Height)
	}
	black := color.NRGBA{0, 0, 0, 255}
	white := color.NRGBA{255, 255, 255, 255}
	if o.BgColor != black || o.FgColor != white {
		t.Errorf("bg/fg = %v/%v, want black/white", o.BgColor, o.FgColor)
	}
	if o.MajorGridLineColor != white || o.MinorGridLineColor != (color.NRGBA{175, 175, 175, 255}) {
		t.Errorf("grid colors = %v %v", o.MajorGridLineColor, o.MinorGridLineColor)
	}
	wantColors := []color.NRGBA{
		{100, 100, 255, 255}, {0, 200, 0, 255}, {200, 0, 50, 255}, {200, 100, 255, 255},
		{150, 100, 50, 255}, {255, 255, 0, 255}, {0, 150, 150, 255}, {175, 175, 175, 255},
		{255, 0, 255, 255}, {255, 100, 100, 255}, {200, 200, 0, 255}, {200, 150, 200, 255},
	}
	if !reflect.DeepEqual(o.ColorList, wantColors) {
		t.Errorf("ColorList = %v, want graphite's 12 colors", o.ColorList)
	}
	if o.LineWidth != 1.2 || o.LineMode != "slope" || o.AreaMode != "none" || o.FontSize != 10 ||
		o.YUnitSystem != "si" || o.Margin != 10 || o.HideLegend != nil || o.LogBase != 0 {
		t.Errorf("defaults wrong: %+v", o)
	}
	for name, v := range map[string]float64{"YMin": o.YMin, "YMax": o.YMax, "YStep": o.YStep, "AreaAlpha": o.AreaAlpha} {
		if !math.IsNaN(v) {
			t.Errorf("%s = %v, want NaN (auto)", name, v)
		}
	}
	if o.Location != time.UTC {
		t.Errorf("Location = %v, want UTC", o.Location)
	}
}

func TestParseOptionsParams(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		query string
		check func(o Options) bool
	}{
		{"width height", "width=800&height=600", func(o Options) bool { return o.Width == 800 && o.Height == 600 }},
		{"title vtitle", "title=CPU+load&vtitle=jiffies&vtitleRight=bytes", func(o Options) bool {
			return o.Title == "CPU load" && o.VTitle == "jiffies" && o.VTitleRight == "bytes"
		}},
		{"bgcolor name", "bgcolor=white", func(o Options) bool { return o.BgColor == color.NRGBA{255, 255, 255, 255} }},
		{"bgcolor hex", "bgcolor=%23102030", func(o Options) bool { return o.BgColor == color.NRGBA{0x10, 0x20, 0x30, 255} }},
		{"fgcolor hex no hash", "fgcolor=A0B0C0", func(o Options) bool { return o.FgColor == color.NRGBA{0xa0, 0xb0, 0xc0, 255} }},
		{"rrggbbaa", "bgcolor=00000080", func(o Options) bool { return o.BgColor == color.NRGBA{0, 0, 0, 0x80} }},
		{"grid colors", "majorGridLineColor=red&minorGridLineColor=darkgrey", func(o Options) bool {
			return o.MajorGridLineColor == color.NRGBA{200, 0, 50, 255} && o.MinorGridLineColor == color.NRGBA{111, 111, 111, 255}
		}},
		{"colorList", "colorList=green,%23ff0000,0000ff", func(o Options) bool {
			return reflect.DeepEqual(o.ColorList, []color.NRGBA{{0, 200, 0, 255}, {255, 0, 0, 255}, {0, 0, 255, 255}})
		}},
		{"lineWidth", "lineWidth=3.5", func(o Options) bool { return o.LineWidth == 3.5 }},
		{"thickness alias", "thickness=2", func(o Options) bool { return o.LineWidth == 2 }},
		{"lineMode", "lineMode=staircase", func(o Options) bool { return o.LineMode == "staircase" }},
		{"lineMode connected", "lineMode=connected", func(o Options) bool { return o.LineMode == "connected" }},
		{"areaMode", "areaMode=stacked&areaAlpha=0.5", func(o Options) bool { return o.AreaMode == "stacked" && o.AreaAlpha == 0.5 }},
		{"hideLegend true", "hideLegend=true", func(o Options) bool { return o.HideLegend != nil && *o.HideLegend == yes }},
		{"hideLegend false", "hideLegend=false", func(o Options) bool { return o.HideLegend != nil && *o.HideLegend == no }},
		{"flags", "hideAxes=true&hideYAxis=1&hideGrid=true&graphOnly=true&drawNullAsZero=true&uniqueLegend=true", func(o Options) bool {
			return o.HideAxes && o.HideYAxis && o.HideGrid && o.GraphOnly && o.DrawNullAsZero && o.UniqueLegend
		}},
		{"y range", "yMin=-5&yMax=100.5&yStep=25&yLimit=90", func(o Options) bool {
			return o.YMin == -5 && o.YMax == 100.5 && o.YStep == 25 && o.YLimit == 90
		}},
		{"min max aliases", "min=1&max=2", func(o Options) bool { return o.YMin == 1 && o.YMax == 2 }},
		{"logBase", "logBase=10", func(o Options) bool { return o.LogBase == 10 }},
		{"logBase e", "logBase=e", func(o Options) bool { return o.LogBase == math.E }},
		{"yUnitSystem", "yUnitSystem=binary", func(o Options) bool { return o.YUnitSystem == "binary" }},
		{"yAxisSide", "yAxisSide=right", func(o Options) bool { return o.YAxisSide == "right" }},
		{"fonts", "fontSize=14&fontName=Courier&fontBold=true&fontItalic=true", func(o Options) bool {
			return o.FontSize == 14 && o.FontName == "Courier" && o.FontBold && o.FontItalic
		}},
		{"template plain", "template=plain", func(o Options) bool {
			return o.BgColor == color.NRGBA{255, 255, 255, 255} && o.FgColor == color.NRGBA{0, 0, 0, 255}
		}},
		{"unknown template is default", "template=nope", func(o Options) bool { return o.BgColor == color.NRGBA{0, 0, 0, 255} }},
		{"template then bgcolor", "template=plain&bgcolor=blue", func(o Options) bool { return o.BgColor == color.NRGBA{100, 100, 255, 255} }},
		{"tz", "tz=Europe/Berlin", func(o Options) bool { return o.Location.String() == "Europe/Berlin" }},
		{"margin", "margin=0", func(o Options) bool { return o.Margin == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			o, err := ParseOptions(q)
			if err != nil {
				t.Fatalf("ParseOptions(%s): %v", tt.query, err)
			}
			if !tt.check(o) {
				t.Errorf("ParseOptions(%s) = %+v", tt.query, o)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct{ query, want string }{
		{"width=abc", "width: must be an integer between 1 and 10000"},
		{"width=0", "width: must be an integer between 1 and 10000"},
		{"height=10001", "height: must be an integer between 1 and 10000"},
		{"bgcolor=blu", `bgcolor: unknown color "blu"`},
		{"fgcolor=%23ff00", `fgcolor: unknown color "#ff00"`},
		{"majorGridLineColor=zzzzzz", `majorGridLineColor: unknown color "zzzzzz"`},
		{"colorList=red,nope", `colorList: unknown color "nope"`},
		{"lineWidth=0", "lineWidth: must be a number greater than 0 and at most 100"},
		{"lineWidth=x", "lineWidth:"},
		{"lineMode=curvy", "lineMode: must be one of slope, staircase, connected"},
		{"areaMode=some", "areaMode: must be one of none, first, all, stacked"},
		{"areaAlpha=2", "areaAlpha: must be a number between 0 and 1"},
		{"hideLegend=maybe", "hideLegend: must be true or false"},
		{"graphOnly=2", "graphOnly: must be true or false"},
		{"yMin=low", "yMin: must be a number"},
		{"yMax=NaN", "yMax: must be a number"},
		{"yStep=0", "yStep: must be a number greater than 0"},
		{"logBase=1", `logBase: must be "e" or a number greater than 1`},
		{"yUnitSystem=metric", "yUnitSystem: must be one of si, binary, none"},
		{"fontSize=-1", "fontSize:"},
		{"tz=Mars/Olympus", `tz: unknown time zone "Mars/Olympus"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseOptions(q)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ParseOptions(%s) error = %v, want prefix %q", tt.query, err, tt.want)
			}
		})
	}
}

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want color.NRGBA
		ok   bool
	}{
		{"blue", color.NRGBA{100, 100, 255, 255}, true},
		{"DarkRed", color.NRGBA{255, 0, 0, 255}, true},
		{"#00ff00", color.NRGBA{0, 255, 0, 255}, true},
		{"00ff0040", color.NRGBA{0, 255, 0, 0x40}, true},
		{"navy", color.NRGBA{0, 0, 128, 255}, true}, // SVG name, as carbonapi accepts
		{"#abc", color.NRGBA{}, false},
		{"", color.NRGBA{}, false},
		{"gggggg", color.NRGBA{}, false},
	}
	for _, tt := range tests {
		got, err := ParseColor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseColor(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
