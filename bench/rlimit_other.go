//go:build !unix

package bench

import "errors"

func raiseFileLimit(uint64) (uint64, error) {
	return 0, errors.New("no RLIMIT_NOFILE on this system")
}
