package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleViewer, RoleViewer, true},
		{RoleViewer, RoleOperator, false},
		{RoleOperator, RoleViewer, true},
		{RoleOperator, RoleAdmin, false},
		{RoleAdmin, RoleOperator, true},
		{RoleAgent, RoleViewer, false},
		{RoleAgent, RoleAgent, true},
		{RoleAdmin, RoleAgent, true},
		{Role("root"), RoleViewer, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%s.Allows(%s) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in          string
		k, v        string
		remove, bad bool
	}{
		{in: "role=web", k: "role", v: "web"},
		{in: "empty=", k: "empty", v: ""},
		{in: "a.b/c=x=y", k: "a.b/c", v: "x=y"},
		{in: "role-", k: "role", remove: true},
		{in: "=x", bad: true},
		{in: "novalue", bad: true},
		{in: "bad key=x", bad: true},
	}
	for _, tt := range tests {
		k, v, rm, err := ParseLabel(tt.in)
		if (err != nil) != tt.bad || k != tt.k || v != tt.v || rm != tt.remove {
			t.Errorf("ParseLabel(%q) = %q %q %v %v", tt.in, k, v, rm, err)
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `"2d"`: 48 * time.Hour, `30`: 30 * time.Second} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("accepted a bad duration")
	}
	b, _ := json.Marshal(Duration(time.Minute))
	if string(b) != `"1m0s"` {
		t.Errorf("Marshal = %s", b)
	}
}

func TestFieldErrors(t *testing.T) {
	var fe FieldErrors
	if fe.Err("x") != nil {
		t.Fatal("no fields must be no error")
	}
	fe.Add("name", "is required")
	fe.Add("name", "second message loses")
	err := fe.Err("invalid")
	if StatusOf(err) != 400 || AsFields(err)["name"] != "is required" {
		t.Fatalf("err = %v", err)
	}
}
