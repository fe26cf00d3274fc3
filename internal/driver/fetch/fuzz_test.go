package fetch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtractTar: whatever the archive, nothing is written outside the
// destination directory.
func FuzzExtractTar(f *testing.F) {
	f.Add(tarball(&testing.T{}, false, []entry{{"a/b", "x", 0o755}}), "a.tar")
	f.Add(tarball(&testing.T{}, false, []entry{{"../x", "x", 0o644}}), "a.tar")
	f.Add(tarball(&testing.T{}, true, []entry{{"/abs", "x", 0o644}}), "a.tgz")
	f.Add(zipball(&testing.T{}, []entry{{"a/../../x", "x", 0o644}}), "a.zip")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if !IsArchive(name) || strings.ContainsAny(name, "/\x00") {
			return
		}
		root := t.TempDir()
		dest := filepath.Join(root, "sandbox")
		os.Mkdir(dest, 0o755)
		_ = Extract(bytes.NewReader(data), name, dest)
		ents, _ := os.ReadDir(root)
		if len(ents) != 1 || ents[0].Name() != "sandbox" {
			t.Fatalf("extraction wrote outside the sandbox: %v", ents)
		}
	})
}
