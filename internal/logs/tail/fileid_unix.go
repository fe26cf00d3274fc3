//go:build unix

package tail

import (
	"io/fs"
	"syscall"
)

// fileKey is a file's identity on this machine: device and inode.
type fileKey struct {
	Dev, Ino uint64
}

// keyOf returns the identity of the file fi describes.
func keyOf(fi fs.FileInfo) fileKey {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return fileKey{}
}
