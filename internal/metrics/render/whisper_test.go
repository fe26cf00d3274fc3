package render

import (
	"net/url"
	"testing"
	"time"

	"corral/internal/metrics/index"
	"corral/internal/metrics/whisper"
)

// TestRenderOverWhisper renders from real whisper files: plain and tagged
// series written through the store, read back through the handler. go-whisper
// clamps reads to the real clock, so the points are an hour old.
func TestRenderOverWhisper(t *testing.T) {
	now := time.Now()
	base := now.Unix() - 3600
	base -= base % 60
	st, err := whisper.Open(whisper.Options{Root: t.TempDir(), Sparse: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ix, tg := index.New(), index.NewTags()
	write := func(name string, vals ...float64) {
		var pts []whisper.Point
		for i, v := range vals {
			pts = append(pts, whisper.Point{Time: base + int64(i)*10, Value: v})
		}
		if index.IsTagged(name) {
			tg.Add(name)
		} else {
			ix.Add(name)
		}
		if err := st.Write(name, pts); err != nil {
			t.Fatal(err)
		}
	}
	write("w.a", 1, 2, 3, 4, 5, 6)
	write("w.b", 10, 20, 30, 40, 50, 60)
	write("req;host=a;dc=x", 1, 1, 1, 1, 1, 1)
	write("req;host=b;dc=x", 5, 5, 5, 5, 5, 5)
	h, err := New(Options{Index: ix, Tags: tg, Fetcher: st, Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		name   string
		want   []float64
	}{
		{"sumSeries(w.*)", "sumSeries(w.*)", []float64{11, 22, 33, 44, 55, 66}},
		{"sumSeries(seriesByTag('name=req','dc=x'))", "sumSeries(seriesByTag('name=req','dc=x'))", repeat(6, 6)},
		{"seriesByTag('host=b')", "req;dc=x;host=b", repeat(5, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			q := url.Values{"target": {tt.target}, "from": {itoa(base - 1)}, "until": {itoa(base + 59)}, "format": {"json"}}
			got := decodeJSON(t, get(h.Render, "/render", q).Body)
			if len(got) != 1 || got[0].Target != tt.name {
				t.Fatalf("got %s, want %s", names(got), tt.name)
			}
			if v := values(t, got[0], base, 10); !sameFloats(v, tt.want) {
				t.Fatalf("values %v, want %v", v, tt.want)
			}
		})
	}
}
