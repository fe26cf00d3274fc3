package whisper

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// archiveContents reads every valid slot (non-zero interval) of each
// archive of a whisper file as interval -> value, independently of the
// update code: it relies only on the header layout.
func archiveContents(t *testing.T, path string) []map[int64]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[int64]float64
	for _, a := range h.archives {
		m := map[int64]float64{}
		for o := a.offset; o < a.offset+a.size(); o += pointSize {
			ts := int64(binary.BigEndian.Uint32(b[o:]))
			if ts != 0 {
				m[ts] = math.Float64frombits(binary.BigEndian.Uint64(b[o+4:]))
			}
		}
		out = append(out, m)
	}
	return out
}

// newFile creates a whisper file with these archives through the Store's
// create path and returns it opened with its header.
func newFile(t *testing.T, dir, method string, xff float64, rets []Retention) (*os.File, header) {
	t.Helper()
	s := openStore(t, Options{Root: dir,
		Schemas:      Schemas{{Name: "t", Pattern: nil, Retentions: rets}},
		Aggregations: Aggregations{{Name: "t", Method: method, XFilesFactor: xff}}})
	if err := s.create("t", filepath.Join(dir, "t.wsp")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "t.wsp"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	h, _, err := readHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, h
}

func TestUpdateSemantics(t *testing.T) {
	rets := []Retention{{10, 6}, {60, 10}, {300, 12}} // 1 min, 10 min, 1 h
	const now = 1_699_999_925                         // 125 s into a 10-minute interval, 5 s into a minute
	tests := []struct {
		name, method string
		xff          float64
		batches      [][]Point
		want         []map[int64]float64 // per archive, valid slots
	}{
		{
			name: "out of order, duplicates, last of an interval wins", method: "average", xff: 0,
			batches: [][]Point{{{now - 5, 7}, {now - 25, 1}, {now - 21, 2}, {now - 15, 3}, {now - 15, 4}}},
			want: []map[int64]float64{
				{now - 5 - mod(now-5, 10): 7, now - 25 - mod(now-25, 10): 2, now - 15 - mod(now-15, 10): 4},
				{now - 5 - mod(now-5, 60): 7, now - 25 - mod(now-25, 60): (2.0 + 4) / 2},
				{now - mod(now, 300): (3.0 + 7) / 2},
			},
		},
		{
			name: "old points go to coarser archives or are dropped", method: "sum", xff: 0,
			batches: [][]Point{{{now - 120, 5}, {now - 3000, 6}, {now - 4000, 9}}},
			want: []map[int64]float64{
				{},
				{now - 120 - mod(now-120, 60): 5},
				{now - 120 - mod(now-120, 300): 5, now - 3000 - mod(now-3000, 300): 6},
			},
		},
		{
			name: "future points are written", method: "max", xff: 0,
			batches: [][]Point{{{now + 20, 3}}},
			want: []map[int64]float64{
				{now + 20 - mod(now+20, 10): 3},
				{now + 20 - mod(now+20, 60): 3},
				{now + 20 - mod(now+20, 300): 3},
			},
		},
		{
			name: "xFilesFactor holds back thin intervals", method: "average", xff: 0.5,
			batches: [][]Point{
				{{now - mod(now, 60), 1}, {now - mod(now, 60) + 10, 2}}, // 2 of 6: not rolled up
				{{now - mod(now, 60) + 20, 3}},                          // 3 of 6: rolled up
			},
			want: []map[int64]float64{
				{now - mod(now, 60): 1, now - mod(now, 60) + 10: 2, now - mod(now, 60) + 20: 3},
				{now - mod(now, 60): 2},
				{}, // 1 of 5 minutes known
			},
		},
		{
			name: "avg_zero counts missing points as zero", method: "avg_zero", xff: 0,
			batches: [][]Point{{{now - mod(now, 60), 6}, {now - mod(now, 60) + 10, 6}}},
			want: []map[int64]float64{
				{now - mod(now, 60): 6, now - mod(now, 60) + 10: 6},
				{now - mod(now, 60): 2},
				{now - mod(now, 300): 2.0 / 5},
			},
		},
		{
			name: "absmax and ring wrap (now+10 overwrites now-50)", method: "absmax", xff: 0,
			batches: [][]Point{
				{{now - 50, 1}},
				{{now, -9}, {now + 10, 2}, {now + 20, 1}}, // wraps the 6-slot ring
			},
			want: []map[int64]float64{
				{now - mod(now, 10): -9, now + 10 - mod(now+10, 10): 2, now + 20 - mod(now+20, 10): 1},
				{now - 50 - mod(now-50, 60): 1, now - mod(now, 60): -9},
				{now - mod(now, 300): -9},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f, h := newFile(t, dir, tt.method, tt.xff, rets)
			var u updater
			for _, b := range tt.batches {
				if _, err := u.update(f, h, nil, b, now); err != nil {
					t.Fatal(err)
				}
			}
			got := archiveContents(t, filepath.Join(dir, "t.wsp"))
			for i := range rets {
				if fmt.Sprint(got[i]) != fmt.Sprint(tt.want[i]) {
					t.Errorf("archive %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// pyWhisper is Debian's python3 with the whisper module, or "".
func pyWhisper() string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import whisper").Run() == nil {
			return py
		}
	}
	return ""
}

const pyUpdate = `
import json, sys, whisper
req = json.load(sys.stdin)
whisper.create(req["path"], [tuple(r) for r in req["archives"]], xFilesFactor=req["xff"], aggregationMethod=req["method"])
for b in req["batches"]:
    whisper.update_many(req["path"], [tuple(p) for p in b["points"]], now=b["now"])
`

// TestUpdateMatchesWhisperPy applies random batches (out of order, old,
// future, gaps) with every aggregation method to a file through updater and
// to another through whisper.py's update_many, and compares every archive.
func TestUpdateMatchesWhisperPy(t *testing.T) {
	py := pyWhisper()
	if py == "" {
		t.Skip("python3 whisper module not found: apt-get install python3-whisper")
	}
	rets := []Retention{{10, 30}, {60, 20}, {600, 10}}
	for seed := range 24 {
		method := AggregationMethods[seed%len(AggregationMethods)]
		xff := []float64{0, 0.3, 0.5, 1}[seed%4]
		t.Run(fmt.Sprintf("%d-%s-%g", seed, method, xff), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			dir := t.TempDir()
			f, h := newFile(t, dir, method, xff, rets)
			type batch struct {
				Now    int64        `json:"now"`
				Points [][2]float64 `json:"points"`
			}
			var batches []batch
			var u updater
			now := int64(1_700_000_000)
			for range 40 {
				now += r.Int64N(120)
				var pts []Point
				seen := map[int64]bool{}
				var raw [][2]float64
				for range r.IntN(40) + 1 {
					var ts int64
					switch r.IntN(10) {
					case 0:
						ts = now - r.Int64N(7000) // often beyond the 10 s archive, sometimes dropped
					case 1:
						ts = now + r.Int64N(100) // future
					default:
						ts = now - r.Int64N(300)
					}
					if seen[ts] { // carbon's cache keeps one value per timestamp
						continue
					}
					seen[ts] = true
					v := float64(r.IntN(2000)-1000) / 8
					pts = append(pts, Point{ts, v})
					raw = append(raw, [2]float64{float64(ts), v})
				}
				if _, err := u.update(f, h, nil, pts, now); err != nil {
					t.Fatal(err)
				}
				batches = append(batches, batch{now, raw})
			}
			pyPath := filepath.Join(dir, "py.wsp")
			var archives [][2]int
			for _, r := range rets {
				archives = append(archives, [2]int{r.SecondsPerPoint, r.Points})
			}
			req, _ := json.Marshal(map[string]any{"path": pyPath, "archives": archives, "xff": xff, "method": method, "batches": batches})
			cmd := exec.Command(py, "-c", pyUpdate)
			cmd.Stdin = strings.NewReader(string(req))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("whisper.py: %v\n%s", err, out)
			}
			got, want := archiveContents(t, filepath.Join(dir, "t.wsp")), archiveContents(t, pyPath)
			for i := range rets {
				if len(want[i]) == 0 && i == 0 {
					t.Fatalf("archive %d empty in whisper.py's file: test data too sparse", i)
				}
				for ts, w := range want[i] {
					if g, ok := got[i][ts]; !ok || g != w {
						t.Errorf("archive %d at %d: got %v (present %v), whisper.py %v", i, ts, g, ok, w)
					}
				}
				for ts, g := range got[i] {
					if _, ok := want[i][ts]; !ok {
						t.Errorf("archive %d at %d: got %v, whisper.py has none", i, ts, g)
					}
				}
			}
		})
	}
}
