//go:build !unix

package tail

import "io/fs"

// fileKey is a file's identity; without inodes it is the zero key and files
// are told apart by path and fingerprint alone.
type fileKey struct {
	Dev, Ino uint64
}

func keyOf(fs.FileInfo) fileKey { return fileKey{} }
