package manifest

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"corral/internal/resource"
)

// TestLoadRoleSources loads a chef-repo-like folder: roles next to their
// templates, and templates/ and files/ folders.
func TestLoadRoleSources(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "roles")
	write(t, filepath.Join(repo, "base.yaml"), `kind: Role
name: base
resources:
  - file: {path: /etc/motd, source: motd}
  - file: {path: /etc/issue, content: "hi\n"}
  - package: {name: curl, source: /tmp/curl.deb}
  - template: {path: /etc/ntp.conf, source: ntp.conf.tmpl}
  - template: {path: /etc/ntp2.conf, source: ntp.conf.tmpl}
`)
	write(t, filepath.Join(repo, "web.yaml"), `kind: Role
name: web
files:
  upstream.conf.tmpl: "kept as given\n"
resources:
  - template: {path: /etc/nginx/conf.d/upstream.conf, source: upstream.conf.tmpl}
  - template: {path: /etc/nginx/nginx.conf, source: nginx/nginx.conf.tmpl}
  - file: {path: /etc/nginx/mime.types, source: mime.types}
---
kind: Environment
name: production
`)
	// Next to the manifest wins; then templates/ for a template, files/
	// for a file.
	write(t, filepath.Join(repo, "ntp.conf.tmpl"), "server {{ .Attributes.ntp_server }}\n")
	write(t, filepath.Join(repo, "templates", "ntp.conf.tmpl"), "not this one\n")
	write(t, filepath.Join(repo, "files", "motd"), "Managed by corral\n")
	write(t, filepath.Join(repo, "templates", "motd"), "not this one either\n")
	write(t, filepath.Join(repo, "upstream.conf.tmpl"), "not read: files has it\n")
	write(t, filepath.Join(repo, "templates", "nginx", "nginx.conf.tmpl"), "worker_processes {{ .Facts.CPUs }};\n")
	write(t, filepath.Join(repo, "templates", "mime.types"), "types {}\n")

	docs, err := Load([]string{repo}, nil, resource.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	wantFiles := []map[string]any{
		{"motd": "Managed by corral\n", "ntp.conf.tmpl": "server {{ .Attributes.ntp_server }}\n"},
		{"upstream.conf.tmpl": "kept as given\n", "nginx/nginx.conf.tmpl": "worker_processes {{ .Facts.CPUs }};\n", "mime.types": "types {}\n"},
		nil,
	}
	for i, d := range docs {
		got, _ := d.Body["files"].(map[string]any)
		if !reflect.DeepEqual(got, wantFiles[i]) {
			t.Errorf("%s: files %q, want %q", d.Source, got, wantFiles[i])
		}
	}
	// The resources themselves are sent as written.
	res := docs[0].Body["resources"].([]any)
	if src := res[0].(map[string]any)["file"].(map[string]any)["source"]; src != "motd" {
		t.Errorf("source rewritten to %v", src)
	}
}

func TestLoadRoleSourceErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret.txt"), "outside\n")
	write(t, filepath.Join(dir, "r", "bin"), "\xff\xfe")
	write(t, filepath.Join(dir, "r", "sub", "dir", "x"), "")
	tests := []struct {
		name, yaml, wantErr string
	}{
		{
			name:    "missing template source",
			yaml:    "kind: Secret\nname: s\nvalue: v\n---\nkind: Role\nname: web\nresources:\n  - package: {name: nginx}\n  - template: {path: /etc/x, source: upstream.conf.tmpl}\n",
			wantErr: "m.yaml#2: resources[1].template.source: file \"upstream.conf.tmpl\" not found in " + dir + "/r, " + dir + "/r/templates or " + dir + "/r/files",
		},
		{
			name:    "missing file source searches files/ first",
			yaml:    "kind: Role\nname: web\nresources:\n  - file: {path: /etc/x, source: x.conf}\n",
			wantErr: "m.yaml#1: resources[0].file.source: file \"x.conf\" not found in " + dir + "/r, " + dir + "/r/files or " + dir + "/r/templates",
		},
		{
			name:    "source outside the folder",
			yaml:    "kind: Role\nname: web\nresources:\n  - file: {path: /etc/x, source: ../secret.txt}\n",
			wantErr: "m.yaml#1: resources[0].file.source: \"../secret.txt\" must be a relative name inside the manifest's folder",
		},
		{
			name:    "absolute source",
			yaml:    "kind: Role\nname: web\nresources:\n  - template: {path: /etc/x, source: " + dir + "/secret.txt}\n",
			wantErr: "m.yaml#1: resources[0].template.source: \"" + dir + "/secret.txt\" must be a relative name",
		},
		{
			name:    "source not a string",
			yaml:    "kind: Role\nname: web\nresources:\n  - template: {path: /etc/x, source: [a]}\n",
			wantErr: "m.yaml#1: resources[0].template.source: must be the name of a file",
		},
		{
			name:    "binary source",
			yaml:    "kind: Role\nname: web\nresources:\n  - file: {path: /etc/x, source: bin}\n",
			wantErr: "m.yaml#1: resources[0].file.source: " + dir + "/r/bin is not UTF-8 text",
		},
		{
			name:    "a directory is not a file",
			yaml:    "kind: Role\nname: web\nresources:\n  - file: {path: /etc/x, source: sub/dir}\n",
			wantErr: "m.yaml#1: resources[0].file.source: read " + dir + "/r/sub/dir",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "r", "m.yaml")
			write(t, p, tt.yaml)
			_, err := Load([]string{p}, nil, resource.Builtin())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestLoadRoleSourceStdin reads a role from stdin: its sources come from
// the working directory.
func TestLoadRoleSourceStdin(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "templates", "a.tmpl"), "A\n")
	t.Chdir(dir)
	docs, err := Load([]string{Stdin}, strings.NewReader(`{"kind":"Role","name":"r","resources":[{"template":{"path":"/a","source":"a.tmpl"}}]}`), resource.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if got := docs[0].Body["files"]; !reflect.DeepEqual(got, map[string]any{"a.tmpl": "A\n"}) {
		t.Errorf("files %v", got)
	}
}

// TestLoadRoleShapesLeftToServer leaves documents it cannot make sense of
// to the server's validation.
func TestLoadRoleShapesLeftToServer(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	write(t, p, "kind: Role\nname: a\nresources: {file: x}\n---\nkind: Role\nname: b\nfiles: [x]\nresources:\n  - file: {path: /x, source: nope}\n---\nkind: Role\nname: c\nresources:\n  - {file: {path: /x, source: nope}, template: {path: /y}}\n  - file: /x\n")
	docs, err := Load([]string{p}, nil, resource.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if _, ok := d.Body["files"].(map[string]any); ok {
			t.Errorf("%s: files added: %v", d.Source, d.Body["files"])
		}
	}
}
