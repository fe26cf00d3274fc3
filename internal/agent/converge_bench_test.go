package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
)

// BenchmarkConvergeNoop is the agent's side of a converge run with nothing
// to change: 500 files and 500 templates already converged, the report
// marshalled as the spool does. (The resources themselves are measured in
// internal/converge.)
func BenchmarkConvergeNoop(b *testing.B) {
	root := b.TempDir()
	var res []string
	files := map[string]string{}
	for i := range 500 {
		res = append(res, fmt.Sprintf(`{"file": {"path": "/f/%d.conf", "content": "value %d\n"}}`, i, i))
		res = append(res, fmt.Sprintf(`{"template": {"path": "/t/%d.conf", "source": "base/t.tmpl", "vars": {"n": %d}}}`, i, i))
	}
	files["base/t.tmpl"] = "n {{ .Vars.n }} on {{ .Node.Name }} ({{ .Attributes.greeting }})\n"
	cat := testCatalog(b, "h1", res...)
	cat.Files = files
	reportBytes := 0
	c := newConverger(convergeOptions{Node: "node-1", Root: root, NoSync: true,
		Facts: func(context.Context) api.Facts { return api.Facts{Hostname: "host-1"} },
		Report: func(typ string, data any) error {
			out, err := json.Marshal(data)
			reportBytes = len(out)
			return err
		}})
	catJSON, err := json.Marshal(cat)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"f", "t"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	c.setCatalog(catJSON, nil, true)
	ctx := context.Background()
	first := c.execute(ctx, runRequest{Trigger: triggerStart}, c.cat)
	if first.report.Failed() || first.report.Totals.Changed != 1000 {
		b.Fatalf("first run %+v", first.report.Totals)
	}
	cpu := convergeCPUTime()
	b.ResetTimer()
	for b.Loop() {
		d := c.execute(ctx, runRequest{Trigger: triggerInterval}, c.cat)
		if d.report.Totals.UpToDate != 1000 {
			b.Fatalf("no-op run %+v %s", d.report.Totals, d.report.Error)
		}
	}
	b.ReportMetric(float64(convergeCPUTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(reportBytes), "report-bytes")
}

// convergeCPUTime is the process's user and system CPU time so far: on a
// shared machine it says more than the wall clock.
func convergeCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
