package whisper

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// needPeer skips unless Debian's python3-whisper tools are installed.
func needPeer(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"whisper-fetch", "whisper-create", "whisper-update"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: apt-get install python3-whisper", tool)
		}
	}
}

// pyFetch runs whisper-fetch --json and returns its result as a Series.
func pyFetch(t *testing.T, path string, from, until int64) Series {
	t.Helper()
	out, err := exec.Command("whisper-fetch", "--json", "--from", fmt.Sprint(from), "--until", fmt.Sprint(until), path).CombinedOutput()
	if err != nil {
		t.Fatalf("whisper-fetch: %v\n%s", err, out)
	}
	var r struct {
		Start, End, Step int64
		Values           []*float64
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("whisper-fetch output: %v\n%s", err, out)
	}
	s := Series{Start: r.Start, Until: r.End, Step: r.Step}
	for _, v := range r.Values {
		if v == nil {
			s.Values = append(s.Values, math.NaN())
		} else {
			s.Values = append(s.Values, *v)
		}
	}
	return s
}

func sameSeries(t *testing.T, what string, got, want Series) {
	t.Helper()
	if got.Start != want.Start || got.Step != want.Step || got.Until != want.Until || len(got.Values) != len(want.Values) {
		t.Fatalf("%s: store %d..%d step %d (%d values), whisper-fetch %d..%d step %d (%d values)", what,
			got.Start, got.Until, got.Step, len(got.Values), want.Start, want.Until, want.Step, len(want.Values))
	}
	for i := range got.Values {
		g, w := got.Values[i], want.Values[i]
		if math.IsNaN(g) != math.IsNaN(w) || (!math.IsNaN(g) && g != w) {
			t.Fatalf("%s: at %d store %v, whisper-fetch %v", what, got.Start+int64(i)*got.Step, g, w)
		}
	}
}

func TestPeerWhisperFetchReadsStore(t *testing.T) {
	needPeer(t)
	root := t.TempDir()
	s := openStore(t, Options{Root: root})
	end := time.Now().Unix() - 60
	end -= end % 10
	for _, name := range []string{"peer.avg", "peer.hits.count", "peer.lat.max", "peer.tagged;z=1;a=2"} {
		t.Run(name, func(t *testing.T) {
			pts := series10s(end, func(i int) float64 { return float64(i%13)*0.7 - 2 })
			if err := s.Write(name, pts); err != nil {
				t.Fatal(err)
			}
			rel, _ := s.Path(name)
			path := filepath.Join(root, rel)
			for _, r := range [][2]int64{{end - 7201, end}, {end - 7*3600, end}, {end - 8*86400, end - 3600}} {
				got, err := s.Fetch(name, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				sameSeries(t, fmt.Sprintf("%s %d..%d", name, r[0], r[1]), got, pyFetch(t, path, r[0], r[1]))
			}
		})
	}
}

func TestPeerStoreReadsWhisperCreate(t *testing.T) {
	needPeer(t)
	root := t.TempDir()
	s := openStore(t, Options{Root: root})
	path := filepath.Join(root, "legacy", "requests.wsp")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if err := exec.Command("mkdir", "-p", filepath.Dir(path)).Run(); err != nil {
		t.Fatal(err)
	}
	run("whisper-create", "--xFilesFactor=0", "--aggregationMethod=sum", path, "10s:6h", "1m:7d")
	end := time.Now().Unix() - 60
	end -= end % 10
	pts := series10s(end, func(i int) float64 { return float64(i % 9) })
	args := []string{"whisper-update", path}
	for _, p := range pts[:len(pts)/2] {
		args = append(args, fmt.Sprintf("%d:%g", p.Time, p.Value))
	}
	run(args...)
	// Read what Python wrote, then keep writing with Store: the migration path.
	if err := s.Write("legacy.requests", pts[len(pts)/2:]); err != nil {
		t.Fatal(err)
	}
	raw := map[int64]float64{}
	for _, p := range pts {
		raw[p.Time] = p.Value
	}
	got, err := s.Fetch("legacy.requests", end-7201, end)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, got, raw, 10)
	sameSeries(t, "10s", got, pyFetch(t, path, end-7201, end))
	got, err = s.Fetch("legacy.requests", end-7*3600, end)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, got, rollup(pts, 60, "sum", 0), 60)
	sameSeries(t, "1m", got, pyFetch(t, path, end-7*3600, end))

	// avg_zero files made by whisper.py are read and written.
	az := filepath.Join(root, "legacy", "az.wsp")
	run("whisper-create", "--aggregationMethod=avg_zero", "--xFilesFactor=0", az, "10s:1h", "1m:1d")
	run("whisper-update", az, fmt.Sprintf("%d:5", end))
	got, err = s.Fetch("legacy.az", end-1, end)
	if err != nil || len(got.Values) != 1 || got.Values[0] != 5 {
		t.Fatalf("avg_zero fetch = %+v, %v", got, err)
	}
	if err := s.Write("legacy.az", []Point{{end - 10, 1}}); err != nil {
		t.Fatalf("avg_zero write: %v", err)
	}
	got, err = s.Fetch("legacy.az", end-7200, end)
	if err != nil {
		t.Fatal(err)
	}
	sameSeries(t, "avg_zero 1m", got, pyFetch(t, az, end-7200, end))
	b := end - end%60
	want := map[int64]float64{b: (1 + 5) / 6.0}
	if end-10 < b {
		want = map[int64]float64{b: 5.0 / 6, b - 60: 1.0 / 6}
	}
	checkSeries(t, got, want, 60)
}
