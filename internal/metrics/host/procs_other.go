//go:build !linux

package host

import "errors"

func (c *Collector) readProcesses() (procCounts, error) {
	return procCounts{}, errors.New("process counts need Linux /proc")
}
