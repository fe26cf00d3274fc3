// Package manifest reads the resource files a user applies: YAML (several
// documents separated by ---) or JSON (an object or an array of objects),
// from files, directories or stdin, into api.Documents. It also reads the
// fields a kind takes from a file (`value_file: db.txt` fills `value`) and
// the files a Role's file and template resources name in `source:` (into
// the role's `files`), so the server never reads the client's files. The
// CLI's apply and diff use it.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"corral/internal/api"
	"corral/internal/resource"
)

// MaxFieldFileBytes bounds a file read into a field (value_file).
const MaxFieldFileBytes = 1 << 20

// Stdin is the path that names standard input.
const Stdin = "-"

// Load reads the documents of every path in order. A path is a file, a
// directory (its *.yaml, *.yml and *.json files, sorted, not recursive) or
// "-" for stdin. Empty documents are skipped. Each document's Source is
// "<path>#<n>", n counting the documents of that file from 1. The kinds of reg
// say which fields are read from files. A Role's file and template
// resources' `source: NAME` not among its `files` is read into them from the
// manifest's folder, or its templates/ or files/ folder (chef-repo layout);
// stdin's folder is the working directory.
func Load(paths []string, stdin io.Reader, reg resource.Registry) ([]api.Document, error) {
	var docs []api.Document
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var data []byte
			var dir string
			if f == Stdin {
				if stdin == nil {
					return nil, errors.New("read -: no standard input")
				}
				data, err = io.ReadAll(stdin)
				dir = ""
			} else {
				data, err = os.ReadFile(f)
				dir = filepath.Dir(f)
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", f, err)
			}
			ds, err := Parse(f, data)
			if err != nil {
				return nil, err
			}
			for i := range ds {
				if err := readFileFields(&ds[i], dir, reg); err != nil {
					return nil, err
				}
				if err := readRoleSources(&ds[i], dir); err != nil {
					return nil, err
				}
			}
			docs = append(docs, ds...)
		}
	}
	return docs, nil
}

// expand turns a path into the files it names.
func expand(p string) ([]string, error) {
	if p == Stdin {
		return []string{Stdin}, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", p, err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || !isManifestName(e.Name()) {
			continue
		}
		files = append(files, filepath.Join(p, e.Name()))
	}
	sort.Strings(files)
	return files, nil
}

func isManifestName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Parse reads the documents in data, named name in Sources. JSON (an object,
// an array of objects, or several of them one after another) is read as JSON
// when it parses as such; everything else as a YAML stream.
func Parse(name string, data []byte) ([]api.Document, error) {
	if looksLikeJSON(data) {
		docs, err := parseJSON(name, data)
		if err == nil {
			return docs, nil
		}
		// A .json file must be JSON; anything else may be YAML in flow style
		// ({kind: Secret, name: a}).
		if strings.EqualFold(filepath.Ext(name), ".json") {
			return nil, err
		}
	}
	return parseYAML(name, data)
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func parseJSON(name string, data []byte) ([]api.Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []api.Document
	n := 0
	add := func(v any) error {
		n++
		if v == nil {
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return notMapping(name, n)
		}
		docs = append(docs, api.Document{Source: source(name, n), Body: m})
		return nil
	}
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", source(name, n+1), err)
		}
		if list, ok := v.([]any); ok {
			for _, e := range list {
				if err := add(e); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

func parseYAML(name string, data []byte) ([]api.Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []api.Document
	for n := 1; ; n++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source(name, n), err)
		}
		if isEmpty(&node) {
			continue
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", source(name, n), err)
		}
		if v == nil {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			if _, general := v.(map[any]any); !general {
				return nil, notMapping(name, n)
			}
		}
		conv, err := normalize(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source(name, n), err)
		}
		m = conv.(map[string]any)
		if _, err := json.Marshal(m); err != nil {
			return nil, fmt.Errorf("%s: cannot be sent as JSON: %w", source(name, n), err)
		}
		docs = append(docs, api.Document{Source: source(name, n), Body: m})
	}
	return docs, nil
}

// isEmpty reports whether a decoded YAML document holds nothing but null.
func isEmpty(n *yaml.Node) bool {
	if n.Kind == 0 {
		return true
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// normalize turns what YAML decodes into JSON-shaped values: maps with
// string keys, timestamps as the strings they were written as, and no
// non-finite numbers (JSON has none).
func normalize(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := normalize(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			ks, err := keyString(k)
			if err != nil {
				return nil, err
			}
			c, err := normalize(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ks, err)
			}
			m[ks] = c
		}
		return m, nil
	case []any:
		for i, e := range t {
			c, err := normalize(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			t[i] = c
		}
		return t, nil
	case time.Time:
		if t.Equal(t.Truncate(24*time.Hour)) && t.Location() == time.UTC {
			return t.Format(time.DateOnly), nil
		}
		return t.Format(time.RFC3339Nano), nil
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, fmt.Errorf("%v is not a number JSON can carry", t)
		}
		return t, nil
	}
	return v, nil
}

// keyString turns a scalar mapping key into the string JSON uses.
func keyString(k any) (string, error) {
	switch t := k.(type) {
	case string:
		return t, nil
	case nil:
		return "", errors.New("a mapping key is null")
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case uint64:
		return strconv.FormatUint(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("mapping key %v must be a string", k)
}

func source(name string, n int) string { return name + "#" + strconv.Itoa(n) }

func notMapping(name string, n int) error {
	return fmt.Errorf("%s: a document must be a mapping with kind:", source(name, n))
}

// readFileFields replaces each `F_file: path` field of the document's kind
// by `F: <content of path>`, path relative to dir.
func readFileFields(d *api.Document, dir string, reg resource.Registry) error {
	k, ok := reg[d.Kind()]
	if !ok {
		return nil // the server reports unknown kinds, with suggestions
	}
	fileFields := make([]string, 0, len(k.FileFields))
	for f := range k.FileFields {
		fileFields = append(fileFields, f)
	}
	sort.Strings(fileFields)
	for _, fileField := range fileFields {
		raw, present := d.Body[fileField]
		if !present {
			continue
		}
		field := k.FileFields[fileField]
		if _, both := d.Body[field]; both {
			return fmt.Errorf("%s: %s and %s are both given; use one", d.Source, field, fileField)
		}
		p, ok := raw.(string)
		if !ok || p == "" {
			return fmt.Errorf("%s: %s must be a file path", d.Source, fileField)
		}
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		content, err := readLimited(p, MaxFieldFileBytes)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", d.Source, fileField, err)
		}
		if !utf8.Valid(content) {
			return fmt.Errorf("%s: %s: %s is not UTF-8 text", d.Source, fileField, p)
		}
		delete(d.Body, fileField)
		d.Body[field] = string(content)
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
