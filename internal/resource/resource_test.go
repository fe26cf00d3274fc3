package resource_test

import (
	"encoding/json"
	"strings"
	"testing"

	"corral/internal/resource"
)

func TestDecode(t *testing.T) {
	reg := resource.Builtin()
	tests := []struct {
		name      string
		body      string
		wantField string // "" = valid
		wantMsg   string
	}{
		{"valid secret", `{"kind":"Secret","name":"db","value":"x"}`, "", ""},
		{"no kind", `{"name":"db"}`, "kind", "is required"},
		{"unknown kind", `{"kind":"Nope","name":"a"}`, "kind", "unknown kind"},
		{"wrong case kind", `{"kind":"secret","name":"a","value":"x"}`, "kind", `did you mean "Secret"`},
		{"no name", `{"kind":"Secret","value":"x"}`, "name", "is required"},
		{"bad name", `{"kind":"Secret","name":"-bad","value":"x"}`, "name", "must be"},
		{"empty value", `{"kind":"Secret","name":"db","value":""}`, "value", "is required"},
		{"unknown field", `{"kind":"Secret","name":"db","value":"x","valeu":"y"}`, "valeu", "unknown field"},
		{"wrong type", `{"kind":"Secret","name":"db","value":5}`, "value", "must be a string"},
		{"file field reaches server", `{"kind":"Secret","name":"db","value_file":"/x"}`, "value_file", "read by the client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body map[string]any
			if err := json.Unmarshal([]byte(tt.body), &body); err != nil {
				t.Fatal(err)
			}
			d, fe := reg.Decode(body)
			if tt.wantField == "" {
				if len(fe) > 0 {
					t.Fatalf("unexpected errors %v", fe)
				}
				if d.Name != "db" || d.Kind.Name != "Secret" || !strings.Contains(string(d.Canonical), `"value":"x"`) {
					t.Fatalf("decoded %+v", d)
				}
				return
			}
			if msg, ok := fe[tt.wantField]; !ok || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("errors %v, want %s: ...%s...", fe, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	k := resource.Builtin()["Secret"]
	out, err := k.Redacted(json.RawMessage(`{"name":"db","value":"hunter2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "(redacted)") {
		t.Fatalf("redacted = %s", out)
	}
}

func TestLookup(t *testing.T) {
	reg := resource.Builtin()
	for _, n := range []string{"Secret", "secret", "secrets", "SECRETS"} {
		if k, ok := reg.Lookup(n); !ok || k.Name != "Secret" {
			t.Errorf("Lookup(%q) = %v %v", n, k.Name, ok)
		}
	}
	if _, ok := reg.Lookup("Deploymentz"); ok {
		t.Error("Lookup(Deploymentz) found a kind that is not registered")
	}
	if k, ok := reg.Lookup("apps"); !ok || k.Name != "App" {
		t.Errorf("Lookup(apps) = %v %v", k.Name, ok)
	}
}

func TestDecodeNormalizesAppID(t *testing.T) {
	reg := resource.Builtin()
	d, fe := reg.Decode(map[string]any{"kind": "App", "id": "shop/api", "cmd": "sleep 100"})
	if len(fe) > 0 {
		t.Fatal(fe)
	}
	if d.Name != "/shop/api" || !strings.Contains(string(d.Canonical), `"id":"/shop/api"`) || !d.Kind.Versioned {
		t.Fatalf("decoded %q %s versioned=%v", d.Name, d.Canonical, d.Kind.Versioned)
	}
	_, fe = reg.Decode(map[string]any{"kind": "App", "id": "/shop/scale", "cmd": "x"})
	if !strings.Contains(fe["id"], "action") {
		t.Fatalf("id ending in an action word: %v", fe)
	}
}

// FuzzDecode feeds arbitrary JSON documents to the decoder: it must never
// panic, and whatever it accepts must decode again to the same canonical form.
func FuzzDecode(f *testing.F) {
	f.Add(`{"kind":"Secret","name":"db","value":"x"}`)
	f.Add(`{"kind":"Secret","name":"a","value":{"x":1}}`)
	f.Add(`{"kind":5}`)
	f.Add(`{"kind":"Secret","name":"db","value":"x","value_file":"y"}`)
	reg := resource.Builtin()
	f.Fuzz(func(t *testing.T, s string) {
		var body map[string]any
		if json.Unmarshal([]byte(s), &body) != nil {
			return
		}
		d, fe := reg.Decode(body)
		if len(fe) > 0 {
			return
		}
		var again map[string]any
		if err := json.Unmarshal(d.Canonical, &again); err != nil {
			t.Fatal(err)
		}
		again["kind"] = d.Kind.Name
		d2, fe2 := reg.Decode(again)
		if len(fe2) > 0 || string(d2.Canonical) != string(d.Canonical) {
			t.Fatalf("canonical form does not round-trip: %s vs %s (%v)", d.Canonical, d2.Canonical, fe2)
		}
	})
}

func TestDecodeNamesNodeRolesAfterSelector(t *testing.T) {
	reg := resource.Builtin()
	tests := []struct {
		doc  map[string]any
		name string
		err  string
	}{
		{map[string]any{"kind": "NodeRoles", "selector": map[string]any{"role": "web"}, "roles": []any{"base", "web"}}, "role.web", ""},
		{map[string]any{"kind": "NodeRoles", "selector": map[string]any{"role": "web", "env": "prod"}, "roles": []any{"base"}}, "env.prod_role.web", ""},
		{map[string]any{"kind": "NodeRoles", "node": "web-1", "roles": []any{"base"}}, "node.web-1", ""},
		{map[string]any{"kind": "NodeRoles", "name": "mine", "node": "web-1", "roles": []any{"base"}}, "mine", ""},
		{map[string]any{"kind": "NodeRoles", "roles": []any{"base"}}, "", "selector"},
		{map[string]any{"kind": "NodeRoles", "node": "web-1", "roles": []any{}}, "", "roles"},
	}
	for _, tt := range tests {
		d, fe := reg.Decode(tt.doc)
		if tt.err != "" {
			if _, ok := fe[tt.err]; !ok {
				t.Errorf("%v: errors %v, want one for %s", tt.doc, fe, tt.err)
			}
			continue
		}
		if len(fe) > 0 || d.Name != tt.name {
			t.Errorf("%v: name %q errors %v, want %q", tt.doc, d.Name, fe, tt.name)
		}
	}
}
