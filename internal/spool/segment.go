package spool

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment is one file of records with consecutive seqs, named by the seq of
// its first record (the seq it was created for, while empty).
type segment struct {
	first uint64 // seq of its first record
	last  uint64 // seq of its last record; first-1 while empty
	size  int64  // bytes of whole records
}

func (g *segment) path(dir string) string {
	return filepath.Join(dir, fmt.Sprintf(segmentName, g.first))
}

// unacked counts the records of g after acked.
func (g *segment) unacked(acked uint64) uint64 {
	if g.last <= acked {
		return 0
	}
	return g.last - max(g.first-1, acked)
}

// listSegments returns the first seqs of the segment files in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var firsts []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || first == 0 {
			continue
		}
		firsts = append(firsts, first)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts, nil
}

// recoverSegment reads the segment file named for first and cuts it after
// its last whole record with the expected seq: a torn tail from a crash
// mid-write, or corruption, is truncated away.
func recoverSegment(dir string, first uint64) (*segment, error) {
	g := &segment{first: first, last: first - 1}
	f, err := os.OpenFile(g.path(dir), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	for {
		rec, n, err := readRecord(r, fi.Size()-g.size)
		if err == io.EOF {
			return g, nil
		}
		if err != nil || rec.Seq != g.last+1 {
			break
		}
		g.last, g.size = rec.Seq, g.size+n
	}
	if err := f.Truncate(g.size); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return g, nil
}

// state is what the spool keeps besides its segments.
type state struct {
	Acked   uint64 `json:"acked"`   // every seq <= Acked is acknowledged
	Dropped uint64 `json:"dropped"` // records dropped over the disk budget, ever
	Next    uint64 `json:"next"`    // every seq < Next has been handed out
}

const stateFile = "state.json"

// loadState reads the state file; a missing one is the zero state.
func loadState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// saveState writes the state file atomically: temp file, fsync, rename,
// fsync of the directory.
func saveState(dir string, st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes the creation, removal and renaming of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
