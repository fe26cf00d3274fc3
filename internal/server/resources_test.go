package server

import (
	"encoding/json"
	"strings"
	"testing"

	"corral/internal/resource"
)

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want string
	}{
		{"same", []string{"x", "y"}, []string{"x", "y"}, "  x\n  y\n"},
		{"added", nil, []string{"x"}, "+ x\n"},
		{"removed", []string{"x"}, nil, "- x\n"},
		{"changed middle", []string{"a", "b", "c"}, []string{"a", "B", "c"}, "  a\n- b\n+ B\n  c\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lineDiff(tt.a, tt.b); got != tt.want {
				t.Fatalf("lineDiff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSpecDiffRedactsSecrets(t *testing.T) {
	k := resource.Builtin()["Secret"]
	old := json.RawMessage(`{"name":"db","value":"hunter2"}`)
	cur := json.RawMessage(`{"name":"db","value":"hunter3"}`)
	d, err := specDiff(k, old, cur)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d, "hunter") {
		t.Fatalf("diff shows a secret value:\n%s", d)
	}
	if !strings.Contains(d, "value changed (redacted)") {
		t.Fatalf("diff does not say the value changed:\n%s", d)
	}
	created, err := specDiff(k, nil, cur)
	if err != nil || strings.Contains(created, "hunter") || !strings.Contains(created, "+ ") {
		t.Fatalf("diff of a new secret = %q, %v", created, err)
	}
}
