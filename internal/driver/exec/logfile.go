package exec

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultLogMaxBytes caps each of stdout and stderr when the spec says 0.
const DefaultLogMaxBytes = 10 << 20

// rotatingFile is a size-capped log file: when a write would take it past
// max bytes, the file is renamed to <path>.1 (replacing the older one) and
// a new one is started. At most 2*max bytes stay on disk.
type rotatingFile struct {
	path string
	max  int64
	f    *os.File
	size int64
}

func openRotating(path string, max int64) (*rotatingFile, error) {
	if max <= 0 {
		max = DefaultLogMaxBytes
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rotatingFile{path: path, max: max, f: f, size: fi.Size()}, nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if r.size >= r.max {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
		chunk := p
		if room := r.max - r.size; int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		n, err := r.f.Write(chunk)
		written += n
		r.size += int64(n)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	r.f, r.size = f, 0
	return nil
}

func (r *rotatingFile) Close() error { return r.f.Close() }

// logFiles are the files Logs reads, oldest first.
func logFiles(sandbox string) []string {
	return []string{
		filepath.Join(sandbox, "stdout.1"), filepath.Join(sandbox, "stdout"),
		filepath.Join(sandbox, "stderr.1"), filepath.Join(sandbox, "stderr"),
	}
}

// readLogs returns the task's stdout then its stderr (exec keeps them in
// separate files, so they are not interleaved).
func readLogs(sandbox string) io.ReadCloser {
	var rs []io.Reader
	var closers []io.Closer
	for _, p := range logFiles(sandbox) {
		if f, err := os.Open(p); err == nil {
			rs = append(rs, f)
			closers = append(closers, f)
		}
	}
	return multiCloser{io.MultiReader(rs...), closers}
}

type multiCloser struct {
	io.Reader
	cs []io.Closer
}

func (m multiCloser) Close() error {
	for _, c := range m.cs {
		c.Close()
	}
	return nil
}

// followLogs streams new output of stdout and stderr as it is written (each
// from its start) until ctx ends or ended reports true, with a last read
// after that. A file that shrank was rotated: it is read again from 0.
func followLogs(ctx context.Context, sandbox string, ended func() bool, every time.Duration) io.ReadCloser {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	go func() {
		defer cancel()
		files := []string{filepath.Join(sandbox, "stdout"), filepath.Join(sandbox, "stderr")}
		offs := make([]int64, len(files))
		pump := func() error {
			for i, p := range files {
				f, err := os.Open(p)
				if err != nil {
					continue
				}
				if fi, err := f.Stat(); err == nil && fi.Size() < offs[i] {
					offs[i] = 0
				}
				f.Seek(offs[i], io.SeekStart)
				n, err := io.Copy(pw, f)
				f.Close()
				offs[i] += n
				if err != nil {
					return err
				}
			}
			return nil
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			done := ended()
			if err := pump(); err != nil {
				return
			}
			if done {
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-t.C:
			}
		}
	}()
	return readCloser{pr, func() { once.Do(func() { cancel(); pr.Close() }) }}
}

type readCloser struct {
	*io.PipeReader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }
