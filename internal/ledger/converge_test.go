package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"corral/internal/api"
)

func reportIDs(rs []api.ConvergeReport) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestConvergeReports(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "h.db"))
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	mk := func(id, node string, minute int, nonce string, failed bool, changed int, dry bool) api.ConvergeReport {
		r := api.ConvergeReport{ID: id, Node: node, Nonce: nonce, Started: start.Add(time.Duration(minute) * time.Minute),
			DryRun: dry, Totals: api.ConvergeTotals{Changed: changed, UpToDate: 3},
			Resources: []api.ResourceResult{{Type: "file", Name: "/etc/motd", Status: api.StatusUpToDate}}}
		if failed {
			r.Error = "file[/x]: boom"
		}
		return r
	}
	// Stored out of start order (an agent's spool sends late).
	batch := []api.ConvergeReport{
		mk("a-3", "a", 3, "n1", true, 0, false),
		mk("a-1", "a", 1, "", false, 2, false),
		mk("b-2", "b", 2, "n1", false, 1, true),
		mk("a-4", "a", 4, "", false, 0, false),
	}
	if err := l.PutConvergeReports(ctx, batch, 0); err != nil {
		t.Fatal(err)
	}
	// Resent: ignored, the stored one stays.
	again := mk("a-1", "a", 1, "", true, 9, false)
	if err := l.PutConvergeReports(ctx, []api.ConvergeReport{again}, 0); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name string
		q    ConvergeQuery
		want []string
	}{
		{"all, newest first", ConvergeQuery{}, []string{"a-4", "a-3", "b-2", "a-1"}},
		{"node", ConvergeQuery{Node: "a"}, []string{"a-4", "a-3", "a-1"}},
		{"nonce", ConvergeQuery{Nonce: "n1"}, []string{"a-3", "b-2"}},
		{"failed", ConvergeQuery{Failed: true}, []string{"a-3"}},
		{"changed", ConvergeQuery{Changed: true}, []string{"b-2", "a-1"}},
		{"dry runs", ConvergeQuery{DryRun: &yes}, []string{"b-2"}},
		{"real runs", ConvergeQuery{DryRun: &no}, []string{"a-4", "a-3", "a-1"}},
		{"limit", ConvergeQuery{Limit: 2}, []string{"a-4", "a-3"}},
		{"before", ConvergeQuery{Before: "a-3"}, []string{"b-2", "a-1"}},
		{"before and node", ConvergeQuery{Before: "a-3", Node: "a"}, []string{"a-1"}},
		{"before unknown", ConvergeQuery{Before: "zzz"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.ListConvergeReports(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if ids := reportIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("reports = %v, want %v", ids, tt.want)
			}
		})
	}
	r, ok, err := l.ConvergeReport(ctx, "a-1")
	if err != nil || !ok {
		t.Fatalf("ConvergeReport(a-1) = %v, %v", ok, err)
	}
	if r.Error != "" || r.Totals.Changed != 2 || len(r.Resources) != 1 || !r.Started.Equal(start.Add(time.Minute)) {
		t.Errorf("a-1 = %+v (want the first stored version, with its resources)", r)
	}
	if _, ok, err := l.ConvergeReport(ctx, "nope"); ok || err != nil {
		t.Errorf("ConvergeReport(nope) = %v, %v", ok, err)
	}
}

// TestConvergeReportsKeep: only the newest reports of each node are kept.
func TestConvergeReportsKeep(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "h.db"))
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range 12 {
		rs := []api.ConvergeReport{
			{ID: fmt.Sprintf("a-%02d", i), Node: "a", Started: start.Add(time.Duration(i) * time.Second)},
			{ID: fmt.Sprintf("b-%02d", i), Node: "b", Started: start.Add(time.Duration(i) * time.Second)},
		}
		if i >= 10 {
			rs = rs[:1] // b stops reporting
		}
		if err := l.PutConvergeReports(ctx, rs, 5); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := l.ListConvergeReports(ctx, ConvergeQuery{Node: "a"})
	b, _ := l.ListConvergeReports(ctx, ConvergeQuery{Node: "b"})
	if got, want := reportIDs(a), []string{"a-11", "a-10", "a-09", "a-08", "a-07"}; !slices.Equal(got, want) {
		t.Errorf("a kept %v, want %v", got, want)
	}
	if got, want := reportIDs(b), []string{"b-09", "b-08", "b-07", "b-06", "b-05"}; !slices.Equal(got, want) {
		t.Errorf("b kept %v, want %v", got, want)
	}
}
