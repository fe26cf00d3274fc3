//go:build !unix

package spool

import (
	"os"
	"path/filepath"
)

// lockDir only creates the LOCK file where flock(2) is not available.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
}
