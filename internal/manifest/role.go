package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"corral/internal/api"
)

// roleKind is the kind whose documents carry files for their resources.
const roleKind = "Role"

// sourceTypes are the resource types of a Role whose `source:` names a
// file stored with the role, with the folders (below the manifest's)
// searched for it after the manifest's own, in order: chef-repo keeps
// templates in templates/ and plain files in files/.
var sourceTypes = map[string][]string{
	"template": {"templates", "files"},
	"file":     {"files", "templates"},
}

// readRoleSources fills a Role document's files: every `source: NAME` of a
// file or template resource that files does not hold yet is read from dir,
// else dir/templates or dir/files (dir/files first for file resources).
// Errors name the document and the resource field
// (`roles/web.yaml#2: resources[1].template.source: ...`).
func readRoleSources(d *api.Document, dir string) error {
	if d.Kind() != roleKind {
		return nil
	}
	list, ok := d.Body["resources"].([]any)
	if !ok {
		return nil // the server says what is wrong with it
	}
	files, _ := d.Body["files"].(map[string]any)
	if _, present := d.Body["files"]; present && files == nil {
		return nil // not a mapping: the server reports it
	}
	added := map[string]any{}
	for i, entry := range list {
		res, ok := entry.(map[string]any)
		if !ok || len(res) != 1 {
			continue
		}
		for typ, props := range res {
			after, ok := sourceTypes[typ]
			if !ok {
				continue
			}
			m, ok := props.(map[string]any)
			if !ok {
				continue
			}
			raw, present := m["source"]
			if !present {
				continue
			}
			field := fmt.Sprintf("resources[%d].%s.source", i, typ)
			name, ok := raw.(string)
			if !ok || name == "" {
				return fmt.Errorf("%s: %s: must be the name of a file next to the manifest, or in its templates/ or files/ folder", d.Source, field)
			}
			if _, have := files[name]; have {
				continue
			}
			if _, have := added[name]; have {
				continue
			}
			content, err := readSource(dir, name, after)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", d.Source, field, err)
			}
			added[name] = content
		}
	}
	if len(added) == 0 {
		return nil
	}
	if files == nil {
		files = map[string]any{}
		d.Body["files"] = files
	}
	for name, content := range added {
		files[name] = content
	}
	return nil
}

// readSource reads the source file name from dir or one of its folders
// named in sub, the first that has it.
func readSource(dir, name string, sub []string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if filepath.IsAbs(name) || strings.HasPrefix(name, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q must be a relative name inside the manifest's folder (or its templates/ or files/)", name)
	}
	base := dir
	if base == "" {
		base = "."
	}
	dirs := []string{base}
	for _, s := range sub {
		dirs = append(dirs, filepath.Join(base, s))
	}
	for _, d := range dirs {
		p := filepath.Join(d, filepath.FromSlash(name))
		b, err := readLimited(p, MaxFieldFileBytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !utf8.Valid(b) {
			return "", fmt.Errorf("%s is not UTF-8 text (a role stores text files only)", p)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("file %q not found in %s or %s", name, strings.Join(dirs[:len(dirs)-1], ", "), dirs[len(dirs)-1])
}
