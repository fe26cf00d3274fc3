package host

import (
	"bytes"
	"strconv"
)

// procCounts are the processes.* gauges.
type procCounts struct{ total, running, blocked, zombie int }

func (c *Collector) collectProcesses(b *batch) error {
	pc, err := c.readProcesses()
	if err != nil {
		return err
	}
	b.add("processes.total", float64(pc.total))
	b.add("processes.running", float64(pc.running))
	b.add("processes.blocked", float64(pc.blocked))
	b.add("processes.zombie", float64(pc.zombie))
	return nil
}

// parseProcStat extracts procs_running and procs_blocked from the contents
// of /proc/stat; ok is false unless both are present.
func parseProcStat(data []byte) (running, blocked int, ok bool) {
	var haveR, haveB bool
	for line := range bytes.Lines(data) {
		key, val, found := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !found {
			continue
		}
		var dst *int
		switch string(key) {
		case "procs_running":
			dst, haveR = &running, true
		case "procs_blocked":
			dst, haveB = &blocked, true
		default:
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(val)))
		if err != nil {
			return 0, 0, false
		}
		*dst = n
	}
	return running, blocked, haveR && haveB
}

// procState returns the state letter of a /proc/<pid>/stat line, which
// follows the command name in parentheses. The name may itself contain ')'
// and spaces, so the last ')' is the delimiter.
func procState(stat []byte) (byte, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' {
		return 0, false
	}
	return stat[i+2], true
}

// isPID reports whether a /proc entry name is a process directory.
func isPID(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}
