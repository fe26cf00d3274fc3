package render

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errBadTime is wrapped by every ParseTime error.
var errBadTime = errors.New("cannot parse time")

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	dayNames   = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)

// ParseTime parses a from/until value in graphite-web's forms (its
// attime.parseATTime) relative to now in loc and returns Unix seconds:
//
//	1700000000                unix seconds
//	now, -1h, now-1d, -2w3d   now plus an offset (s, min, h, d, w, mon=30d, y=365d)
//	HH:MM_YYYYMMDD            a time on a date
//	YYYYMMDD, MM/DD/YY[YY]    midnight of a date
//	noon, midnight, teatime, 4pm, 10:30am, today, yesterday, tomorrow,
//	monday, jan1, 17:00_yesterday+1h
//
// Case, spaces, '_' and ',' are ignored, as in graphite-web.
func ParseTime(s string, now time.Time, loc *time.Location) (int64, error) {
	raw := s
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("_", "", ",", "", " ", "").Replace(s)
	if s == "" {
		return 0, fmt.Errorf("%w %q: empty", errBadTime, raw)
	}
	if isDigits(s) {
		if !(len(s) == 8 && atoi(s[:4]) > 1900 && atoi(s[4:6]) < 13 && atoi(s[6:]) < 32) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%w %q: %w", errBadTime, raw, err)
			}
			return n, nil
		}
	} else if strings.Contains(s, ":") && len(s) == 13 {
		t, err := time.ParseInLocation("15:0420060102", s, loc)
		if err != nil {
			return 0, fmt.Errorf("%w %q: %w", errBadTime, raw, err)
		}
		return t.Unix(), nil
	}
	ref, offset := s, ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		// graphite-web splits at the first '+' if there is one, else at '-'.
		if j := strings.IndexByte(s, '+'); j >= 0 {
			i = j
		}
		ref, offset = s[:i], s[i:]
	}
	t, err := parseTimeReference(ref, now.In(loc), loc)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", errBadTime, raw, err)
	}
	d, err := parseTimeOffset(offset)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", errBadTime, raw, err)
	}
	return t.Add(d).Unix(), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// parseTimeReference is graphite-web's parseTimeReference: an optional time
// of day followed by an optional day reference.
func parseTimeReference(ref string, now time.Time, loc *time.Location) (time.Time, error) {
	if ref == "" || ref == "now" {
		return now, nil
	}
	rawRef := ref
	hour, minute := 0, 0
	if i := strings.IndexByte(ref, ':'); i > 0 && i < 3 {
		if i+3 > len(ref) || !isDigits(ref[:i]) || !isDigits(ref[i+1:i+3]) {
			return time.Time{}, fmt.Errorf("bad time of day in %q", rawRef)
		}
		hour, minute = atoi(ref[:i]), atoi(ref[i+1:i+3])
		ref = ref[i+3:]
		switch {
		case strings.HasPrefix(ref, "am"):
			ref = ref[2:]
		case strings.HasPrefix(ref, "pm"):
			hour = (hour + 12) % 24
			ref = ref[2:]
		}
	}
	if i := strings.Index(ref, "am"); i > 0 && i < 3 && isDigits(ref[:i]) {
		hour = atoi(ref[:i])
		ref = ref[i+2:]
	}
	if i := strings.Index(ref, "pm"); i > 0 && i < 3 && isDigits(ref[:i]) {
		hour = (atoi(ref[:i]) + 12) % 24
		ref = ref[i+2:]
	}
	switch {
	case strings.HasPrefix(ref, "noon"):
		hour, minute, ref = 12, 0, ref[4:]
	case strings.HasPrefix(ref, "midnight"):
		hour, minute, ref = 0, 0, ref[8:]
	case strings.HasPrefix(ref, "teatime"):
		hour, minute, ref = 16, 0, ref[7:]
	}
	if hour > 23 || minute > 59 {
		return time.Time{}, fmt.Errorf("bad time of day in %q", rawRef)
	}
	y, m, d := now.Date()
	switch {
	case ref == "" || ref == "today":
	case ref == "yesterday":
		d--
	case ref == "tomorrow":
		d++
	case strings.Count(ref, "/") == 2:
		parts := strings.Split(ref, "/")
		if !isDigits(parts[0]) || !isDigits(parts[1]) || !isDigits(parts[2]) {
			return time.Time{}, fmt.Errorf("bad date %q", rawRef)
		}
		mm, dd, yy := atoi(parts[0]), atoi(parts[1]), atoi(parts[2])
		if yy < 1900 {
			yy += 1900
		}
		if yy < 1970 {
			yy += 100
		}
		if !validDate(yy, mm, dd) {
			return time.Time{}, fmt.Errorf("bad date %q", rawRef)
		}
		y, m, d = yy, time.Month(mm), dd
	case len(ref) == 8 && isDigits(ref):
		yy, mm, dd := atoi(ref[:4]), atoi(ref[4:6]), atoi(ref[6:])
		if !validDate(yy, mm, dd) {
			return time.Time{}, fmt.Errorf("bad date %q", rawRef)
		}
		y, m, d = yy, time.Month(mm), dd
	case len(ref) >= 3 && indexOf(monthNames, ref[:3]) >= 0:
		var dd int
		switch {
		case len(ref) >= 2 && isDigits(ref[len(ref)-2:]):
			dd = atoi(ref[len(ref)-2:])
		case isDigits(ref[len(ref)-1:]):
			dd = atoi(ref[len(ref)-1:])
		default:
			return time.Time{}, fmt.Errorf("day of month required after month name in %q", rawRef)
		}
		mm := indexOf(monthNames, ref[:3]) + 1
		if !validDate(y, mm, dd) {
			return time.Time{}, fmt.Errorf("bad date %q", rawRef)
		}
		m, d = time.Month(mm), dd
	case len(ref) >= 3 && indexOf(dayNames, ref[:3]) >= 0:
		today := (int(now.Weekday()) + 6) % 7 // Monday = 0, as Python
		off := today - indexOf(dayNames, ref[:3])
		if off < 0 {
			off += 7
		}
		d -= off
	default:
		return time.Time{}, fmt.Errorf("unknown day reference %q", rawRef)
	}
	return time.Date(y, m, d, hour, minute, 0, 0, loc), nil
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// parseTimeOffset is graphite-web's parseTimeOffset: a sign and one or more
// number+unit pairs ("-1h30min", "+2d").
func parseTimeOffset(offset string) (time.Duration, error) {
	if offset == "" {
		return 0, nil
	}
	sign := int64(1)
	switch offset[0] {
	case '+':
		offset = offset[1:]
	case '-':
		sign = -1
		offset = offset[1:]
	default:
		if offset[0] < '0' || offset[0] > '9' {
			return 0, fmt.Errorf("invalid offset sign %q", offset[:1])
		}
	}
	if offset == "" {
		return 0, errors.New("offset without a number")
	}
	var total time.Duration
	for offset != "" {
		i := 0
		for i < len(offset) && offset[i] >= '0' && offset[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("offset %q: number expected", offset)
		}
		num, err := strconv.ParseInt(offset[:i], 10, 64)
		if err != nil || num > 1<<31 {
			return 0, fmt.Errorf("offset %q: number too large", offset)
		}
		offset = offset[i:]
		j := 0
		for j < len(offset) && offset[j] >= 'a' && offset[j] <= 'z' {
			j++
		}
		unit := offset[:j]
		offset = offset[j:]
		var d time.Duration
		switch {
		case strings.HasPrefix(unit, "s"):
			d = time.Second
		case strings.HasPrefix(unit, "min"):
			d = time.Minute
		case strings.HasPrefix(unit, "h"):
			d = time.Hour
		case strings.HasPrefix(unit, "d"):
			d = 24 * time.Hour
		case strings.HasPrefix(unit, "w"):
			d = 7 * 24 * time.Hour
		case strings.HasPrefix(unit, "mon"):
			d = 30 * 24 * time.Hour
		case strings.HasPrefix(unit, "y"):
			d = 365 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("invalid offset unit %q", unit)
		}
		total += time.Duration(sign*num) * d
	}
	return total, nil
}
