//go:build !unix

package bench

import (
	"errors"
	"os"
)

// No profiling signals here: profiles are not taken.
var profileStart, profileStop os.Signal

func raiseFileLimit(uint64) (uint64, error) {
	return 0, errors.New("no RLIMIT_NOFILE on this system")
}
