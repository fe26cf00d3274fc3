package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"corral/internal/api"
)

func TestDeploymentsAndJobRuns(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "h.db"))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, app := range []string{"/a", "/b", "/a"} {
		d := api.Deployment{ID: app + string(rune('0'+i)), App: app, Kind: api.DeployStart, Version: int64(i + 1),
			State: api.DeploymentSucceeded, Started: t0.Add(time.Duration(i) * time.Minute)}
		if err := l.PutDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Stored twice (a failover): still one row, the newer data.
	if err := l.PutDeployment(ctx, api.Deployment{ID: "/a0", App: "/a", State: api.DeploymentCanceled, Started: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := l.ListDeployments(ctx, "/a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "/a2" || got[1].ID != "/a0" || got[1].State != api.DeploymentCanceled {
		t.Fatalf("deployments of /a = %+v", got)
	}
	all, _ := l.ListDeployments(ctx, "", 2)
	if len(all) != 2 || all[0].ID != "/a2" || all[1].ID != "/b1" {
		t.Fatalf("newest two = %+v", all)
	}
	if d, ok, err := l.Deployment(ctx, "/b1"); err != nil || !ok || d.Version != 2 {
		t.Fatalf("Deployment(/b1) = %+v %v %v", d, ok, err)
	}
	if _, ok, err := l.Deployment(ctx, "nope"); err != nil || ok {
		t.Fatalf("Deployment(nope) = %v %v", ok, err)
	}

	code := 3
	for i := range 3 {
		r := api.JobRun{ID: "r" + string(rune('0'+i)), Job: "/j", State: api.RunFailed, ExitCode: &code,
			Started: t0.Add(time.Duration(i) * time.Hour)}
		if err := l.PutJobRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.PutJobRun(ctx, api.JobRun{ID: "m", Job: "/j", State: api.RunMissed, Scheduled: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	runs, err := l.ListJobRuns(ctx, "/j", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[0].ID != "r2" || runs[3].ID != "m" || *runs[0].ExitCode != 3 {
		t.Fatalf("runs = %+v", runs)
	}
	if err := l.DeleteJobRuns(ctx, "/j"); err != nil {
		t.Fatal(err)
	}
	if runs, _ := l.ListJobRuns(ctx, "/j", 10); len(runs) != 0 {
		t.Fatalf("after delete: %d runs", len(runs))
	}
}
