package whisper

import (
	"strings"
	"testing"
)

func TestParseRetention(t *testing.T) {
	tests := []struct {
		def     string
		want    Retention
		wantErr string
	}{
		{def: "60:1440", want: Retention{60, 1440}},
		{def: "10s:6h", want: Retention{10, 2160}},
		{def: "1m:7d", want: Retention{60, 10080}},
		{def: "10m:5y", want: Retention{600, 262800}},
		{def: "1h:2w", want: Retention{3600, 336}},
		{def: "1sec:1min", want: Retention{1, 60}},
		{def: "15:1hours", want: Retention{15, 240}},
		{def: " 5m:100 ", want: Retention{300, 100}},
		{def: "7s:1m", want: Retention{7, 8}}, // floor division, as whisper.py
		{def: "60", wantErr: "invalid retention definition"},
		{def: "1:2:3", wantErr: "invalid retention specification"},
		{def: "10x:1d", wantErr: "invalid unit"},
		{def: "5mo:1y", wantErr: "invalid unit"},
		{def: "10S:1d", wantErr: "invalid precision"},
		{def: "0:10", wantErr: "precision must be positive"},
		{def: "1m:30s", wantErr: "keeps no points"},
		{def: "-1:10", wantErr: "invalid precision"},
	}
	for _, tt := range tests {
		t.Run(tt.def, func(t *testing.T) {
			got, err := ParseRetention(tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestValidateRetentions(t *testing.T) {
	tests := []struct {
		name, defs, wantErr string
		want                []Retention
	}{
		{name: "graphite default", defs: "10s:6h,1m:7d,10m:5y", want: []Retention{{10, 2160}, {60, 10080}, {600, 262800}}},
		{name: "sorted by precision", defs: "1m:7d,10s:6h", want: []Retention{{10, 2160}, {60, 10080}}},
		{name: "same precision", defs: "10s:1h,10s:1d", wantErr: "same precision"},
		{name: "not divisible", defs: "10s:1h,15s:1d", wantErr: "evenly divide"},
		{name: "does not cover more", defs: "10s:1d,1m:1d", wantErr: "cover larger time intervals"},
		{name: "too few to consolidate", defs: "10s:50s,1h:1d", wantErr: "enough points to consolidate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRetentions(tt.defs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestParseSchemas(t *testing.T) {
	conf := `# comment
; another comment
[DEFAULT]
retentions = 60:1d

[carbon]
pattern = ^carbon\.
retentions = 60:90d

[Stats]
PATTERN: ^stats\.
retentions = 10s:6h,1m:7d

[inherits]
pattern = ^inh\.

[everything]
match-all = true
retentions = 1s:1m,1m:1h
`
	ss, err := ParseSchemas(strings.NewReader(conf), "storage-schemas.conf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, metric, schema string
		first                Retention
		line                 int
	}{
		{name: "carbon", metric: "carbon.agents.a.cpu", schema: "carbon", first: Retention{60, 129600}, line: 6},
		{name: "anchored pattern", metric: "x.carbon.y", schema: "everything", first: Retention{1, 60}, line: 17},
		{name: "uppercase key", metric: "stats.gauges.x", schema: "Stats", first: Retention{10, 2160}, line: 10},
		{name: "DEFAULT inherited", metric: "inh.x", schema: "inherits", first: Retention{60, 1440}, line: 14},
		{name: "tagged", metric: "stats.x;a=b", schema: "Stats", first: Retention{10, 2160}, line: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ss.Match(tt.metric)
			if s.Name != tt.schema || s.Retentions[0] != tt.first || s.Line != tt.line {
				t.Fatalf("Match(%q) = %s %v line %d", tt.metric, s.Name, s.Retentions, s.Line)
			}
		})
	}
	if got := (Schemas{ss[0]}).Match("other"); got.Name != "default" || got.Retentions[0] != (Retention{60, 10080}) {
		t.Fatalf("fallback = %+v", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, conf, wantErr string
		agg                 bool
	}{
		{name: "no pattern", conf: "[a]\nretentions = 60:1d\n", wantErr: "storage-schemas.conf:1: [a] has no pattern"},
		{name: "no retentions", conf: "\n[a]\npattern = x\n", wantErr: "storage-schemas.conf:2: [a] has no retentions"},
		{name: "bad regex", conf: "[a]\npattern = (x\nretentions = 60:1d\n", wantErr: "storage-schemas.conf:2: [a] pattern"},
		{name: "bad retention", conf: "[a]\npattern = x\nretentions = 60:1q\n", wantErr: "storage-schemas.conf:3: [a]: invalid unit"},
		{name: "invalid archives", conf: "[a]\npattern = x\n\nretentions = 10s:1d,1m:1d\n", wantErr: "storage-schemas.conf:4: [a]: lower precision"},
		{name: "list unsupported", conf: "[a]\nlist = foo\nretentions = 60:1d\n", wantErr: "storage-schemas.conf:2: [a]: list= schemas are not supported"},
		{name: "duplicate section", conf: "[a]\npattern = x\nretentions = 60:1d\n[a]\n", wantErr: "storage-schemas.conf:4: duplicate section"},
		{name: "duplicate key", conf: "[a]\npattern = x\npattern = y\n", wantErr: "storage-schemas.conf:3: duplicate option"},
		{name: "outside section", conf: "pattern = x\n", wantErr: "storage-schemas.conf:1: option outside"},
		{name: "garbage", conf: "[a]\njunk\n", wantErr: "storage-schemas.conf:2: expected"},
		{name: "continuation", conf: "[a]\npattern = x\n  y\n", wantErr: "storage-schemas.conf:3: continuation"},
		{name: "bad header", conf: "[a\n", wantErr: "storage-schemas.conf:1: malformed section"},
		{name: "xff range", agg: true, conf: "[a]\npattern = x\nxFilesFactor = 1.5\n", wantErr: "storage-aggregation.conf:3: [a] xFilesFactor"},
		{name: "xff number", agg: true, conf: "[a]\npattern = x\nxFilesFactor = half\n", wantErr: "storage-aggregation.conf:3:"},
		{name: "method", agg: true, conf: "[a]\npattern = x\naggregationMethod = median\n", wantErr: "storage-aggregation.conf:3: [a] unknown aggregationMethod"},
		{name: "agg no pattern", agg: true, conf: "[a]\nxFilesFactor = 0\n", wantErr: "storage-aggregation.conf:1: [a] has no pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.agg {
				_, err = ParseAggregations(strings.NewReader(tt.conf), "storage-aggregation.conf")
			} else {
				_, err = ParseSchemas(strings.NewReader(tt.conf), "storage-schemas.conf")
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseAggregations(t *testing.T) {
	as, err := ParseAggregations(strings.NewReader(DefaultAggregationConf), "x")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := ParseAggregations(strings.NewReader("[p]\npattern = ^p\\.\naggregationMethod = absmax\n[q]\npattern = ^q\\.\nxFilesFactor = 0.2\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, metric, method string
		xff                  float64
		in                   Aggregations
	}{
		{name: "min", metric: "a.b.min", method: "min", xff: 0.1, in: as},
		{name: "max", metric: "a.b.max", method: "max", xff: 0.1, in: as},
		{name: "count", metric: "stats.x.count", method: "sum", xff: 0, in: as},
		{name: "sum", metric: "stats.x.sum", method: "sum", xff: 0, in: as},
		{name: "default", metric: "a.minimum", method: "average", xff: 0.5, in: as},
		{name: "unset xff is whisper's", metric: "p.x", method: "absmax", xff: 0.5, in: custom},
		{name: "unset method is whisper's", metric: "q.x", method: "average", xff: 0.2, in: custom},
		{name: "no match", metric: "z", method: "average", xff: 0.5, in: custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.in.Match(tt.metric)
			if a.Method != tt.method || a.XFilesFactor != tt.xff {
				t.Fatalf("Match(%q) = %+v", tt.metric, a)
			}
		})
	}
}

func TestDefaultSchemas(t *testing.T) {
	ss, err := ParseSchemas(strings.NewReader(DefaultSchemasConf), "x")
	if err != nil {
		t.Fatal(err)
	}
	if s := ss.Match("carbon.agents.x"); s.Name != "carbon" || s.Retentions[0] != (Retention{60, 129600}) {
		t.Fatalf("carbon = %+v", s)
	}
	if s := ss.Match("anything"); s.Name != "default" || len(s.Retentions) != 3 {
		t.Fatalf("default = %+v", s)
	}
}

func FuzzParseSchemas(f *testing.F) {
	f.Add(DefaultSchemasConf)
	f.Add(DefaultAggregationConf)
	f.Add("[a]\npattern = x\nretentions = 1s:1m,1m:1h\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if ss, err := ParseSchemas(strings.NewReader(conf), "f"); err == nil {
			for _, s := range ss {
				if ValidateRetentions(s.Retentions) != nil {
					t.Fatalf("parsed invalid retentions %v", s.Retentions)
				}
			}
		}
		_, _ = ParseAggregations(strings.NewReader(conf), "f")
	})
}
