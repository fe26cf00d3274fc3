//go:build unix && !linux

package whisper

const oNoatime = 0

func preallocate(uintptr, int64) (bool, error) { return false, nil }
