package converge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// manyResources returns n resources under /srv/bench: every other one a
// file with content, the rest templates using node data, vars and nodes.
func manyResources(tb testing.TB, n int, templates bool) []Resource {
	list := []map[string]json.RawMessage{{"directory": json.RawMessage(`{"path": "/srv/bench", "recursive": true}`)}}
	for i := range n {
		var typ string
		var props any
		if templates && i%2 == 1 {
			typ = "template"
			props = map[string]any{"path": fmt.Sprintf("/srv/bench/t%04d.conf", i), "source": "bench.tmpl", "mode": "0640", "vars": map[string]any{"i": i}}
		} else {
			typ = "file"
			props = map[string]any{"path": fmt.Sprintf("/srv/bench/f%04d.conf", i), "content": fmt.Sprintf("# file %d\nkey = value\nother = %d\n", i, i*7), "mode": "0644"}
		}
		b, _ := json.Marshal(props)
		list = append(list, map[string]json.RawMessage{typ: b})
	}
	res, err := DecodeResources(list)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func benchEnv(root string) Env {
	return Env{
		Root:       root,
		Node:       NodeInfo{Name: "web-1", PrivateIP: "10.0.0.5"},
		Attributes: map[string]any{"env": "prod"},
		Sources: map[string][]byte{"bench.tmpl": []byte("# {{ .Node.Name }} {{ .Vars.i }} {{ .Attributes.env }}\n" +
			"{{ range nodes \"role=api\" }}server {{ .PrivateIP }}:8080;\n{{ end }}")},
		Nodes: NodesFrom([]NodeInfo{
			{Name: "api-1", PrivateIP: "10.0.0.1", Labels: map[string]string{"role": "api"}},
			{Name: "api-2", PrivateIP: "10.0.0.2", Labels: map[string]string{"role": "api"}},
		}),
	}
}

func TestManyResourcesConvergeOnce(t *testing.T) {
	env := benchEnv(t.TempDir())
	env.NoSync = true
	res := manyResources(t, 200, true)
	if rep := run(t, env, res); rep.Totals.Changed != len(res) {
		t.Fatalf("first: %+v %s", rep.Totals, rep.Error)
	}
	if got := readFile(t, filepath.Join(env.Root, "srv/bench/t0003.conf")); got != "# web-1 3 prod\nserver 10.0.0.1:8080;\nserver 10.0.0.2:8080;\n" {
		t.Errorf("template: %q", got)
	}
	if rep := run(t, env, res); rep.Totals.UpToDate != len(res) {
		t.Fatalf("second: %+v %s", rep.Totals, rep.Error)
	}
}

// BenchmarkNoopConverge1000 converges 500 files and 500 templates that are
// already up to date (target: under 250 ms).
func BenchmarkNoopConverge1000(b *testing.B) {
	env := benchEnv(b.TempDir())
	res := manyResources(b, 1000, true)
	r := NewRunner()
	if rep, _ := r.Run(context.Background(), env, res); rep.Totals.Changed != len(res) {
		b.Fatalf("setup: %+v %s", rep.Totals, rep.Error)
	}
	cpu := cpuTime()
	for b.Loop() {
		rep, _ := r.Run(context.Background(), env, res)
		if rep.Totals.UpToDate != len(res) {
			b.Fatalf("%+v", rep.Totals)
		}
	}
	reportCPU(b, cpu)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start (on a busy
// machine, wall time also counts waiting for a CPU).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkFirstConverge1000Files writes 1,000 new files, each synced to
// disk before its rename (target: under 2 s).
func BenchmarkFirstConverge1000Files(b *testing.B) { benchFirst(b, false) }

// BenchmarkFirstConverge1000FilesNoSync is the same without fsync.
func BenchmarkFirstConverge1000FilesNoSync(b *testing.B) { benchFirst(b, true) }

func benchFirst(b *testing.B, noSync bool) {
	res := manyResources(b, 1000, false)
	base := b.TempDir()
	r := NewRunner()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		b.StopTimer()
		i++
		root := filepath.Join(base, fmt.Sprint(i))
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		env := benchEnv(root)
		env.NoSync = noSync
		b.StartTimer()
		rep, _ := r.Run(context.Background(), env, res)
		if rep.Totals.Changed != len(res) {
			b.Fatalf("%+v %s", rep.Totals, rep.Error)
		}
		b.StopTimer()
		os.RemoveAll(root)
		b.StartTimer()
	}
	reportCPU(b, cpu) // includes the untimed removals
}
