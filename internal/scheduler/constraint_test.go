package scheduler

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConstraints(t *testing.T) {
	tests := []struct {
		name    string
		raw     [][]string
		want    []Constraint
		wantErr string
	}{
		{name: "all operators", raw: [][]string{
			{"hostname", "UNIQUE"}, {"rack", "CLUSTER", "r1"}, {"rack", "CLUSTER"}, {"zone", "GROUP_BY"},
			{"zone", "GROUP_BY", "3"}, {"role", "LIKE", "web|api"}, {"role", "UNLIKE", "batch"},
			{"rack", "MAX_PER", "2"}, {"role", "IS", "web"},
		}, want: []Constraint{
			{"hostname", Unique, ""}, {"rack", Cluster, "r1"}, {"rack", Cluster, ""}, {"zone", GroupBy, ""},
			{"zone", GroupBy, "3"}, {"role", Like, "web|api"}, {"role", Unlike, "batch"},
			{"rack", MaxPer, "2"}, {"role", Is, "web"},
		}},
		{name: "lower-case operator", raw: [][]string{{"hostname", "unique"}}, want: []Constraint{{"hostname", Unique, ""}}},
		{name: "LIKE without regex", raw: [][]string{{"hostname", "UNIQUE"}, {"role", "LIKE"}}, wantErr: "constraints[1]: LIKE needs a regular expression"},
		{name: "UNLIKE without regex", raw: [][]string{{"role", "UNLIKE", ""}}, wantErr: "constraints[0]: UNLIKE needs a regular expression"},
		{name: "bad regex", raw: [][]string{{"role", "LIKE", "web("}}, wantErr: `constraints[0]: LIKE regular expression "web(": error parsing regexp`},
		{name: "unknown operator", raw: [][]string{{"rack", "NEAR", "x"}}, wantErr: `constraints[0]: unknown operator "NEAR"`},
		{name: "MAX_PER without value", raw: [][]string{{"rack", "MAX_PER"}}, wantErr: "constraints[0]: MAX_PER needs a positive integer"},
		{name: "MAX_PER not integer", raw: [][]string{{"rack", "MAX_PER", "two"}}, wantErr: `constraints[0]: MAX_PER needs a positive integer, got "two"`},
		{name: "MAX_PER zero", raw: [][]string{{"rack", "MAX_PER", "0"}}, wantErr: `constraints[0]: MAX_PER needs a positive integer, got "0"`},
		{name: "GROUP_BY not integer", raw: [][]string{{"rack", "GROUP_BY", "1.5"}}, wantErr: `constraints[0]: GROUP_BY needs a positive integer, got "1.5"`},
		{name: "IS without value", raw: [][]string{{"role", "IS"}}, wantErr: "constraints[0]: IS needs a value"},
		{name: "UNIQUE with value", raw: [][]string{{"hostname", "UNIQUE", "x"}}, wantErr: `constraints[0]: UNIQUE takes no value, got "x"`},
		{name: "empty field", raw: [][]string{{"", "UNIQUE"}}, wantErr: "constraints[0]: needs a field"},
		{name: "one part", raw: [][]string{{"hostname"}}, wantErr: "constraints[0]: want [field, operator] or [field, operator, value], got 1 parts"},
		{name: "every error reported", raw: [][]string{{"a", "LIKE"}, {"b", "IS"}}, wantErr: "constraints[0]: LIKE needs a regular expression\nconstraints[1]: IS needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConstraints(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConstraintString(t *testing.T) {
	tests := []struct {
		c    Constraint
		want string
	}{
		{Constraint{"hostname", Unique, ""}, "hostname UNIQUE"},
		{Constraint{"role", Like, "web|api"}, `role LIKE "web|api"`},
		{Constraint{"rack", MaxPer, "2"}, "rack MAX_PER 2"},
		{Constraint{"rack", GroupBy, "3"}, "rack GROUP_BY 3"},
		{Constraint{"rack", Cluster, "r1"}, `rack CLUSTER "r1"`},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestAppSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    AppSpec
		wantErr string
	}{
		{name: "ok", spec: AppSpec{ID: "web", Instances: 2, Resources: Resources{CPUs: 0.5, MemMiB: 128}, Ports: []PortRequest{{Name: "http"}, {Port: 8080}}}},
		{name: "no id", spec: AppSpec{}, wantErr: "id: required"},
		{name: "negative mem", spec: AppSpec{ID: "a", Resources: Resources{MemMiB: -1}}, wantErr: "mem: -1 is negative"},
		{name: "duplicate fixed port", spec: AppSpec{ID: "a", Ports: []PortRequest{{Port: 80}, {Port: 80}}}, wantErr: "ports[1]: port 80 already requested by ports[0]"},
		{name: "port out of range", spec: AppSpec{ID: "a", Ports: []PortRequest{{Port: 70000}}}, wantErr: "ports[0]: port 70000 is outside 0-65535"},
		{name: "bad constraint", spec: AppSpec{ID: "a", Constraints: []Constraint{{"role", Like, ""}}}, wantErr: "constraints[0]: LIKE needs a regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if _, perr := Place(&State{}, tt.spec, 1); perr == nil {
				t.Errorf("Place accepted an invalid spec")
			}
		})
	}
}
