package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"corral/internal/api"
	"corral/internal/resource"
)

// summary renders documents as "source kind name value" lines for comparing.
func summary(t *testing.T, docs []api.Document) string {
	t.Helper()
	var b strings.Builder
	for _, d := range docs {
		body, err := json.Marshal(d.Body)
		if err != nil {
			t.Fatalf("%s: %v", d.Source, err)
		}
		b.WriteString(d.Source + " " + string(body) + "\n")
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		data    string
		want    string
		wantErr string
	}{
		{
			name: "multi-document yaml, empty skipped, index kept",
			file: "web.yaml",
			data: "kind: Secret\nname: a\nvalue: x\n---\n---\n# only a comment\n---\nkind: Secret\nname: b\nvalue: 1\n",
			want: "web.yaml#1 {\"kind\":\"Secret\",\"name\":\"a\",\"value\":\"x\"}\n" +
				"web.yaml#4 {\"kind\":\"Secret\",\"name\":\"b\",\"value\":1}\n",
		},
		{
			name: "leading separator",
			file: "a.yml",
			data: "---\nkind: Secret\nname: a\n",
			want: "a.yml#1 {\"kind\":\"Secret\",\"name\":\"a\"}\n",
		},
		{
			name: "nested maps get string keys",
			file: "a.yaml",
			data: "kind: App\nname: a\nenv:\n  1: one\n  true: yes\n  deep: {x: [ {y: 2} ]}\n",
			want: "a.yaml#1 {\"env\":{\"1\":\"one\",\"deep\":{\"x\":[{\"y\":2}]},\"true\":\"yes\"},\"kind\":\"App\",\"name\":\"a\"}\n",
		},
		{
			name: "timestamps stay strings",
			file: "a.yaml",
			data: "kind: Job\nname: a\nday: 2024-03-01\nat: 2024-03-01T10:00:00Z\n",
			want: "a.yaml#1 {\"at\":\"2024-03-01T10:00:00Z\",\"day\":\"2024-03-01\",\"kind\":\"Job\",\"name\":\"a\"}\n",
		},
		{
			name: "json object",
			file: "a.json",
			data: `{"kind":"Secret","name":"a","value":"x","n":12345678901234567890}`,
			want: "a.json#1 {\"kind\":\"Secret\",\"n\":12345678901234567890,\"name\":\"a\",\"value\":\"x\"}\n",
		},
		{
			name: "json array",
			file: "a.json",
			data: `[{"kind":"Secret","name":"a"}, null, {"kind":"Secret","name":"b"}]`,
			want: "a.json#1 {\"kind\":\"Secret\",\"name\":\"a\"}\na.json#3 {\"kind\":\"Secret\",\"name\":\"b\"}\n",
		},
		{
			name: "json in a yaml file",
			file: "a.yaml",
			data: `{"kind":"Secret","name":"a"}`,
			want: "a.yaml#1 {\"kind\":\"Secret\",\"name\":\"a\"}\n",
		},
		{
			name: "yaml flow mapping",
			file: "a.yaml",
			data: `{kind: Secret, name: a}`,
			want: "a.yaml#1 {\"kind\":\"Secret\",\"name\":\"a\"}\n",
		},
		{name: "empty file", file: "a.yaml", data: "", want: ""},
		{name: "only comments", file: "a.yaml", data: "# nothing\n", want: ""},
		{
			name:    "scalar document",
			file:    "web.yaml",
			data:    "kind: Secret\nname: a\n---\nhello\n",
			wantErr: "web.yaml#2: a document must be a mapping with kind:",
		},
		{
			name:    "list document",
			file:    "web.yaml",
			data:    "- kind: Secret\n",
			wantErr: "web.yaml#1: a document must be a mapping with kind:",
		},
		{
			name:    "json array of non-objects",
			file:    "a.json",
			data:    `[{"kind":"Secret"}, 3]`,
			wantErr: "a.json#2: a document must be a mapping with kind:",
		},
		{name: "broken json file", file: "a.json", data: `{"kind":`, wantErr: "a.json#1: invalid JSON"},
		{name: "broken yaml", file: "a.yaml", data: "kind: Secret\n---\nname: [a\n", wantErr: "a.yaml#2: yaml:"},
		{name: "non-finite number", file: "a.yaml", data: "kind: X\nn: .inf\n", wantErr: "a.yaml#1: n: +Inf is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse(tt.file, []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(t, docs); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m", "b.yaml"), "kind: Secret\nname: b\nvalue_file: files/pw.txt\n")
	write(t, filepath.Join(dir, "m", "a.json"), `{"kind":"Secret","name":"a","value":"x"}`)
	write(t, filepath.Join(dir, "m", "c.yml"), "kind: Secret\nname: c\nvalue: y\n")
	write(t, filepath.Join(dir, "m", "notes.txt"), "not a manifest")
	write(t, filepath.Join(dir, "m", "sub", "d.yaml"), "kind: Secret\nname: d\nvalue: z\n")
	write(t, filepath.Join(dir, "m", "files", "pw.txt"), "hunter22\n")
	write(t, filepath.Join(dir, "abs.yaml"), "kind: Secret\nname: e\nvalue_file: "+filepath.Join(dir, "m", "files", "pw.txt")+"\n")
	write(t, filepath.Join(dir, "both.yaml"), "kind: Secret\nname: f\nvalue: a\nvalue_file: x\n")
	write(t, filepath.Join(dir, "missing.yaml"), "kind: Secret\nname: g\nvalue_file: nope.txt\n")
	write(t, filepath.Join(dir, "notpath.yaml"), "kind: Secret\nname: g\nvalue_file: [a]\n")
	write(t, filepath.Join(dir, "bin.yaml"), "kind: Secret\nname: g\nvalue_file: bin\n")
	write(t, filepath.Join(dir, "bin"), "\xff\xfe")
	write(t, filepath.Join(dir, "other.yaml"), "kind: secret\nname: h\nvalue_file: nope.txt\n")
	reg := resource.Builtin()

	tests := []struct {
		name    string
		paths   []string
		stdin   string
		want    string
		wantErr string
	}{
		{
			name:  "directory sorted, not recursive, value_file relative to the manifest",
			paths: []string{filepath.Join(dir, "m")},
			want: dir + "/m/a.json#1 {\"kind\":\"Secret\",\"name\":\"a\",\"value\":\"x\"}\n" +
				dir + "/m/b.yaml#1 {\"kind\":\"Secret\",\"name\":\"b\",\"value\":\"hunter22\\n\"}\n" +
				dir + "/m/c.yml#1 {\"kind\":\"Secret\",\"name\":\"c\",\"value\":\"y\"}\n",
		},
		{
			name:  "files in the order given, and an absolute value_file",
			paths: []string{filepath.Join(dir, "m", "c.yml"), filepath.Join(dir, "abs.yaml")},
			want: dir + "/m/c.yml#1 {\"kind\":\"Secret\",\"name\":\"c\",\"value\":\"y\"}\n" +
				dir + "/abs.yaml#1 {\"kind\":\"Secret\",\"name\":\"e\",\"value\":\"hunter22\\n\"}\n",
		},
		{
			name:  "stdin, value_file relative to the working directory",
			paths: []string{"-"},
			stdin: "kind: Secret\nname: s\nvalue_file: " + filepath.Join(dir, "m", "files", "pw.txt") + "\n---\nkind: Secret\nname: t\nvalue: v\n",
			want: "-#1 {\"kind\":\"Secret\",\"name\":\"s\",\"value\":\"hunter22\\n\"}\n" +
				"-#2 {\"kind\":\"Secret\",\"name\":\"t\",\"value\":\"v\"}\n",
		},
		{
			name:  "unknown kinds are left to the server",
			paths: []string{filepath.Join(dir, "other.yaml")},
			want:  dir + "/other.yaml#1 {\"kind\":\"secret\",\"name\":\"h\",\"value_file\":\"nope.txt\"}\n",
		},
		{name: "both value and value_file", paths: []string{filepath.Join(dir, "both.yaml")}, wantErr: "both.yaml#1: value and value_file are both given"},
		{name: "missing value_file", paths: []string{filepath.Join(dir, "missing.yaml")}, wantErr: "missing.yaml#1: value_file: open " + dir + "/nope.txt"},
		{name: "value_file not a string", paths: []string{filepath.Join(dir, "notpath.yaml")}, wantErr: "notpath.yaml#1: value_file must be a file path"},
		{name: "binary value_file", paths: []string{filepath.Join(dir, "bin.yaml")}, wantErr: "bin.yaml#1: value_file: " + dir + "/bin is not UTF-8 text"},
		{name: "missing path", paths: []string{filepath.Join(dir, "nope")}, wantErr: "read " + dir + "/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Load(tt.paths, strings.NewReader(tt.stdin), reg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(t, docs); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// FuzzLoadYAML feeds arbitrary bytes as stdin: Load must never panic, and
// what it returns must be sendable as JSON.
func FuzzLoadYAML(f *testing.F) {
	for _, s := range []string{
		"kind: Secret\nname: a\nvalue: x\n",
		"---\n---\nkind: Secret\n",
		`[{"kind":"Secret","name":"a"}]`,
		"{kind: Secret, name: a, value_file: /nonexistent}",
		"a: &x [*x]\n",
		"? [a, b]\n: c\n",
		"kind: Secret\nname: a\nvalue: !!binary aGVsbG8=\n",
		"- 1\n- 2\n",
		"n: .nan\n",
		"<<: {a: 1}\nb: 2\n",
	} {
		f.Add([]byte(s))
	}
	reg := resource.Builtin()
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Load([]string{"-"}, strings.NewReader(string(data)), reg)
		if err != nil {
			return
		}
		for _, d := range docs {
			if d.Body == nil {
				t.Fatalf("%s: nil body", d.Source)
			}
			if _, err := json.Marshal(d.Body); err != nil {
				t.Fatalf("%s: %v", d.Source, err)
			}
		}
	})
}
