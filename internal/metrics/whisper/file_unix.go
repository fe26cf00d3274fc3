//go:build unix

package whisper

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
)

// rawFile is an open whisper file as a bare descriptor: positioned reads
// and writes are single system calls, with none of os.File's poller
// registration, which costs more than the update itself on small writes.
type rawFile int

// openRaw opens path for reading and writing, without access-time updates
// where the platform and the file's owner allow it: reads follow writes,
// so with relatime every first read after an open would otherwise dirty
// the inode.
func openRaw(path string) (rawFile, error) {
	flags := syscall.O_RDWR | syscall.O_CLOEXEC | oNoatime
	for {
		fd, err := syscall.Open(path, flags, 0)
		switch {
		case err == nil:
			return rawFile(fd), nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EPERM) && flags&oNoatime != 0: // not the owner
			flags &^= oNoatime
			continue
		default:
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
	}
}

func (f rawFile) ReadAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Pread(int(f), b[done:], off+int64(done))
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return done, fmt.Errorf("pread: %w", err)
		case n == 0:
			return done, io.EOF
		}
		done += n
	}
	return done, nil
}

func (f rawFile) WriteAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Pwrite(int(f), b[done:], off+int64(done))
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return done, fmt.Errorf("pwrite: %w", err)
		case n == 0:
			return done, io.ErrShortWrite
		}
		done += n
	}
	return done, nil
}

func (f rawFile) Close() error { return syscall.Close(int(f)) }

// defaultMaxOpenFiles is half the process's descriptor limit (Go raises the
// soft limit to the hard one at start), at most 1<<16.
func defaultMaxOpenFiles() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur < 64 {
		return 32
	}
	return int(min(l.Cur/2, 1<<16))
}
