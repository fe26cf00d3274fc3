package parse

import (
	"strconv"
	"strings"
	"time"
)

// Levels are the normalised levels, most severe first; syslog severity n is
// Levels[n].
var levels = [8]string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

// SeverityLevel returns the level of a syslog severity (0–7), "" otherwise.
func SeverityLevel(sev int) string {
	if sev < 0 || sev > 7 {
		return ""
	}
	return levels[sev]
}

// Level normalises a level as loggers write it to one of debug, info,
// notice, warn, error, crit, alert or emerg; "" when it is none known.
// Case is ignored: "WARNING" and "W" are warn, "ERR" and "E" error, "FATAL"
// and "CRITICAL" crit, "TRACE" debug. A number is a syslog severity (0–7) or
// a bunyan/pino level (10 trace … 60 fatal).
func Level(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 16 {
		return ""
	}
	if n, err := strconv.Atoi(s); err == nil {
		switch {
		case n >= 0 && n <= 7:
			return levels[n]
		case n == 10 || n == 20:
			return "debug"
		case n == 30:
			return "info"
		case n == 40:
			return "warn"
		case n == 50:
			return "error"
		case n == 60:
			return "crit"
		}
		return ""
	}
	switch strings.ToLower(s) {
	case "trace", "debug", "dbug", "dbg", "d", "t", "verbose", "finest", "finer", "fine", "debug1", "debug2", "debug3", "debug4", "debug5":
		return "debug"
	case "info", "information", "informational", "i", "inf", "log", "config":
		return "info"
	case "notice", "n", "note":
		return "notice"
	case "warn", "warning", "w", "wrn":
		return "warn"
	case "error", "err", "e", "erro", "eror", "severe", "failure":
		return "error"
	case "crit", "critical", "fatal", "f", "c", "crt", "panic":
		return "crit"
	case "alert", "a":
		return "alert"
	case "emerg", "emergency":
		return "emerg"
	}
	return ""
}

// timeLayouts are the textual timestamps parseTime knows, tried in order.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05,999999999Z07:00",
	"02/Jan/2006:15:04:05 -0700",
	time.RFC1123Z,
	time.RFC1123,
	time.RubyDate,
	time.UnixDate,
}

// localLayouts are timestamps without a zone, read in the given location.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05,999999999",
	"2006/01/02 15:04:05.999999999",
}

// parseTime reads a timestamp: RFC 3339 and its common variants, or unix
// seconds, milliseconds, microseconds or nanoseconds (told apart by size).
func parseTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	if strings.Trim(s, "0123456789.") == "" {
		return unixTime(s)
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// unixTime reads a unix timestamp in s, ms, µs or ns with an optional
// fraction. Values before 1990 in seconds are refused as unlikely times.
func unixTime(s string) (time.Time, bool) {
	intPart, frac, _ := strings.Cut(s, ".")
	if len(intPart) == 0 || len(intPart) > 19 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	var fracNS int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 || frac[0] == '+' || frac[0] == '-' {
			return time.Time{}, false
		}
		for i := len(frac); i < 9; i++ {
			f *= 10
		}
		fracNS = f
	}
	var t time.Time
	switch {
	case n < 631152000: // 1990-01-01 in seconds
		return time.Time{}, false
	case n < 1e11: // seconds until the year 5138
		t = time.Unix(n, fracNS)
	case n < 1e14: // milliseconds
		t = time.Unix(0, n*int64(time.Millisecond)+fracNS/1e3)
	case n < 1e17: // microseconds
		t = time.Unix(0, n*int64(time.Microsecond)+fracNS/1e6)
	default: // nanoseconds
		t = time.Unix(0, n)
	}
	return t.UTC(), true
}
