package check

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"corral/internal/api"
)

func TestBuiltinsMatchAPI(t *testing.T) {
	var names []string
	for name := range Builtins() {
		names = append(names, name)
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(api.Builtins))
	if !slices.Equal(names, want) {
		t.Errorf("Builtins() = %v, api.Builtins = %v", names, want)
	}
}

func TestValidateArgs(t *testing.T) {
	tests := []struct {
		name    string
		builtin string
		args    map[string]any
		want    api.FieldErrors
	}{
		{"disk defaults", "disk", nil, nil},
		{"disk from JSON and strings", "disk", map[string]any{"path": "/", "warning": 80.0, "critical": "90%"}, nil},
		{"disk not a number", "disk", map[string]any{"warning": "lots"}, api.FieldErrors{"args.warning": "must be a number"}},
		{"disk over 100", "disk", map[string]any{"critical": 120}, api.FieldErrors{"args.critical": "must be a percentage from 0 to 100"}},
		{"disk warning above critical", "disk", map[string]any{"warning": 95, "critical": 90}, api.FieldErrors{"args.warning": "must not be above critical"}},
		{"unknown arg", "memory", map[string]any{"warn": 3}, api.FieldErrors{"args.warn": "unknown argument (known: critical, warning)"}},
		{"load triple", "load", map[string]any{"warning": "1,2"}, api.FieldErrors{"args.warning": `must be three numbers "1m,5m,15m" (per core) or one`}},
		{"process needs a name", "process", nil, api.FieldErrors{"args.name": "is required (or pattern)"}},
		{"process bad range", "process", map[string]any{"name": "x", "warning": "5:1"}, api.FieldErrors{"args.warning": `range "5:1": start is above end`}},
		{"process bad regexp", "process", map[string]any{"pattern": "("}, api.FieldErrors{"args.pattern": "not a regular expression: error parsing regexp: missing closing ): `(`", "args.name": "is required (or pattern)"}},
		{"service name shell-safe", "service", map[string]any{"name": "x; rm -rf /"}, api.FieldErrors{"args.name": "must be a unit or service name (letters, digits, @ . _ : -)"}},
		{"tcp port", "tcp", map[string]any{"port": 70000}, api.FieldErrors{"args.port": "must be a port number from 1 to 65535"}},
		{"tcp port string", "tcp", map[string]any{"port": "5432"}, nil},
		{"http url", "http", map[string]any{"url": "ftp://x"}, api.FieldErrors{"args.url": "must start with http:// or https://"}},
		{"http url required", "http", nil, api.FieldErrors{"args.url": "is required"}},
		{"http status", "http", map[string]any{"url": "http://x", "status": "299-200"}, api.FieldErrors{"args.status": `must be a status code or a range like "200-299"`}},
		{"http insecure", "http", map[string]any{"url": "http://x", "insecure": "yes"}, api.FieldErrors{"args.insecure": "must be true or false"}},
		{"tls needs a target", "tls_cert", nil, api.FieldErrors{"args.host": "is required (or file)"}},
		{"tls host port", "tls_cert", map[string]any{"host": "example.com"}, api.FieldErrors{"args.host": "must be host:port"}},
		{"file_age duration", "file_age", map[string]any{"path": "/x", "warning": "soon"}, api.FieldErrors{"args.warning": `must be a duration like "90s" or a number of seconds`}},
		{"unknown builtin", "ping", nil, api.FieldErrors{"builtin": `unknown builtin "ping" (one of cpu, disk, file_age, http, load, memory, process, service, swap, tcp, tls_cert)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateArgs(tt.builtin, tt.args); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ValidateArgs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec api.CheckSpec
		want api.FieldErrors
	}{
		{"cron ok", api.CheckSpec{Name: "c", Command: "true", Cron: "*/5 * * * *"}, nil},
		{"cron descriptor", api.CheckSpec{Name: "c", Command: "true", Cron: "@hourly"}, nil},
		{"cron bad", api.CheckSpec{Name: "c", Command: "true", Cron: "* * *"}, api.FieldErrors{"cron": "expected exactly 5 fields, found 3: [* * *]"}},
		{"builtin args", api.CheckSpec{Name: "d", Builtin: "disk", Args: map[string]any{"warning": "x"}}, api.FieldErrors{"args.warning": "must be a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Validate(tt.spec); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRange(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		in     string
		alerts []float64
		quiet  []float64
	}{
		{"10", []float64{-1, 10.5, 11}, []float64{0, 5, 10}},
		{"10:", []float64{-1, 9.99}, []float64{10, 1e9}},
		{"~:10", []float64{10.1, inf}, []float64{-1e9, 10}},
		{"10:20", []float64{9, 21}, []float64{10, 15, 20}},
		{"@10:20", []float64{10, 15, 20}, []float64{9, 21}},
		{":5", []float64{-1, 6}, []float64{0, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tt.alerts {
				if !r.Alerts(v) {
					t.Errorf("%g does not alert", v)
				}
			}
			for _, v := range tt.quiet {
				if r.Alerts(v) {
					t.Errorf("%g alerts", v)
				}
			}
		})
	}
	for _, bad := range []string{"", "x", "5:1", "1:y", "@", "NaN", "1:nan"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) gave no error", bad)
		}
	}
	if (Range{}).Alerts(1e9) {
		t.Error("the zero Range alerts")
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "10:20", "@10:20", ":5", "@", "1e3:2e3"} {
		f.Add(s, 5.0)
	}
	f.Fuzz(func(t *testing.T, s string, v float64) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		if r.Start > r.End {
			t.Fatalf("%q: start %v above end %v", s, r.Start, r.End)
		}
		if v == v && v >= r.Start && v <= r.End && r.Alerts(v) != r.Inside {
			t.Fatalf("%q: %v inside the range, alerts %v", s, v, r.Alerts(v))
		}
	})
}
