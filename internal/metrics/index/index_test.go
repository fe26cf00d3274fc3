package index

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// smallTree has "a.b" both a leaf and a branch, and several siblings.
func smallTree(t *testing.T) *Index {
	t.Helper()
	ix := New()
	for _, n := range []string{
		"a.b", "a.b.c", "a.b.d", "a.c", "a.bb.x", "z.y",
		"servers.web1.cpu.user", "servers.web1.cpu.system", "servers.web2.cpu.user", "servers.db1.mem.free",
	} {
		if !ix.Add(n) {
			t.Fatalf("Add(%q) = false, want true", n)
		}
	}
	return ix
}

func TestAdd(t *testing.T) {
	ix := smallTree(t)
	if ix.Add("a.b") {
		t.Error("Add of an existing name returned true")
	}
	if ix.Add("a") == false {
		t.Error("Add(a): a branch becoming a leaf is new")
	}
	for _, bad := range []string{"", ".", "a..b", ".a", "a."} {
		if ix.Add(bad) {
			t.Errorf("Add(%q) = true, want false", bad)
		}
	}
	if got := ix.Len(); got != 11 {
		t.Errorf("Len = %d, want 11", got)
	}
}

func paths(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Path)
	}
	return out
}

func TestFind(t *testing.T) {
	ix := smallTree(t)
	tests := []struct {
		name, query string
		want        []string
	}{
		{"top level", "*", []string{"a", "servers", "z"}},
		{"direct lookup", "a.b", []string{"a.b"}},
		{"missing", "a.nope", nil},
		{"too deep", "a.b.c.d", nil},
		{"empty query", "", nil},
		{"children sorted", "a.*", []string{"a.b", "a.bb", "a.c"}},
		{"prefix glob", "a.b*", []string{"a.b", "a.bb"}},
		{"middle glob", "servers.*.cpu.user", []string{"servers.web1.cpu.user", "servers.web2.cpu.user"}},
		{"alternation dedup", "a.{b,b*,?}", []string{"a.b", "a.bb", "a.c"}},
		{"literal alternation dedup", "a.{c,b,c}", []string{"a.b", "a.c"}},
		{"alternation across levels", "servers.{web1,db1}.*", []string{"servers.db1.mem", "servers.web1.cpu"}},
		{"class", "servers.web[2-9].cpu", []string{"servers.web2.cpu"}},
		{"all leaves", "*.*.*.*", []string{"servers.db1.mem.free", "servers.web1.cpu.system", "servers.web1.cpu.user", "servers.web2.cpu.user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ix.Find(tt.query)
			if err != nil {
				t.Fatalf("Find(%q): %v", tt.query, err)
			}
			if !slices.Equal(paths(got), tt.want) {
				t.Errorf("Find(%q) = %q, want %q", tt.query, paths(got), tt.want)
			}
		})
	}
}

func TestFindNodeKinds(t *testing.T) {
	ix := smallTree(t)
	got, err := ix.Find("a.*")
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{Path: "a.b", Name: "b", Leaf: true, Branch: true},
		{Path: "a.bb", Name: "bb", Branch: true},
		{Path: "a.c", Name: "c", Leaf: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Find(a.*) = %+v, want %+v", got, want)
	}
}

func TestFindBadGlob(t *testing.T) {
	ix := smallTree(t)
	for _, q := range []string{"a.[b", "a.{b,c", "{a.b}"} {
		if _, err := ix.Find(q); !errors.Is(err, ErrBadPattern) {
			t.Errorf("Find(%q) error = %v, want ErrBadPattern", q, err)
		}
		if _, err := ix.Expand(q, false); !errors.Is(err, ErrBadPattern) {
			t.Errorf("Expand(%q) error = %v, want ErrBadPattern", q, err)
		}
	}
}

func TestExpand(t *testing.T) {
	ix := smallTree(t)
	tests := []struct {
		name, query string
		leavesOnly  bool
		want        []string
	}{
		{"all", "a.*", false, []string{"a.b", "a.bb", "a.c"}},
		{"leaves only keeps leaf+branch", "a.*", true, []string{"a.b", "a.c"}},
		{"dedup", "a.{b,b}", false, []string{"a.b"}},
		{"none", "q.*", false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ix.Expand(tt.query, tt.leavesOnly)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Expand(%q, %v) = %q, want %q", tt.query, tt.leavesOnly, got, tt.want)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	ix := New()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				ix.Add(fmt.Sprintf("s.h%d.m%d", w, i))
				if _, err := ix.Find("s.*.m1*"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if ix.Len() != 2000 {
		t.Errorf("Len = %d, want 2000", ix.Len())
	}
}

func TestFindWideNode(t *testing.T) {
	ix := New()
	for i := range 40 { // past smallKids: the node switches to a map
		ix.Add(fmt.Sprintf("p.c%02d", i))
	}
	got, err := ix.Find("p.*")
	if err != nil || len(got) != 40 || got[0].Path != "p.c00" || got[39].Path != "p.c39" {
		t.Fatalf("Find(p.*) = %d nodes %v, err %v", len(got), paths(got), err)
	}
	ix.Add("p.b") // must invalidate the sorted cache built by the Find above
	got, _ = ix.Find("p.*")
	if len(got) != 41 || got[0].Path != "p.b" {
		t.Errorf("after Add, Find(p.*) = %v", paths(got)[:3])
	}
	if got, _ := ix.Find("p.c17"); len(got) != 1 {
		t.Errorf("Find(p.c17) = %v", paths(got))
	}
}

func TestFindSortsByPath(t *testing.T) {
	ix := New()
	ix.Add("a.b.x")
	ix.Add("a.b-c.x") // '-' sorts before '.', so name order is not path order
	got, _ := ix.Find("a.*.x")
	want := []string{"a.b-c.x", "a.b.x"}
	if !slices.Equal(paths(got), want) {
		t.Errorf("Find = %q, want %q", paths(got), want)
	}
}

func TestLeaves(t *testing.T) {
	ix := New()
	for _, n := range []string{"b.c", "a", "a.b", "b.a.x"} {
		ix.Add(n)
	}
	got := ix.Leaves()
	want := []string{"a", "a.b", "b.a.x", "b.c"}
	if len(got) != len(want) {
		t.Fatalf("Leaves = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Leaves = %v, want %v", got, want)
		}
	}
}
