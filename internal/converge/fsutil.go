package converge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// idMap maps user or group names to ids, read from a passwd or group file.
type idMap struct {
	byName map[string]int
	byID   map[int]string
}

// parseIDFile reads name:x:id:... lines (passwd and group share the first
// three fields).
func parseIDFile(r io.Reader) (*idMap, error) {
	m := &idMap{byName: map[string]int{}, byID: map[int]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if _, dup := m.byName[f[0]]; !dup {
			m.byName[f[0]] = id
		}
		if _, dup := m.byID[id]; !dup {
			m.byID[id] = f[0]
		}
	}
	return m, sc.Err()
}

// idFile returns the root's /etc/passwd or /etc/group map, read once a run;
// a root without one uses the machine's.
func (e *Env) idFile(name string) (*idMap, error) {
	var slot **idMap
	if e.run != nil {
		e.run.mu.Lock()
		defer e.run.mu.Unlock()
		slot = &e.run.users
		if name == "group" {
			slot = &e.run.groups
		}
		if *slot != nil {
			return *slot, nil
		}
	}
	b, err := os.ReadFile(e.Path("/etc/" + name))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = os.ReadFile("/etc/" + name)
	}
	if err != nil {
		return nil, fmt.Errorf("read /etc/%s: %w", name, err)
	}
	m, err := parseIDFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse /etc/%s: %w", name, err)
	}
	if slot != nil {
		*slot = m
	}
	return m, nil
}

// forgetIDs drops the cached passwd and group maps (after user or group
// changes).
func (e *Env) forgetIDs() {
	if e.run != nil {
		e.run.mu.Lock()
		e.run.users, e.run.groups = nil, nil
		e.run.mu.Unlock()
	}
}

// lookupID returns the id of a user (file "passwd") or group ("group") given
// by name or number; -1 for "".
func (e *Env) lookupID(file, name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	m, err := e.idFile(file)
	if err != nil {
		return 0, err
	}
	id, ok := m.byName[name]
	if !ok {
		what := "user"
		if file == "group" {
			what = "group"
		}
		return 0, fmt.Errorf("%s %q %w", what, name, errNoID)
	}
	return id, nil
}

// idName returns the name of id in file, or the number.
func (e *Env) idName(file string, id int) string {
	if m, err := e.idFile(file); err == nil {
		if n, ok := m.byID[id]; ok {
			return n
		}
	}
	return strconv.Itoa(id)
}

// fileMode parses an octal mode string ("0644", "755", "01777").
func fileMode(field, s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fieldErr(field, "must be an octal string such as \"0644\", not %q", s)
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// octal formats a mode's permission bits as "0644".
func octal(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

const permBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// meta is the wanted mode and owner of a path; zero values leave them be.
type meta struct {
	mode     fs.FileMode
	hasMode  bool
	uid, gid int // -1: leave
	owner    string
	group    string
	// missing names an owner or group that does not exist yet: in a dry
	// run an earlier user or group resource would have created it.
	missing []string
}

// errNoID is a user or group name that is not in passwd or group.
var errNoID = errors.New("not found")

// resolveMeta resolves owner and group names.
func (e *Env) resolveMeta(modeStr, owner, group string) (meta, error) {
	m := meta{owner: owner, group: group}
	var err error
	if modeStr != "" {
		if m.mode, err = fileMode("mode", modeStr); err != nil {
			return m, err
		}
		m.hasMode = true
	}
	if m.uid, err = e.lookupID("passwd", owner); err != nil {
		if !e.DryRun || !errors.Is(err, errNoID) {
			return m, fmt.Errorf("owner: %w", err)
		}
		m.uid = -1
		m.missing = append(m.missing, "owner "+owner+" (not a user yet)")
	}
	if m.gid, err = e.lookupID("group", group); err != nil {
		if !e.DryRun || !errors.Is(err, errNoID) {
			return m, fmt.Errorf("group: %w", err)
		}
		m.gid = -1
		m.missing = append(m.missing, "group "+group+" (not a group yet)")
	}
	return m, nil
}

// metaDiff lists what differs between fi (nil when the path is missing) and
// the wanted metadata, one "mode 0600 -> 0644" line each.
func (e *Env) metaDiff(fi fs.FileInfo, m meta) []string {
	out := append([]string(nil), m.missing...)
	if fi == nil {
		if m.hasMode {
			out = append(out, "mode "+octal(m.mode))
		}
		if m.uid >= 0 {
			out = append(out, "owner "+m.owner)
		}
		if m.gid >= 0 {
			out = append(out, "group "+m.group)
		}
		return out
	}
	if m.hasMode && fi.Mode()&permBits != m.mode {
		out = append(out, fmt.Sprintf("mode %s -> %s", octal(fi.Mode()), octal(m.mode)))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if m.uid >= 0 && int(st.Uid) != m.uid {
			out = append(out, fmt.Sprintf("owner %s -> %s", e.idName("passwd", int(st.Uid)), m.owner))
		}
		if m.gid >= 0 && int(st.Gid) != m.gid {
			out = append(out, fmt.Sprintf("group %s -> %s", e.idName("group", int(st.Gid)), m.group))
		}
	}
	return out
}

// applyMeta sets mode and owner of path (not following a last symlink for
// ownership).
func applyMeta(path string, m meta) error {
	if m.uid >= 0 || m.gid >= 0 {
		if err := os.Lchown(path, m.uid, m.gid); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if m.hasMode {
		if err := os.Chmod(path, m.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	return nil
}

// writeAtomic replaces path with content: written to a temporary file in the
// same directory, given its mode and owner and renamed over path, so readers
// see the old file or the new one, never a part. A failure leaves path as
// it was and removes the temporary file. The runner syncs what a run wrote
// in one batch (Env.syncWritten).
func writeAtomic(path string, content []byte, m meta) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".corral-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = applyMeta(tmp, m); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// backup copies the file at path (as the resource names it, rel) into
// backupDir as rel.<time>, keeping the newest keep copies of it.
func backup(backupDir, path, rel string, keep int, now time.Time) error {
	if keep <= 0 {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("back up %s: %w", rel, err)
	}
	dst := filepath.Join(backupDir, filepath.Clean("/"+rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("back up %s: %w", rel, err)
	}
	name := dst + "." + now.UTC().Format("20060102T150405.000000000Z")
	if err := writeAtomic(name, b, meta{mode: 0o600, hasMode: true, uid: -1, gid: -1}); err != nil {
		return fmt.Errorf("back up %s: %w", rel, err)
	}
	old, _ := filepath.Glob(globEscape(dst) + ".*Z")
	sort.Strings(old) // the time stamps sort in time order
	for len(old) > keep {
		os.Remove(old[0])
		old = old[1:]
	}
	return nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// wrote records a file written in this run, to be synced.
func (e *Env) wrote(path string) {
	if e.run == nil || e.NoSync {
		return
	}
	e.run.mu.Lock()
	e.run.written = append(e.run.written, path)
	e.run.mu.Unlock()
}

// syncWorkers is how many files are synced at once: concurrent fsyncs
// share the file system's journal commits.
const syncWorkers = 32

// syncWritten fsyncs the files written since the last call and their
// directories, concurrently. Files removed since are skipped.
func (e *Env) syncWritten() error {
	if e.run == nil {
		return nil
	}
	e.run.mu.Lock()
	paths := e.run.written
	e.run.written = nil
	e.run.mu.Unlock()
	if len(paths) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(paths))
	var todo []string
	for _, p := range paths {
		for _, x := range []string{p, filepath.Dir(p)} {
			if !seen[x] {
				seen[x] = true
				todo = append(todo, x)
			}
		}
	}
	work := make(chan string)
	errs := make(chan error, len(todo))
	var wg sync.WaitGroup
	for range min(syncWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				errs <- syncPath(p)
			}
		}()
	}
	for _, p := range todo {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}
