package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// linkSpec is `link: {path, to, ensure}`: a symbolic link at path pointing
// to `to` (written as given; absolute targets are not prefixed with the
// root, since the link is read on the machine). A regular file at path is
// replaced; a directory is an error.
type linkSpec struct {
	Path   string `json:"path"`
	To     string `json:"to"`
	Ensure string `json:"ensure"`
	absent bool
}

func decodeLink(props json.RawMessage) (Provider, error) {
	var s linkSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if err := absPath("path", s.Path); err != nil {
		return nil, err
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	if !s.absent && s.To == "" {
		return nil, fieldErr("to", "is required")
	}
	return &s, nil
}

func (s *linkSpec) Name() string { return s.Path }

func (s *linkSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	p := e.Path(s.Path)
	fi, err := os.Lstat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Plan{}, fmt.Errorf("stat %s: %w", s.Path, err)
	}
	exists := err == nil
	if exists && fi.IsDir() {
		return Plan{}, fmt.Errorf("%s is a directory, not a link", s.Path)
	}
	isLink := exists && fi.Mode()&fs.ModeSymlink != 0
	cur := ""
	if isLink {
		if cur, err = os.Readlink(p); err != nil {
			return Plan{}, fmt.Errorf("read link %s: %w", s.Path, err)
		}
	}
	if s.absent {
		if !isLink {
			return Plan{}, nil // a file at path is not ours to remove
		}
		return Plan{Changed: true, Diff: fmt.Sprintf("remove link %s -> %s\n", s.Path, cur), Apply: func(ctx context.Context) error {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove %s: %w", s.Path, err)
			}
			return nil
		}}, nil
	}
	if isLink && cur == s.To {
		return Plan{}, nil
	}
	diff := fmt.Sprintf("link %s -> %s\n", s.Path, s.To)
	switch {
	case isLink:
		diff = fmt.Sprintf("link %s -> %s (was -> %s)\n", s.Path, s.To, cur)
	case exists:
		diff = fmt.Sprintf("replace file %s with link -> %s\n", s.Path, s.To)
	}
	return Plan{Changed: true, Diff: diff, Apply: func(ctx context.Context) error {
		// A new link renamed over the old path: never a moment without one.
		tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".corral-link")
		os.Remove(tmp)
		if err := os.Symlink(s.To, tmp); err != nil {
			return fmt.Errorf("link %s: %w", s.Path, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("link %s: %w", s.Path, err)
		}
		return nil
	}}, nil
}
