package dockertest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuildContext(t *testing.T) {
	prog := []byte("\x7fELF pretend program")
	b, err := buildContext("task", prog)
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		mode int64
		data string
	}
	got := map[string]file{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = file{h.Mode, string(data)}
	}
	want := map[string]file{
		"Dockerfile": {0o644, "FROM scratch\nCOPY task /task\nENTRYPOINT [\"/task\"]\n"},
		"task":       {0o755, string(prog)},
	}
	if len(got) != len(want) {
		t.Errorf("context has %d files, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %+v, want %+v", name, got[name], w)
		}
	}
}

func TestReadBuildOutput(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantErr string // "" for none
	}{
		{"success", `{"stream":"Step 1/3 : FROM scratch\n"}` + "\n" + `{"aux":{"ID":"sha256:ab"}}` + "\n" + `{"stream":"Successfully built ab\n"}`, ""},
		{"empty", "", ""},
		{"build error", `{"stream":"Step 2/3 : COPY task /task\n"}` + "\n" + `{"errorDetail":{"message":"COPY failed: no source files"},"error":"COPY failed: no source files"}`, "COPY failed: no source files"},
		{"garbage", `{"stream":`, "read build output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readBuildOutput(strings.NewReader(tt.stream))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

// TestEngine starts an engine, builds the task image on it and stops it:
// the image runs the program, the engine's directory is gone after Stop.
func TestEngine(t *testing.T) {
	began := time.Now()
	e := Start(t)
	t.Logf("dockerd answered after %s", time.Since(began).Round(time.Millisecond))
	if !strings.HasPrefix(e.Host(), "unix://") {
		t.Fatalf("host %q", e.Host())
	}
	if err := BuildImage(t.Context(), e.Host(), "corral-test/dockertest:1", "../testdata/task"); err != nil {
		t.Fatal(err)
	}
	t.Logf("image built after %s", time.Since(began).Round(time.Millisecond))
	api := e.Client(t)
	res, err := api.ImageInspect(t.Context(), "corral-test/dockertest:1")
	if err != nil {
		t.Fatal(err)
	}
	if ep := res.Config.Entrypoint; !slices.Equal(ep, []string{"/task"}) {
		t.Errorf("entrypoint %q, want [/task]", ep)
	}
	if len(res.RootFS.Layers) != 1 {
		t.Errorf("image has layers %v, want the program's one", res.RootFS.Layers)
	}

	// A program that does not compile is an error that says so.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "go.mod"), []byte("module bad\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "main.go"), []byte("package main\nfunc main() { undefined() }\n"), 0o644)
	if err := BuildImage(t.Context(), e.Host(), "corral-test/bad:1", bad); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("build of a broken program: %v", err)
	}

	dir := e.dir
	e.Stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("engine dir %s after Stop: %v", dir, err)
	}
	e.Stop() // again: nothing happens
}
