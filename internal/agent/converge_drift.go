package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"corral/internal/converge"
)

// driftWatch watches the paths the last converge run manages for changes
// made by someone else. It watches their parent directories (an editor's
// or a tool's atomic rename replaces the file, and a watch on the file
// would follow the old one) and compares each changed path with what it
// was after the run: the run's own writes are taken as the new state, so
// they are never drift. The converge loop owns it; it is not safe for
// concurrent use.
type driftWatch struct {
	root string
	log  *slog.Logger
	w    *fsnotify.Watcher

	list   []converge.ManagedPath            // in the resources' order
	paths  map[string][]converge.ManagedPath // by path under the root
	stamps map[string]fileStamp
	dirs   map[string]bool // directories watched
	dirty  map[string]bool // paths with events not looked at yet
}

func newDriftWatch(root string, log *slog.Logger) (*driftWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &driftWatch{root: root, log: log, w: w, paths: map[string][]converge.ManagedPath{},
		stamps: map[string]fileStamp{}, dirs: map[string]bool{}, dirty: map[string]bool{}}, nil
}

func (d *driftWatch) close() { d.w.Close() }

// events is the watcher's events; nil (never ready) without a watcher.
func (d *driftWatch) events() <-chan fsnotify.Event {
	if d == nil {
		return nil
	}
	return d.w.Events
}

func (d *driftWatch) errors() <-chan error {
	if d == nil {
		return nil
	}
	return d.w.Errors
}

// underRoot is p under the root, as converge.Env.Path makes it.
func underRoot(root, p string) string {
	if root == "" || root == "/" {
		return filepath.Clean(p)
	}
	return filepath.Join(root, p)
}

// set makes mps the watched paths. The paths of the resources in changed
// (IDs) and the paths not watched before are taken as they are now.
func (d *driftWatch) set(mps []converge.ManagedPath, changed map[string]bool) {
	paths := make(map[string][]converge.ManagedPath, len(mps))
	for _, mp := range mps {
		p := underRoot(d.root, mp.Path)
		paths[p] = append(paths[p], mp)
	}
	for p, list := range paths {
		_, known := d.stamps[p]
		restamp := !known
		for _, mp := range list {
			restamp = restamp || changed[mp.Resource]
		}
		if restamp {
			d.stamps[p] = stampPath(p, isDirResource(list))
		}
	}
	for p := range d.stamps {
		if _, ok := paths[p]; !ok {
			delete(d.stamps, p)
			delete(d.dirty, p)
		}
	}
	d.paths, d.list = paths, mps
	want := map[string]bool{}
	for p := range paths {
		want[filepath.Dir(p)] = true
	}
	for dir := range d.dirs {
		if !want[dir] {
			_ = d.w.Remove(dir)
			delete(d.dirs, dir)
		}
	}
	for dir := range want {
		if d.dirs[dir] {
			continue
		}
		if err := d.w.Add(dir); err != nil {
			// Not there yet: tried again after the next run.
			d.log.Debug("cannot watch a directory of managed files", "dir", dir, "err", err)
			continue
		}
		d.dirs[dir] = true
	}
}

// note takes an event; it reports whether it concerns a watched path.
func (d *driftWatch) note(ev fsnotify.Event) bool {
	p := filepath.Clean(ev.Name)
	if _, ok := d.paths[p]; !ok {
		return false
	}
	d.dirty[p] = true
	return true
}

// pending reports whether events wait to be looked at.
func (d *driftWatch) pending() bool { return len(d.dirty) > 0 }

// check looks at the paths with events: those that differ from what they
// were are drift. It returns the IDs of the drifted resources to repair
// and to report, in the order of the resources, and takes the paths as
// they are now (the same change is not found twice).
func (d *driftWatch) check() (repair, report []string) {
	if len(d.dirty) == 0 {
		return nil, nil
	}
	drifted := map[string]converge.Drift{}
	for p := range d.dirty {
		list := d.paths[p]
		cur := stampPath(p, isDirResource(list))
		if cur == d.stamps[p] {
			continue
		}
		d.stamps[p] = cur
		for _, mp := range list {
			drifted[mp.Resource] = mp.Drift
			d.log.Info("managed path changed", "path", mp.Path, "resource", mp.Resource, "drift", string(mp.Drift))
		}
	}
	clear(d.dirty)
	if len(drifted) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, mp := range d.list {
		dr, ok := drifted[mp.Resource]
		if !ok || seen[mp.Resource] {
			continue
		}
		seen[mp.Resource] = true
		switch dr {
		case converge.DriftRepair:
			repair = append(repair, mp.Resource)
		case converge.DriftReport:
			report = append(report, mp.Resource)
		}
	}
	return repair, report
}

func isDirResource(list []converge.ManagedPath) bool {
	for _, mp := range list {
		if strings.HasPrefix(mp.Resource, "directory[") {
			return true
		}
	}
	return false
}

// fileStamp is what a path is: a change of any of it is a change of the
// file. Directories are stamped without size and times (files written in
// them change those).
type fileStamp struct {
	exists     bool
	mode       fs.FileMode
	uid, gid   uint32
	ino        uint64
	size       int64
	mtimeNanos int64
	link       string
	err        string
}

func stampPath(p string, dir bool) fileStamp {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}
	}
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	st := fileStamp{exists: true, mode: fi.Mode()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.uid, st.gid = sys.Uid, sys.Gid
		st.ino = sys.Ino
	}
	if dir && fi.IsDir() {
		return st
	}
	st.size, st.mtimeNanos = fi.Size(), fi.ModTime().UnixNano()
	if fi.Mode()&fs.ModeSymlink != 0 {
		st.link, _ = os.Readlink(p)
	}
	return st
}
