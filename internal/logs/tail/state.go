package tail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// state is the checkpoint file: the patterns the tailer has followed (so a
// pattern seen for the first time can start at the end of its existing
// files) and, per open file, the offset up to which lines were acknowledged.
type state struct {
	Version  int          `json:"version"`
	Patterns []string     `json:"patterns"`
	Files    []stateEntry `json:"files"`
}

// stateEntry is one file's checkpoint. FP is a hash of the file's first
// FPLen bytes, which tells a file apart from a later one that reuses its
// inode.
type stateEntry struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FPLen  int    `json:"fp_len"`
	FP     uint64 `json:"fp"`
	Offset int64  `json:"offset"`
}

const stateVersion = 1

// loadState reads the checkpoint at path; a missing file is an empty state
// and ok=false says there was none.
func loadState(path string) (st state, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, false, nil
	}
	if err != nil {
		return state{}, false, fmt.Errorf("read tail state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, false, fmt.Errorf("parse tail state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return state{}, false, fmt.Errorf("tail state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	return st, true, nil
}

// saveState writes st to path atomically: a temporary file in the same
// directory, synced, then renamed over path, then the directory synced.
func saveState(path string, st state) error {
	st.Version = stateVersion
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fmt.Errorf("encode tail state: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tail state dir: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write tail state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write tail state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return nil
}
