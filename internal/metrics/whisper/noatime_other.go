//go:build unix && !linux

package whisper

const oNoatime = 0
