package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// directorySpec is `directory: {path, mode, owner, group, recursive,
// ensure}`. Recursive creates missing parents (mode 0755, owned by the
// agent's user: mode and owner are the last directory's, as chef does) and,
// with ensure: absent, removes a directory that is not empty.
type directorySpec struct {
	Path      string `json:"path"`
	Mode      string `json:"mode"`
	Owner     string `json:"owner"`
	Group     string `json:"group"`
	Recursive bool   `json:"recursive"`
	Ensure    string `json:"ensure"`
	absent    bool
}

func decodeDirectory(props json.RawMessage) (Provider, error) {
	var s directorySpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if err := absPath("path", s.Path); err != nil {
		return nil, err
	}
	if s.Path == "/" {
		return nil, fieldErr("path", "must not be /")
	}
	if _, err := fileMode("mode", s.Mode); err != nil {
		return nil, err
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *directorySpec) Name() string { return s.Path }

func (s *directorySpec) Check(ctx context.Context, e *Env) (Plan, error) {
	p := e.Path(s.Path)
	fi, err := os.Lstat(p)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 && !s.absent {
		// A link to a directory (/var/www -> /data/www) is that directory.
		if target, serr := os.Stat(p); serr == nil && target.IsDir() {
			fi = target
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Plan{}, fmt.Errorf("stat %s: %w", s.Path, err)
	}
	if err == nil && !fi.IsDir() {
		return Plan{}, fmt.Errorf("%s exists and is not a directory (%s)", s.Path, fi.Mode().Type())
	}
	exists := err == nil
	if s.absent {
		if !exists {
			return Plan{}, nil
		}
		return Plan{Changed: true, Diff: "remove directory " + s.Path + "\n", Apply: func(ctx context.Context) error {
			rm := os.Remove
			if s.Recursive {
				rm = os.RemoveAll
			}
			if err := rm(p); err != nil {
				return fmt.Errorf("remove %s: %w", s.Path, err)
			}
			return nil
		}}, nil
	}
	m, err := e.resolveMeta(s.Mode, s.Owner, s.Group)
	if err != nil {
		return Plan{}, err
	}
	if !exists {
		fi = nil
	}
	lines := e.metaDiff(fi, m)
	var missing []string // missing directories, the deepest first
	if !exists {
		for d := s.Path; d != "/"; d = filepath.Dir(d) {
			if _, err := os.Lstat(e.Path(d)); err == nil {
				break
			}
			missing = append(missing, d)
		}
		if len(missing) > 1 && !s.Recursive {
			return Plan{}, fmt.Errorf("parent %s does not exist (recursive: true creates it)", filepath.Dir(s.Path))
		}
		created := make([]string, len(missing))
		for i, d := range missing {
			created[len(missing)-1-i] = d
		}
		lines = append([]string{"create directory " + strings.Join(created, ", ")}, lines...)
	}
	if len(lines) == 0 {
		return Plan{}, nil
	}
	return Plan{Changed: true, Diff: strings.Join(lines, "\n") + "\n", Apply: func(ctx context.Context) error {
		for i := len(missing) - 1; i >= 0; i-- {
			if err := os.Mkdir(e.Path(missing[i]), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create directory %s: %w", missing[i], err)
			}
		}
		return applyMeta(p, m)
	}}, nil
}
