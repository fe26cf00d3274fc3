//go:build !unix

package whisper

import "os"

// rawFile is an open whisper file (see file_unix.go).
type rawFile struct{ *os.File }

func openRaw(path string) (rawFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	return rawFile{f}, err
}

func defaultMaxOpenFiles() int { return 256 }

func preallocate(uintptr, int64) (bool, error) { return false, nil }
