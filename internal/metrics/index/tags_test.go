package index

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestNormalizeTagged(t *testing.T) {
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{"sorted already", "cpu;dc=east;host=a", "cpu;dc=east;host=a", false},
		{"sorts tags", "cpu;host=a;dc=east", "cpu;dc=east;host=a", false},
		{"last value wins", "cpu;a=1;a=2", "cpu;a=2", false},
		{"dotted name", "servers.cpu.user;dc=x", "servers.cpu.user;dc=x", false},
		{"value may hold =", "m;q=a=b", "m;q=a=b", false},
		{"no tags", "cpu", "cpu", false},
		{"empty name", ";a=1", "", true},
		{"no equals", "cpu;dc", "", true},
		{"empty value", "cpu;dc=", "", true},
		{"tilde value", "cpu;dc=~x", "", true},
		{"bang in tag", "cpu;d!c=x", "", true},
		{"empty tag", "cpu;=x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeTagged(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadTaggedName) {
					t.Fatalf("err = %v, want ErrBadTaggedName", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeTagged(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func testTags() *Tags {
	tg := NewTags()
	for _, n := range []string{
		"cpu;host=a;dc=east",
		"cpu;host=b;dc=east",
		"cpu;host=c;dc=west;env=prod",
		"mem;host=a;dc=east",
		"disk.used;host=web1;dc=west",
	} {
		tg.Add(n)
	}
	return tg
}

func TestTagsFindSeries(t *testing.T) {
	tg := testTags()
	tests := []struct {
		name  string
		exprs []string
		want  []string
		bad   bool
	}{
		{"name eq", []string{"name=cpu"}, []string{"cpu;dc=east;host=a", "cpu;dc=east;host=b", "cpu;dc=west;env=prod;host=c"}, false},
		{"two eq", []string{"name=cpu", "dc=east"}, []string{"cpu;dc=east;host=a", "cpu;dc=east;host=b"}, false},
		{"ne", []string{"name=cpu", "dc!=east"}, []string{"cpu;dc=west;env=prod;host=c"}, false},
		{"regex prefix anchored", []string{"host=~we"}, []string{"disk.used;dc=west;host=web1"}, false},
		{"regex not suffix search", []string{"host=~eb"}, nil, false},
		{"not regex", []string{"name=cpu", "host!=~[ab]"}, []string{"cpu;dc=west;env=prod;host=c"}, false},
		{"missing tag eq empty", []string{"name=cpu", "env="}, []string{"cpu;dc=east;host=a", "cpu;dc=east;host=b"}, false},
		{"has tag ne empty", []string{"env!="}, []string{"cpu;dc=west;env=prod;host=c"}, false},
		{"regex alternation", []string{"name=~cpu|mem", "host=a"}, []string{"cpu;dc=east;host=a", "mem;dc=east;host=a"}, false},
		{"no match", []string{"name=nope"}, nil, false},
		{"only empty-matching", []string{"dc!=east"}, nil, true},
		{"only regex matching empty", []string{"dc=~.*"}, nil, true},
		{"malformed", []string{"dc"}, nil, true},
		{"bad regex", []string{"dc=~("}, nil, true},
		{"none", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tg.FindSeries(tt.exprs)
			if tt.bad {
				if !errors.Is(err, ErrBadTagExpr) {
					t.Fatalf("err = %v, want ErrBadTagExpr", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("FindSeries(%q) = %q, %v; want %q", tt.exprs, got, err, tt.want)
			}
		})
	}
}

func TestTagsAutoComplete(t *testing.T) {
	tg := testTags()
	tests := []struct {
		name  string
		exprs []string
		tag   string // "" → AutoCompleteTags
		pfx   string
		limit int
		want  []string
	}{
		{"all tags", nil, "", "", 0, []string{"dc", "env", "host", "name"}},
		{"tags prefix", nil, "", "h", 0, []string{"host"}},
		{"tags limit", nil, "", "", 2, []string{"dc", "env"}},
		{"tags of matches minus used", []string{"name=mem"}, "", "", 0, []string{"dc", "host"}},
		{"tags of matches env", []string{"dc=west"}, "", "", 0, []string{"env", "host", "name"}},
		{"values", nil, "host", "", 0, []string{"a", "b", "c", "web1"}},
		{"values prefix", nil, "host", "w", 0, []string{"web1"}},
		{"values of matches", []string{"name=cpu", "dc=east"}, "host", "", 0, []string{"a", "b"}},
		{"values limit", nil, "name", "", 2, []string{"cpu", "disk.used"}},
		{"values unknown tag", nil, "nope", "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var err error
			if tt.tag == "" {
				got, err = tg.AutoCompleteTags(tt.exprs, tt.pfx, tt.limit)
			} else {
				got, err = tg.AutoCompleteValues(tt.exprs, tt.tag, tt.pfx, tt.limit)
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	names, err := tg.TagNames("^[de]")
	if err != nil || !slices.Equal(names, []string{"dc", "env"}) {
		t.Fatalf("TagNames = %q, %v", names, err)
	}
}

func TestTagsAddDuplicateSpelling(t *testing.T) {
	tg := NewTags()
	if !tg.Add("cpu;b=2;a=1") {
		t.Fatal("first Add returned false")
	}
	if tg.Add("cpu;a=1;b=2") {
		t.Fatal("same series in other tag order was added twice")
	}
	if tg.Add("cpu;a=") {
		t.Fatal("malformed name accepted")
	}
	if tg.Len() != 1 {
		t.Fatalf("Len = %d", tg.Len())
	}
	tags, ok := tg.Lookup("cpu;b=2;a=1")
	if !ok || tags["a"] != "1" || tags["b"] != "2" || tags["name"] != "cpu" {
		t.Fatalf("Lookup = %v, %v", tags, ok)
	}
}

func TestOpenTagsPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.idx")
	tg, err := OpenTags(path)
	if err != nil {
		t.Fatal(err)
	}
	tg.Add("cpu;host=b;dc=x")
	tg.Add("mem;host=a")
	tg.Add("cpu;dc=x;host=b") // duplicate: not written again
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cpu;dc=x;host=b\nmem;host=a\n"; string(data) != want {
		t.Fatalf("file = %q, want %q", data, want)
	}
	// Simulate a torn write and a junk line, then reopen.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("junk;=\ndisk;host=")
	f.Close()
	tg, err = OpenTags(path)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Len() != 2 {
		t.Fatalf("Len after reopen = %d, want 2", tg.Len())
	}
	got, _ := tg.FindSeries([]string{"host=b"})
	if !slices.Equal(got, []string{"cpu;dc=x;host=b"}) {
		t.Fatalf("FindSeries after reopen = %q", got)
	}
	tg.Add("net;host=c")
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if want := "cpu;dc=x;host=b\nmem;host=a\njunk;=\nnet;host=c\n"; string(data) != want {
		t.Fatalf("file after reopen = %q, want %q", data, want)
	}
}

func TestTagsConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.idx")
	tg, err := OpenTags(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				tg.Add("m;w=" + string(rune('a'+w)) + ";i=" + strconv.Itoa(i))
				if _, err := tg.FindSeries([]string{"name=m", "w=a"}); err != nil {
					t.Error(err)
					return
				}
				tg.AutoCompleteValues(nil, "i", "1", 5)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if tg.Len() != 2000 {
		t.Fatalf("Len = %d, want 2000", tg.Len())
	}
	re, err := OpenTags(path)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if re.Len() != 2000 {
		t.Fatalf("reloaded Len = %d, want 2000", re.Len())
	}
}
