package internal_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules keeps the import graph of DESIGN.md §5: imports point down.
func TestImportRules(t *testing.T) {
	const mod = "corral/internal/"
	domain := []string{"scheduler", "driver", "converge", "monitor", "metrics", "logs", "discovery", "marathon"}
	roots := []string{"server", "agent", "cli"}
	// top returns the first path element under internal/.
	top := func(pkg string) string { return strings.SplitN(pkg, "/", 2)[0] }
	isDomain := func(p string) bool {
		for _, d := range domain {
			if top(p) == d {
				return true
			}
		}
		return false
	}
	isRoot := func(p string) bool {
		for _, r := range roots {
			if top(p) == r {
				return true
			}
		}
		return false
	}
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			checked++
			if top(pkg) == "api" && (strings.Contains(strings.Split(p, "/")[0], ".") || strings.HasPrefix(p, "corral/")) {
				t.Errorf("%s imports %s: api imports only the standard library", path, p)
			}
			dep, ours := strings.CutPrefix(p, mod)
			if !ours {
				continue
			}
			switch {
			case top(dep) == "cli":
				t.Errorf("%s imports %s: only cmd imports cli", path, p)
			case isRoot(dep) && top(dep) != top(pkg) && top(pkg) != "cli":
				t.Errorf("%s imports %s: only cli imports the composition roots", path, p)
			case top(pkg) == "spool" && top(dep) != "api":
				t.Errorf("%s imports %s: spool imports only api", path, p)
			case isDomain(pkg) && top(dep) != "api" && top(dep) != "spool" && !isDomain(dep):
				t.Errorf("%s imports %s: domain packages import only api, spool and each other", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no imports checked: is the test running in internal/?")
	}
}
