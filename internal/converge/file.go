package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// defaultBackups is how many earlier versions of a replaced file are kept,
// as chef does.
const defaultBackups = 5

// fileCommon are the properties file and template share.
type fileCommon struct {
	Path      string `json:"path"`
	Mode      string `json:"mode"`
	Owner     string `json:"owner"`
	Group     string `json:"group"`
	Backup    *int   `json:"backup"`
	Sensitive bool   `json:"sensitive"`
}

func (c *fileCommon) validate() error {
	if err := absPath("path", c.Path); err != nil {
		return err
	}
	if _, err := fileMode("mode", c.Mode); err != nil {
		return err
	}
	if c.Backup != nil && *c.Backup < 0 {
		return fieldErr("backup", "must be 0 (no backups) or more")
	}
	return nil
}

func (c *fileCommon) keep() int {
	if c.Backup == nil {
		return defaultBackups
	}
	return *c.Backup
}

// absPath checks that p is an absolute, clean path.
func absPath(field, p string) error {
	if p == "" {
		return fieldErr(field, "is required")
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fieldErr(field, "must be an absolute clean path, not %q", p)
	}
	return nil
}

// ensureValue checks an ensure property: "" or present, or absent.
func ensureValue(s string) (absent bool, err error) {
	switch s {
	case "", "present":
		return false, nil
	case "absent":
		return true, nil
	}
	return false, fieldErr("ensure", "must be present or absent, not %q", s)
}

// fileSpec is `file: {path, content | source, mode, owner, group, backup,
// sensitive, ensure}`. Without content or source only the metadata is
// managed (a missing file is created empty).
type fileSpec struct {
	fileCommon
	Content *string `json:"content"`
	Source  string  `json:"source"`
	Ensure  string  `json:"ensure"`
	absent  bool
}

func decodeFile(props json.RawMessage) (Provider, error) {
	var s fileSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.Content != nil && s.Source != "" {
		return nil, fieldErr("source", "give content or source, not both")
	}
	var err error
	if s.absent, err = ensureValue(s.Ensure); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *fileSpec) Name() string { return s.Path }

func (s *fileSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	if s.absent {
		return e.planAbsentFile(s.Path, s.keep(), s.Sensitive)
	}
	var want []byte
	manage := true
	switch {
	case s.Content != nil:
		want = []byte(*s.Content)
	case s.Source != "":
		b, ok := e.Sources[s.Source]
		if !ok {
			return Plan{}, fmt.Errorf("source %q is not among the role's files", s.Source)
		}
		want = b
	default:
		manage = false
	}
	m, err := e.resolveMeta(s.Mode, s.Owner, s.Group)
	if err != nil {
		return Plan{}, err
	}
	return e.planFile(s.Path, want, manage, m, s.keep(), s.Sensitive)
}

// statFile looks at a path a file resource manages: nil when missing, an
// error when it is not a regular file.
func statFile(p, rel string) (fs.FileInfo, error) {
	fi, _, err := readRegular(p, rel, false)
	return fi, err
}

// readRegular opens a path a file resource manages without following a
// symbolic link, and returns its stat (nil when missing) and, when read is
// set, its content. Anything but a regular file is an error. It uses the
// system calls directly: a no-op converge of many files is mostly this.
func readRegular(p, rel string, read bool) (fs.FileInfo, []byte, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	}
	switch {
	case err == syscall.ENOENT:
		return nil, nil, nil
	case err == syscall.ELOOP:
		return nil, nil, fmt.Errorf("%s is a symbolic link: manage it with a link resource, or manage its target", rel)
	case err != nil:
		return nil, nil, fmt.Errorf("open %s: %w", rel, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, nil, fmt.Errorf("stat %s: %w", rel, err)
	}
	fi := &statInfo{name: filepath.Base(p), st: st}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s exists and is not a regular file (%s)", rel, fi.Mode().Type())
	}
	if !read {
		return fi, nil, nil
	}
	buf := make([]byte, 0, st.Size+1)
	for {
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", rel, err)
		}
		if n == 0 {
			return fi, buf, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// statInfo is an fs.FileInfo from a stat system call.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return &s.st }

// Mode converts the stat mode as package os does.
func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// planFile plans a file with content want (when manage) and metadata m.
func (e *Env) planFile(rel string, want []byte, manage bool, m meta, keep int, sensitive bool) (Plan, error) {
	p := e.Path(rel)
	fi, old, err := readRegular(p, rel, manage)
	if err != nil {
		return Plan{}, err
	}
	contentChanged := fi == nil
	if fi != nil && manage {
		contentChanged = !bytes.Equal(old, want)
	}
	metaLines := e.metaDiff(fi, m)
	if !contentChanged && len(metaLines) == 0 {
		return Plan{}, nil
	}
	var diff bytes.Buffer
	from := rel
	if fi == nil {
		fmt.Fprintf(&diff, "create %s\n", rel)
		from = "/dev/null"
		if dir := filepath.Dir(rel); dir != "/" {
			if _, err := os.Stat(e.Path(dir)); err != nil {
				if !e.DryRun {
					return Plan{}, fmt.Errorf("directory %s does not exist (a directory resource before this one makes it)", dir)
				}
				fmt.Fprintf(&diff, "(directory %s does not exist yet)\n", dir)
			}
		}
	}
	for _, l := range metaLines {
		diff.WriteString(l + "\n")
	}
	if contentChanged && manage {
		diff.WriteString(UnifiedDiff(from, rel, string(old), string(want)))
	}
	// The old content may hold a secret the new one no longer uses.
	sensitive = sensitive || (contentChanged && e.mentionsSecret(old))
	plan := Plan{Changed: true, Diff: diff.String(), Sensitive: sensitive}
	plan.Apply = func(ctx context.Context) error {
		if !contentChanged {
			return applyMeta(p, m)
		}
		wm := m
		if fi != nil {
			if err := backup(e.backupDir(), p, rel, keep, e.now()); err != nil {
				return err
			}
			if !wm.hasMode {
				wm.mode, wm.hasMode = fi.Mode()&permBits, true
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				if wm.uid < 0 && int(st.Uid) != os.Geteuid() {
					wm.uid = int(st.Uid)
				}
				if wm.gid < 0 && int(st.Gid) != os.Getegid() {
					wm.gid = int(st.Gid)
				}
			}
		} else if !wm.hasMode {
			wm.mode, wm.hasMode = 0o644, true
		}
		if !manage {
			want = nil
		}
		if err := writeAtomic(p, want, wm); err != nil {
			return err
		}
		e.wrote(p)
		return nil
	}
	return plan, nil
}

// planAbsentFile plans removing a file (backed up first).
func (e *Env) planAbsentFile(rel string, keep int, sensitive bool) (Plan, error) {
	p := e.Path(rel)
	fi, err := statFile(p, rel)
	if err != nil || fi == nil {
		return Plan{}, err
	}
	old, err := os.ReadFile(p)
	if err != nil {
		return Plan{}, fmt.Errorf("read %s: %w", rel, err)
	}
	return Plan{
		Changed:   true,
		Diff:      "remove " + rel + "\n" + UnifiedDiff(rel, "/dev/null", string(old), ""),
		Sensitive: sensitive,
		Apply: func(ctx context.Context) error {
			if err := backup(e.backupDir(), p, rel, keep, e.now()); err != nil {
				return err
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove %s: %w", rel, err)
			}
			return nil
		},
	}, nil
}

func (e *Env) backupDir() string {
	if e.BackupDir != "" {
		return e.Path(e.BackupDir)
	}
	return e.Path("/var/lib/corral/backup")
}
