package index

import (
	"fmt"
	"slices"
	"testing"
)

// TestFindWideLevel covers the parallel walk of a wide glob level: the
// result is every match, in path order, as the sequential walk gives it.
func TestFindWideLevel(t *testing.T) {
	ix := New()
	var want []string
	for h := range 3 * parallelKids {
		for _, m := range []string{"a", "b"} {
			ix.Add(fmt.Sprintf("s.h%05d.%s", h, m))
		}
		want = append(want, fmt.Sprintf("s.h%05d.b", h))
	}
	nodes, err := ix.Find("s.*.b")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(nodes))
	for i, n := range nodes {
		got[i] = n.Path
		if n.Name != "b" || !n.Leaf || n.Branch {
			t.Fatalf("node %d = %+v", i, n)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Find(s.*.b): %d paths, want %d; first %v", len(got), len(want), got[:min(3, len(got))])
	}
	// Expand goes through the same walk and keeps its order.
	exp, err := ix.Expand("s.*.b", true)
	if err != nil || !slices.Equal(exp, want) {
		t.Fatalf("Expand = %d paths (%v)", len(exp), err)
	}
}
