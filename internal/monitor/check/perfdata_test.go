package check

import (
	"reflect"
	"strings"
	"testing"

	"corral/internal/api"
)

func TestSplitPerfdata(t *testing.T) {
	tests := []struct {
		name, output, want string
	}{
		{"none", "OK - fine", ""},
		{"first line", "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968", " /=2643MB;5948;5958;0;5968"},
		{"long text", "OK - summary | a=1\nline two\nline three | b=2\nc=3", " a=1  b=2\nc=3"},
		{"only long text", "OK\nmore | x=1", " x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitPerfdata(tt.output); got != tt.want {
				t.Errorf("SplitPerfdata = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePerfdata(t *testing.T) {
	tests := []struct {
		name    string
		perf    string
		want    []Perf
		wantErr string
	}{
		{"check_disk", "/=2643MB;5948;5958;0;5968",
			[]Perf{{Label: "/", Value: 2643, UOM: "MB", Warn: "5948", Crit: "5958", Min: "0", Max: "5968"}}, ""},
		{"several with units", "time=0.002s;;;0.000000 size=612B;;;0 load1=0.5;4;8;0 pct=99.5%",
			[]Perf{
				{Label: "time", Value: 0.002, UOM: "s", Min: "0.000000"},
				{Label: "size", Value: 612, UOM: "B", Min: "0"},
				{Label: "load1", Value: 0.5, Warn: "4", Crit: "8", Min: "0"},
				{Label: "pct", Value: 99.5, UOM: "%"},
			}, ""},
		{"quoted label with spaces and quote", "'free space'=12GB 'it''s'=3c",
			[]Perf{{Label: "free space", Value: 12, UOM: "GB"}, {Label: "it's", Value: 3, UOM: "c"}}, ""},
		{"quoted label with =", "'a=b'=1", []Perf{{Label: "a=b", Value: 1}}, ""},
		{"ranges kept", "procs=3;10:;@5:6;0;", []Perf{{Label: "procs", Value: 3, Warn: "10:", Crit: "@5:6", Min: "0"}}, ""},
		{"negative and exponent", "t=-1.5e3ms x=1E2", []Perf{{Label: "t", Value: -1500, UOM: "ms"}, {Label: "x", Value: 100}}, ""},
		{"undetermined skipped", "a=U;1;2 b=4", []Perf{{Label: "b", Value: 4}}, `a: value "U" is not a number`},
		{"unknown unit", "a=4furlongs b=1", []Perf{{Label: "b", Value: 1}}, `a: unknown unit "furlongs"`},
		{"stray word", "junk a=1", []Perf{{Label: "a", Value: 1}}, `"junk": no '='`},
		{"unterminated quote", "a=1 'b c=2", []Perf{{Label: "a", Value: 1}}, "unterminated quote"},
		{"empty", "  ", nil, ""},
		{"tabs and newlines separate", "a=1\tb=2\nc=3", []Perf{{Label: "a", Value: 1}, {Label: "b", Value: 2}, {Label: "c", Value: 3}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePerfdata(tt.perf)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePerfdata(%q) =\n %+v\nwant\n %+v", tt.perf, got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseGraphite(t *testing.T) {
	got, err := ParseGraphite("web1.cpu.user 12.5 1700000000\nweb1.cpu.idle 80\n\nbad line here too\nx.y notanumber 1\n", 1700000099)
	want := []api.MetricPoint{
		{Name: "web1.cpu.user", Value: 12.5, Time: 1700000000},
		{Name: "web1.cpu.idle", Value: 80, Time: 1700000099},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("error %v, want lines 4 and 5 named", err)
	}
}

func TestMetrics(t *testing.T) {
	tests := []struct {
		name, format, output, prefix, node, check string
		want                                      []api.MetricPoint
	}{
		{"nagios", api.MetricFormatNagios, "DISK OK | /=2643MB;5948;5958;0;5968 /var/lib=10MB 'free space'=5 '/ inodes'=3%", "", "web-1.example", "disk",
			[]api.MetricPoint{
				{Name: "corral.web-1_example.checks.disk.root", Value: 2643, Time: 100},
				{Name: "corral.web-1_example.checks.disk.var_lib", Value: 10, Time: 100},
				{Name: "corral.web-1_example.checks.disk.free_space", Value: 5, Time: 100},
				{Name: "corral.web-1_example.checks.disk.root_inodes", Value: 3, Time: 100},
			}},
		{"own prefix", api.MetricFormatNagios, "OK | time=0.1s", "infra.mon.", "n1", "http",
			[]api.MetricPoint{{Name: "infra.mon.n1.checks.http.time", Value: 0.1, Time: 100}}},
		{"graphite verbatim", api.MetricFormatGraphite, "app.requests 5 90", "", "n1", "c",
			[]api.MetricPoint{{Name: "app.requests", Value: 5, Time: 90}}},
		{"no format", "", "OK | a=1", "", "n1", "c", nil},
		{"nagios without perfdata", api.MetricFormatNagios, "OK", "", "n1", "c", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Metrics(tt.format, tt.output, tt.prefix, tt.node, tt.check, 100)
			if err != nil {
				t.Errorf("error %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"/=2643MB;5948;5958;0;5968", "'free space'=12GB 'it''s'=3c", "a=U;1;2 b=4",
		"time=0.002s;;;0.000000 size=612B;;;0", "'a=b'=1", "x=1e", "'", "=", "a='1'", "a=-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		perfs, err := ParsePerfdata(s)
		for _, p := range perfs {
			if p.Label == "" && !strings.Contains(s, "''=") && !strings.Contains(s, "=") {
				t.Fatalf("empty label from %q", s)
			}
			if p.Value != p.Value {
				t.Fatalf("NaN value from %q", s)
			}
			if !perfUOMs[p.UOM] {
				t.Fatalf("unit %q from %q", p.UOM, s)
			}
		}
		if err == nil && strings.TrimSpace(s) != "" && len(perfs) == 0 {
			t.Fatalf("no items and no error from %q", s)
		}
		// Re-rendering the items and parsing again gives the same items.
		var b strings.Builder
		for _, p := range perfs {
			b.WriteString(perfLabelText(p.Label) + "=" + fnum(p.Value) + p.UOM + ";" + p.Warn + ";" + p.Crit + ";" + p.Min + ";" + p.Max + " ")
		}
		again, _ := ParsePerfdata(b.String())
		if len(again) != len(perfs) {
			t.Fatalf("%q: re-parse of %q gave %d items, want %d", s, b.String(), len(again), len(perfs))
		}
		for i := range perfs {
			if again[i].Label != perfs[i].Label || again[i].Value != perfs[i].Value || again[i].UOM != perfs[i].UOM {
				t.Fatalf("%q: item %d re-parsed as %+v, want %+v", s, i, again[i], perfs[i])
			}
		}
	})
}

func FuzzParseGraphite(f *testing.F) {
	for _, s := range []string{"a.b 1 2", "a.b 1", "x y z w", "a 1e400 1", "a NaN 1", "\n\n a 1 -5\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pts, err := ParseGraphite(s, 42)
		lines := 0
		for _, l := range strings.Split(s, "\n") {
			if len(strings.Fields(l)) > 0 {
				lines++
			}
		}
		if len(pts) > lines {
			t.Fatalf("%d points from %d lines", len(pts), lines)
		}
		if err == nil && len(pts) != lines {
			t.Fatalf("%d points from %d lines and no error", len(pts), lines)
		}
		for _, p := range pts {
			if p.Name == "" || strings.ContainsAny(p.Name, " \t\n") || p.Value != p.Value || p.Time <= 0 && p.Time != 42 {
				t.Fatalf("bad point %+v from %q", p, s)
			}
		}
	})
}
