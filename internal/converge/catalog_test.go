package converge

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"corral/internal/api"
)

// role builds a RoleSpec from resources written as JSON.
func role(t testing.TB, name, resources string, attrs map[string]any, files map[string]string) api.RoleSpec {
	t.Helper()
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(resources), &list); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	return api.RoleSpec{Name: name, Resources: list, Attributes: attrs, Files: files}
}

// catalogFixture is a small cluster: three nodes, roles base, web, mon and
// extra, an environment and NodeRoles by selector and per node.
func catalogFixture(t testing.TB) CatalogInput {
	return CatalogInput{
		Roles: map[string]api.RoleSpec{
			"base": role(t, "base", `[{"file": {"path": "/etc/motd", "content": "hi\n"}}, {"package": {"name": "curl"}}]`,
				map[string]any{"ntp": "pool.ntp.org", "level": "info", "nested": map[string]any{"x": 1.0, "y": 1.0}}, nil),
			"web": role(t, "web", `[{"package": {"name": "nginx"}},
				{"template": {"path": "/etc/nginx/up.conf", "source": "up.tmpl"}},
				{"file": {"path": "/etc/web.txt", "source": "web.txt"}}]`,
				map[string]any{"level": "debug", "port": 80.0},
				map[string]string{"up.tmpl": "{{ range nodes \"role=api\" }}server {{ .PrivateIP }};{{ end }}\npw={{ secret \"db\" }}\n",
					"web.txt": "literal {{ secret \"not-rendered\" }}\n", "unused.txt": "x"}),
			"mon":   role(t, "mon", `[{"hosts": {}}]`, nil, nil),
			"extra": role(t, "extra", `[{"exec": {"command": "echo {{ secret \"token\" }}", "name": "e"}}]`, map[string]any{"port": 8080.0}, nil),
		},
		Environments: map[string]api.EnvironmentSpec{
			"prod": {Name: "prod", Attributes: map[string]any{"level": "warn", "nested": map[string]any{"y": 2.0}}},
		},
		NodeRoles: []api.NodeRolesSpec{
			{Name: "b-web", Selector: map[string]string{"role": "web"}, Roles: []string{"web", "base"}, Environment: "prod"},
			{Name: "a-zone", Selector: map[string]string{"zone": "1"}, Roles: []string{"base", "mon"}},
			{Node: "n1", Roles: []string{"extra", "web"}, Attributes: map[string]any{"nested": map[string]any{"z": 3.0}}},
		},
		Secrets: map[string]int64{"db": 3, "token": 7, "unused": 1},
		Nodes: []NodeInfo{
			{Name: "n2", Hostname: "h2", PrivateIP: "10.0.0.2", Labels: map[string]string{"role": "web"}},
			{Name: "n1", Hostname: "h1", PrivateIP: "10.0.0.1", Labels: map[string]string{"role": "web", "zone": "1"}},
			{Name: "n3", Hostname: "h3", PrivateIP: "10.0.0.3", Labels: map[string]string{"role": "db"}},
		},
	}
}

func resourceIDs(t *testing.T, cat api.Catalog) []string {
	t.Helper()
	var out []string
	for _, r := range cat.Resources {
		for typ, props := range r.Resource {
			var f map[string]any
			json.Unmarshal(props, &f)
			name, _ := f["path"].(string)
			if n, ok := f["name"].(string); ok && name == "" {
				name = n
			}
			out = append(out, r.Role+":"+typ+"["+name+"]")
		}
	}
	return out
}

func TestBuildCatalogRunList(t *testing.T) {
	tests := []struct {
		name      string
		node      string
		ok        bool
		roles     []string
		matched   []string
		env       string
		resources []string
		attrs     map[string]any
		secrets   map[string]int64
		nodes     []string // names in Nodes; nil when absent
		errs      []string // substrings, in order
	}{
		{
			name: "selectors in name order, per-node last", node: "n1", ok: true,
			roles:   []string{"base", "mon", "web", "extra"},
			matched: []string{"a-zone", "b-web", "node.n1"}, env: "prod",
			resources: []string{"base:file[/etc/motd]", "base:package[curl]", "mon:hosts[]", "web:package[nginx]",
				"web:template[/etc/nginx/up.conf]", "web:file[/etc/web.txt]", "extra:exec[e]"},
			// role base < web (later role wins) < extra < environment prod < node
			attrs: map[string]any{"ntp": "pool.ntp.org", "level": "warn", "port": 8080.0,
				"nested": map[string]any{"x": 1.0, "y": 2.0, "z": 3.0}},
			secrets: map[string]int64{"db": 3, "token": 7},
			nodes:   []string{"n1", "n2", "n3"},
		},
		{
			name: "one selector", node: "n2", ok: true,
			roles: []string{"web", "base"}, matched: []string{"b-web"}, env: "prod",
			resources: []string{"web:package[nginx]", "web:template[/etc/nginx/up.conf]", "web:file[/etc/web.txt]",
				"base:file[/etc/motd]", "base:package[curl]"},
			// web then base: base's level comes after web's, then prod's wins.
			attrs:   map[string]any{"ntp": "pool.ntp.org", "level": "warn", "port": 80.0, "nested": map[string]any{"x": 1.0, "y": 2.0}},
			secrets: map[string]int64{"db": 3},
			nodes:   []string{"n1", "n2", "n3"}, // the template calls nodes
		},
		{
			name: "no roles: no catalog", node: "n3", ok: false,
			roles: []string{}, matched: []string{}, attrs: map[string]any{},
		},
		{
			name: "unknown node", node: "n9", ok: false,
			roles: []string{}, matched: []string{}, attrs: map[string]any{},
			errs: []string{`node "n9" is not registered`},
		},
	}
	in := catalogFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, view, ok := BuildCatalog(in, tt.node)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (view %+v)", ok, tt.ok, view)
			}
			if !slices.Equal(view.Roles, tt.roles) || !slices.Equal(view.MatchedBy, tt.matched) || view.Environment != tt.env {
				t.Errorf("view roles %v matched %v env %q; want %v %v %q", view.Roles, view.MatchedBy, view.Environment, tt.roles, tt.matched, tt.env)
			}
			if !reflect.DeepEqual(view.Attributes, tt.attrs) {
				t.Errorf("attributes = %v, want %v", view.Attributes, tt.attrs)
			}
			if len(view.Errors) != len(tt.errs) {
				t.Errorf("errors = %q, want %q", view.Errors, tt.errs)
			}
			for i := range min(len(view.Errors), len(tt.errs)) {
				if !strings.Contains(view.Errors[i], tt.errs[i]) {
					t.Errorf("errors[%d] = %q, want it to say %q", i, view.Errors[i], tt.errs[i])
				}
			}
			if !ok {
				if cat.Hash != "" || view.CatalogHash != "" {
					t.Errorf("no catalog, but hash %q / %q", cat.Hash, view.CatalogHash)
				}
				return
			}
			if !slices.Equal(cat.Roles, tt.roles) || cat.Node != tt.node || cat.Environment != tt.env {
				t.Errorf("catalog roles %v node %q env %q", cat.Roles, cat.Node, cat.Environment)
			}
			if got := resourceIDs(t, cat); !slices.Equal(got, tt.resources) {
				t.Errorf("resources = %v\nwant %v", got, tt.resources)
			}
			if view.Resources != len(tt.resources) {
				t.Errorf("view.Resources = %d, want %d", view.Resources, len(tt.resources))
			}
			if !reflect.DeepEqual(cat.Attributes, tt.attrs) {
				t.Errorf("catalog attributes = %v, want %v", cat.Attributes, tt.attrs)
			}
			if !reflect.DeepEqual(cat.Secrets, tt.secrets) {
				t.Errorf("secrets = %v, want %v", cat.Secrets, tt.secrets)
			}
			// The node list is shared (Catalogs.Nodes); a catalog that
			// needs it names it by digest.
			var nodes []string
			if cat.NodesDigest != "" {
				shared := NewCatalogs(in).Nodes()
				if shared.Digest != cat.NodesDigest {
					t.Errorf("catalog names nodes %s, the shared list is %s", cat.NodesDigest, shared.Digest)
				}
				for _, n := range shared.Nodes {
					nodes = append(nodes, n.Name)
				}
			}
			if !slices.Equal(nodes, tt.nodes) {
				t.Errorf("nodes = %v, want %v", nodes, tt.nodes)
			}
			if view.CatalogHash != cat.Hash || len(cat.Hash) != 64 {
				t.Errorf("hash %q, view %q", cat.Hash, view.CatalogHash)
			}
		})
	}
}

// TestBuildCatalogSources: sources are renamed "<role>/<name>" in the
// resources and Files hold exactly the files used.
func TestBuildCatalogSources(t *testing.T) {
	in := catalogFixture(t)
	cat, _, _ := BuildCatalog(in, "n2")
	want := map[string]string{
		"web/up.tmpl": in.Roles["web"].Files["up.tmpl"],
		"web/web.txt": in.Roles["web"].Files["web.txt"],
	}
	if !reflect.DeepEqual(cat.Files, want) {
		t.Errorf("files = %v, want %v", cat.Files, want)
	}
	var sources []string
	for _, r := range cat.Resources {
		for _, props := range r.Resource {
			var f map[string]any
			json.Unmarshal(props, &f)
			if s, ok := f["source"].(string); ok {
				sources = append(sources, s)
			}
		}
	}
	if !slices.Equal(sources, []string{"web/up.tmpl", "web/web.txt"}) {
		t.Errorf("sources = %v", sources)
	}
	// The catalog's resources decode, as the agent will decode them.
	var list []map[string]json.RawMessage
	for _, r := range cat.Resources {
		list = append(list, r.Resource)
	}
	if _, err := DecodeResources(list); err != nil {
		t.Errorf("catalog resources do not decode: %v", err)
	}
	// The input was not changed.
	var f map[string]any
	json.Unmarshal(in.Roles["web"].Resources[1]["template"], &f)
	if f["source"] != "up.tmpl" {
		t.Errorf("the role's own resource changed: %v", f)
	}
}

func TestBuildCatalogErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(in *CatalogInput)
		roles []string
		errs  []string
	}{
		{"missing role, rest built", func(in *CatalogInput) {
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"gone", "base"}}}
		}, []string{"base"}, []string{`role "gone" does not exist`}},
		{"bad role, rest built", func(in *CatalogInput) {
			in.Roles["bad"] = role(t, "bad", `[{"file": {"path": "/x", "mode": "rw"}}]`, nil, nil)
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"bad", "base"}}}
		}, []string{"base"}, []string{`role "bad": resources[0].file.mode`}},
		{"missing environment", func(in *CatalogInput) {
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"base"}, Environment: "staging"}}
		}, []string{"base"}, []string{`environment "staging" does not exist`}},
		{"missing secret", func(in *CatalogInput) {
			delete(in.Secrets, "db")
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"web"}}}
		}, []string{"web"}, []string{`secret "db" is used but does not exist`}},
		{"same resource in two roles", func(in *CatalogInput) {
			in.Roles["other"] = role(t, "other", `[{"package": {"name": "curl"}}, {"file": {"path": "/etc/motd", "content": "other\n"}}]`, nil, nil)
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"base", "other"}}}
		}, []string{"base", "other"}, []string{`role "other": file[/etc/motd] is also in role "base"`}},
		{"all roles missing: no catalog", func(in *CatalogInput) {
			in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n2", Roles: []string{"gone"}}}
		}, []string{}, []string{`role "gone" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := catalogFixture(t)
			tt.edit(&in)
			cat, view, ok := BuildCatalog(in, "n2")
			if !slices.Equal(view.Roles, tt.roles) || ok != (len(tt.roles) > 0) {
				t.Errorf("roles = %v (ok %v), want %v", view.Roles, ok, tt.roles)
			}
			if len(view.Errors) != len(tt.errs) {
				t.Fatalf("errors = %q, want %q", view.Errors, tt.errs)
			}
			for i := range tt.errs {
				if !strings.Contains(view.Errors[i], tt.errs[i]) {
					t.Errorf("errors[%d] = %q, want it to say %q", i, view.Errors[i], tt.errs[i])
				}
			}
			if tt.name == "same resource in two roles" {
				// curl is identical: once, from base; motd differs: base's.
				if got := resourceIDs(t, cat); !slices.Equal(got, []string{"base:file[/etc/motd]", "base:package[curl]"}) {
					t.Errorf("resources = %v", got)
				}
			}
		})
	}
}

// TestCatalogHash: the hash does not depend on map order, and every input
// that goes into the catalog changes it.
func TestCatalogHash(t *testing.T) {
	base, _, _ := BuildCatalog(catalogFixture(t), "n1")
	for range 20 { // map iteration order differs from build to build
		in := catalogFixture(t)
		in.Nodes = []NodeInfo{in.Nodes[2], in.Nodes[0], in.Nodes[1]}
		in.NodeRoles = []api.NodeRolesSpec{in.NodeRoles[2], in.NodeRoles[1], in.NodeRoles[0]}
		if cat, _, _ := BuildCatalog(in, "n1"); cat.Hash != base.Hash {
			t.Fatalf("hash changed between equal inputs: %s vs %s", cat.Hash, base.Hash)
		}
	}
	if got := CatalogHash(base); got != base.Hash {
		t.Errorf("CatalogHash = %s, Build said %s", got, base.Hash)
	}
	tests := []struct {
		name    string
		edit    func(in *CatalogInput)
		changes bool
	}{
		{"role attribute", func(in *CatalogInput) { in.Roles["base"].Attributes["ntp"] = "x" }, true},
		{"environment attribute", func(in *CatalogInput) { in.Environments["prod"].Attributes["level"] = "error" }, true},
		{"node attribute", func(in *CatalogInput) { in.NodeRoles[2].Attributes = map[string]any{"k": "v"} }, true},
		{"resource", func(in *CatalogInput) {
			in.Roles["base"] = role(t, "base", `[{"file": {"path": "/etc/motd", "content": "bye\n"}}]`, in.Roles["base"].Attributes, nil)
		}, true},
		{"file content", func(in *CatalogInput) { in.Roles["web"].Files["up.tmpl"] += "#\n" }, true},
		{"unused file", func(in *CatalogInput) { in.Roles["web"].Files["unused.txt"] = "y" }, false},
		{"secret version", func(in *CatalogInput) { in.Secrets["db"] = 4 }, true},
		{"unused secret version", func(in *CatalogInput) { in.Secrets["unused"] = 2 }, false},
		{"other node's IP", func(in *CatalogInput) { in.Nodes[2].PrivateIP = "10.0.0.9" }, true},
		{"node joins", func(in *CatalogInput) { in.Nodes = append(in.Nodes, NodeInfo{Name: "n4"}) }, true},
		{"run list order", func(in *CatalogInput) { in.NodeRoles[2].Roles = []string{"web", "extra"} }, false}, // web is already in
		{"role added", func(in *CatalogInput) { in.NodeRoles[2].Roles = []string{"extra", "web", "gone"} }, false},
		{"environment", func(in *CatalogInput) { in.NodeRoles[0].Environment = "" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := catalogFixture(t)
			tt.edit(&in)
			cat, _, _ := BuildCatalog(in, "n1")
			if changed := cat.Hash != base.Hash; changed != tt.changes {
				t.Errorf("hash changed = %v, want %v", changed, tt.changes)
			}
		})
	}
	// Without a resource needing nodes, the nodes do not matter.
	in := catalogFixture(t)
	in.NodeRoles = []api.NodeRolesSpec{{Name: "x", Node: "n3", Roles: []string{"base"}}}
	a, _, _ := BuildCatalog(in, "n3")
	in.Nodes[0].PrivateIP = "10.9.9.9"
	in.Nodes = append(in.Nodes, NodeInfo{Name: "n4"})
	b, _, _ := BuildCatalog(in, "n3")
	if a.Hash != b.Hash || a.NodesDigest != "" {
		t.Errorf("a catalog without hosts or nodes changed with the nodes (%q)", a.NodesDigest)
	}
}

func TestValidateRole(t *testing.T) {
	tests := []struct {
		name   string
		res    string
		files  map[string]string
		fields map[string]string // field → substring of its message
	}{
		{"good", `[{"template": {"path": "/a", "source": "a.tmpl"}}, {"file": {"path": "/b", "source": "b"}},
			{"template": {"path": "/c", "content": "{{ range nodes \"x\" }}{{ .Name | upper }}{{ end }}{{ secret \"s\" | trim }}{{ join \",\" (split \",\" \"a\") }}{{ json 1 }}{{ default 1 2 }}{{ replace \"a\" \"b\" \"c\" | lower }}"}}]`,
			map[string]string{"a.tmpl": "{{ .Attributes.x }}", "b": "{{ not a template"}, nil},
		{"bad mode", `[{"file": {"path": "/x"}}, {"file": {"path": "/y", "mode": "rw"}}]`, nil,
			map[string]string{"resources[1].file.mode": "octal"}},
		{"missing source", `[{"template": {"path": "/a", "source": "nope.tmpl"}}]`, map[string]string{"a.tmpl": ""},
			map[string]string{"resources[0].template.source": `"nope.tmpl" is not among the role's files (have: a.tmpl)`}},
		{"template parse error with line", `[{"file": {"path": "/x"}}, {"template": {"path": "/a", "source": "a.tmpl"}}]`,
			map[string]string{"a.tmpl": "line 1\nline 2\n{{ end }}\nline 4\n"},
			map[string]string{"resources[1].template.source": "a.tmpl:3"}},
		{"inline template error", `[{"template": {"path": "/a", "content": "ok\n{{ nosuchfunc 1 }}"}}]`, nil,
			map[string]string{"resources[0].template.content": `/a:2: function "nosuchfunc" not defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := ValidateRole(role(t, "r", tt.res, nil, tt.files))
			if len(fe) != len(tt.fields) {
				t.Fatalf("errors = %v, want fields %v", fe, tt.fields)
			}
			for f, want := range tt.fields {
				if !strings.Contains(fe[f], want) {
					t.Errorf("%s = %q, want it to say %q (all: %v)", f, fe[f], want, fe)
				}
			}
		})
	}
}

// TestTemplateStubsMatchRender: every function ValidateRole lets a
// template call is one Env.Render gives it.
func TestTemplateStubsMatchRender(t *testing.T) {
	env := Env{Nodes: NodesFrom(nil), Secret: func(string) (string, error) { return "v", nil }}
	for name := range templateStubs() {
		text := "{{ if false }}{{ " + name + " }}{{ end }}"
		if _, _, err := env.Render("t", text, nil); err != nil {
			t.Errorf("Render does not know %s: %v", name, err)
		}
	}
}

// BenchmarkCatalogs builds the catalogs of 2,000 nodes holding a role of
// 20 files and a hosts resource (every catalog lists every node).
func BenchmarkCatalogs(b *testing.B) {
	var res []string
	for i := range 20 {
		res = append(res, `{"file": {"path": "/etc/f`+strings.Repeat("x", i)+`", "content": "hello\n"}}`)
	}
	res = append(res, `{"hosts": {}}`)
	in := CatalogInput{
		Roles:     map[string]api.RoleSpec{"base": role(b, "base", "["+strings.Join(res, ",")+"]", map[string]any{"a": 1.0}, nil)},
		NodeRoles: []api.NodeRolesSpec{{Name: "all", Selector: map[string]string{"role": "web"}, Roles: []string{"base"}}},
	}
	for i := range 2000 {
		in.Nodes = append(in.Nodes, NodeInfo{Name: fmt.Sprintf("node-%04d", i), Hostname: "h", PrivateIP: "10.0.0.1",
			Labels: map[string]string{"role": "web"}})
	}
	b.ResetTimer()
	for range b.N {
		c := NewCatalogs(in)
		for _, n := range in.Nodes {
			if _, _, ok := c.Build(n.Name); !ok {
				b.Fatal("no catalog")
			}
		}
	}
}
