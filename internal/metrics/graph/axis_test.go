package graph

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestPrettyStep(t *testing.T) {
	// Expected values worked by hand from graphite-web's rule: scale the
	// range to [1,10), divide by 4, 5 and 6, take the pretty value closest
	// to a quotient.
	tests := []struct{ variance, want float64 }{
		{2000, 500},    // v=2: 2/4=0.5 exactly
		{10, 2.5},      // v=1: 1/4=0.25 exactly
		{1, 0.25},      // v=1
		{1600, 250},    // v=1.6: 1.6/6=0.267 is 0.017 from 0.25
		{7, 1.2},       // v=7: 7/6=1.167 is 0.033 from 1.2
		{0.3, 0.05},    // v=3: 3/6=0.5 exactly, ×0.1
		{5e6, 1.25e6},  // v=5: 5/4=1.25 and 5/5=1 are both exact; the first divisor wins
		{12, 2},        // v=1.2: 1.2/6=0.2 exactly, ×10
		{300, 50},      // v=3: 3/6=0.5
		{45, 12},       // v=4.5: 4.5/4=1.125 is 0.075 from 1.2, closer than 0.9→1.0 and 0.75→0.5
		{1e-3, 2.5e-4}, // v=1
	}
	for _, tt := range tests {
		got := prettyStep(tt.variance)
		if math.Abs(got-tt.want) > 1e-9*tt.want {
			t.Errorf("prettyStep(%v) = %v, want %v", tt.variance, got, tt.want)
		}
	}
}

func TestComputeYAxis(t *testing.T) {
	nan := math.NaN()
	opts := func(ymin, ymax, ystep, logBase float64) Options {
		o := DefaultOptions("")
		o.YMin, o.YMax, o.YStep, o.LogBase = ymin, ymax, ystep, logBase
		return o
	}
	tests := []struct {
		name        string
		lo, hi      float64
		o           Options
		bottom, top float64
		labels      []float64
		wantErr     error
	}{
		{"data", 700, 2300, opts(nan, nan, nan, 0), 500, 2500, []float64{500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500}, nil},
		{"no data", nan, nan, opts(nan, nan, nan, 0), 0, 1, []float64{0, 0.25, 0.5, 0.75, 1}, nil},
		{"constant", 5, 5, opts(nan, nan, nan, 0), 5, 6, []float64{5, 5.25, 5.5, 5.75, 6}, nil},
		{"yMin yMax", 3, 7, opts(0, 100, nan, 0), 0, 100, []float64{0, 25, 50, 75, 100}, nil},
		{"yStep", 0, 10, opts(nan, nan, 4, 0), 0, 12, []float64{0, 4, 8, 12}, nil},
		// 50/10=5, 5/4=1.25 exact: step 12.5, bottom floor(-30/12.5)×12.5, top ceil(20/12.5)×12.5.
		{"negative", -30, 20, opts(nan, nan, nan, 0), -37.5, 25, []float64{-37.5, -25, -12.5, 0, 12.5, 25}, nil},
		{"log", 3, 4000, opts(nan, nan, nan, 10), 1, 10000, []float64{1, 10, 100, 1000, 10000}, nil},
		{"log non-positive", 0, 10, opts(nan, nan, nan, 10), 0, 0, nil, errLogNonPositive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := computeYAxis(tt.lo, tt.hi, tt.o)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if a.Bottom != tt.bottom || a.Top != tt.top {
				t.Errorf("range = [%v, %v], want [%v, %v]", a.Bottom, a.Top, tt.bottom, tt.top)
			}
			if len(a.Labels) != len(tt.labels) {
				t.Fatalf("labels = %v, want %v", a.Labels, tt.labels)
			}
			for i := range a.Labels {
				if math.Abs(a.Labels[i]-tt.labels[i]) > 1e-9 {
					t.Errorf("labels = %v, want %v", a.Labels, tt.labels)
					break
				}
			}
		})
	}
}

func TestYLabel(t *testing.T) {
	tests := []struct {
		v                 float64
		bottom, top, step float64
		system            string
		want              string
	}{
		{1500, 0, 2000, 500, "si", "1500"},   // step below 1K: no prefix
		{2000, 0, 4000, 1000, "si", "2.0 K"}, // span 4 K: one decimal
		{1.5e6, 0, 2e6, 5e5, "si", "1500 K"},
		{7.5e6, 0, 1e7, 2.5e6, "si", "7.5 M"},
		{2 << 30, 0, 4 << 30, 1 << 30, "binary", "2.0 Gi"},
		{2e9, 0, 4e9, 1e9, "none", "2000000000"},
		{0.05, 0, 0.2, 0.05, "si", "0.05"},
		{0.5, 0, 2, 0.5, "si", "0.50"},
		{-50, -100, 100, 50, "si", "-50"},
		{25, 0, 100, 25, "si", "25"},
		{2.5, 0, 10, 2.5, "si", "2.5"},
	}
	for _, tt := range tests {
		a := yAxis{Bottom: tt.bottom, Top: tt.top, Step: tt.step}
		if got := yLabel(tt.v, a, tt.system); got != tt.want {
			t.Errorf("yLabel(%v, [%v..%v step %v], %s) = %q, want %q", tt.v, tt.bottom, tt.top, tt.step, tt.system, got, tt.want)
		}
	}
}

func TestChooseXConfig(t *testing.T) {
	tests := []struct {
		rng    time.Duration
		width  float64
		format string
		label  time.Duration
	}{
		{time.Hour, 500, "15:04", 10 * time.Minute},            // 7.2 s/px: row 5 s/px
		{10 * time.Minute, 600, "15:04", time.Minute},          // 1 s/px: row 0.5
		{10 * time.Minute, 6000, "15:04:05", 10 * time.Second}, // 0.1 s/px: row 0.07
		{7 * 24 * time.Hour, 500, "01/02", 24 * time.Hour},     // 1210 s/px: last 600 s/px row
		{24 * time.Hour, 800, "Mon 3PM", 4 * time.Hour},        // 108 s/px
	}
	for _, tt := range tests {
		c := chooseXConfig(tt.rng, tt.width)
		got := time.Duration(float64(c.labelUnit) * c.labelStep)
		if c.format != tt.format || got != tt.label {
			t.Errorf("chooseXConfig(%v, %v) = %q every %v, want %q every %v", tt.rng, tt.width, c.format, got, tt.format, tt.label)
		}
	}
}

func TestXTimes(t *testing.T) {
	start := time.Date(2026, 11, 25, 14, 7, 30, 0, time.UTC)
	got := xTimes(start, start.Add(23*time.Minute), time.Minute, 5, time.UTC)
	var want []time.Time
	for _, m := range []int{10, 15, 20, 25, 30} {
		want = append(want, time.Date(2026, 11, 25, 14, m, 0, 0, time.UTC))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("minutes = %v, want %v", got, want)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata for Europe/Berlin (Debian package tzdata): %v", err)
	}
	got = xTimes(start, start.Add(48*time.Hour), 24*time.Hour, 1, berlin)
	want = []time.Time{
		time.Date(2026, 11, 26, 0, 0, 0, 0, berlin),
		time.Date(2026, 11, 27, 0, 0, 0, 0, berlin),
	}
	if len(got) != len(want) || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
		t.Errorf("days in Berlin = %v, want %v", got, want)
	}
}
