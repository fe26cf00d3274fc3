package fetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"corral/internal/driver"
)

type entry struct {
	name, body string
	mode       int64
}

func tarball(t *testing.T, gz bool, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func zipball(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(os.FileMode(e.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	zw.Close()
	return buf.Bytes()
}

func TestInto(t *testing.T) {
	good := []entry{{"bin/app", "#!/bin/sh\necho hi\n", 0o755}, {"conf/app.conf", "x=1\n", 0o600}}
	evil := []entry{{"ok.txt", "fine", 0o644}, {"../escape.txt", "bad", 0o644}}
	files := map[string][]byte{
		"/app.tar.gz": tarball(t, true, good),
		"/app.tgz":    tarball(t, true, good),
		"/app.tar":    tarball(t, false, good),
		"/app.zip":    zipball(t, good),
		"/evil.tar":   tarball(t, false, evil),
		"/evil.zip":   zipball(t, evil),
		"/plain.sh":   []byte("#!/bin/sh\necho plain\n"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	local := t.TempDir()
	for name, b := range files {
		os.WriteFile(filepath.Join(local, name), b, 0o644)
	}
	no := false

	type want struct {
		path string
		exec bool
		body string
	}
	appFiles := []want{{"bin/app", true, "#!/bin/sh\necho hi\n"}, {"conf/app.conf", false, "x=1\n"}}
	tests := []struct {
		name    string
		item    driver.Fetch
		want    []want
		wantErr bool
	}{
		{"http tar.gz", driver.Fetch{URI: srv.URL + "/app.tar.gz"}, appFiles, false},
		{"http tgz", driver.Fetch{URI: srv.URL + "/app.tgz"}, appFiles, false},
		{"http tar", driver.Fetch{URI: srv.URL + "/app.tar"}, appFiles, false},
		{"http zip", driver.Fetch{URI: srv.URL + "/app.zip"}, appFiles, false},
		{"file tar.gz", driver.Fetch{URI: "file://" + local + "/app.tar.gz"}, appFiles, false},
		{"zip into dest", driver.Fetch{URI: srv.URL + "/app.zip", DestPath: "sub"}, []want{{"sub/bin/app", true, "#!/bin/sh\necho hi\n"}}, false},
		{"no extract", driver.Fetch{URI: srv.URL + "/app.tar", Extract: &no}, []want{{"app.tar", false, string(files["/app.tar"])}}, false},
		{"plain executable", driver.Fetch{URI: srv.URL + "/plain.sh", Executable: true}, []want{{"plain.sh", true, "#!/bin/sh\necho plain\n"}}, false},
		{"plain dest", driver.Fetch{URI: "file://" + local + "/plain.sh", DestPath: "x/run.sh"}, []want{{"x/run.sh", false, "#!/bin/sh\necho plain\n"}}, false},
		{"tar traversal", driver.Fetch{URI: srv.URL + "/evil.tar"}, nil, true},
		{"zip traversal", driver.Fetch{URI: srv.URL + "/evil.zip"}, nil, true},
		{"dest traversal", driver.Fetch{URI: srv.URL + "/plain.sh", DestPath: "../x"}, nil, true},
		{"http 404", driver.Fetch{URI: srv.URL + "/missing.tar"}, nil, true},
		{"file missing", driver.Fetch{URI: "file:///nonexistent/x.tar"}, nil, true},
		{"bad scheme", driver.Fetch{URI: "ftp://example.com/x"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := t.TempDir()
			err := Into(context.Background(), sb, []driver.Fetch{tt.item}, srv.Client())
			if tt.wantErr {
				if err == nil || !errors.Is(err, driver.ErrStartFailed) {
					t.Fatalf("err = %v, want one wrapping ErrStartFailed", err)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(sb), "escape.txt")); err == nil {
					t.Fatal("archive wrote outside the sandbox")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				p := filepath.Join(sb, w.path)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != w.body {
					t.Errorf("%s = %q, want %q", w.path, b, w.body)
				}
				fi, _ := os.Stat(p)
				if got := fi.Mode()&0o100 != 0; got != w.exec {
					t.Errorf("%s executable = %v, want %v (mode %v)", w.path, got, w.exec, fi.Mode())
				}
			}
		})
	}
}
