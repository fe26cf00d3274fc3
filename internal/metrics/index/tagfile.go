package index

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// tagLog is the append-only file of a persisted Tags.
type tagLog struct {
	f   *os.File
	w   *bufio.Writer
	err error // first write error; reported by Flush and Close
}

func (l *tagLog) append(name string) {
	if l.err != nil {
		return
	}
	if _, err := l.w.WriteString(name); err != nil {
		l.err = err
		return
	}
	l.err = l.w.WriteByte('\n')
}

// OpenTags loads the tag database persisted at path (one canonical tagged
// name per line; created if missing) and appends every name added later to
// it. Writes are buffered: call Flush to push them to the file and Close when
// done. A last line without its newline (a write torn by a crash) is dropped
// on load and cut from the file; malformed lines are skipped.
func OpenTags(path string) (*Tags, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open tag index %s: %w", path, err)
	}
	t, err := loadTags(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("load tag index %s: %w", path, err)
	}
	t.log = &tagLog{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	return t, nil
}

// loadTags reads f, truncates a torn last line and leaves the offset at the end.
func loadTags(f *os.File) (*Tags, error) {
	t := NewTags()
	r := bufio.NewReaderSize(f, 64<<10)
	var good int64 // bytes up to the end of the last complete line
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An over-long line: read the rest of it and skip it.
			n := int64(len(line))
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				n += int64(len(line))
			}
			if err == nil {
				good += n
				continue
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		good += int64(len(line))
		name := string(bytes.TrimRight(line, "\r\n"))
		if tags, err := ParseTagged(name); err == nil {
			t.insert(FormatTagged(tags), tags)
		}
	}
	if err := f.Truncate(good); err != nil {
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return nil, err
	}
	return t, nil
}

// Flush writes buffered names of a persisted Tags to its file. It is a no-op
// for an in-memory Tags.
func (t *Tags) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.log == nil {
		return nil
	}
	if t.log.err != nil {
		return fmt.Errorf("write tag index: %w", t.log.err)
	}
	if err := t.log.w.Flush(); err != nil {
		t.log.err = err
		return fmt.Errorf("write tag index: %w", err)
	}
	return nil
}

// Close flushes and closes the file of a persisted Tags. Later Adds keep
// working in memory only.
func (t *Tags) Close() error {
	err := t.Flush()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.log == nil {
		return err
	}
	if cerr := t.log.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close tag index: %w", cerr)
	}
	t.log = nil
	return err
}
