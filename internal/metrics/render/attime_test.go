package render

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := time.UTC
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database: install the tzdata package")
	}
	// A Tuesday.
	now := time.Date(2023, 11, 14, 22, 14, 37, 0, utc)
	at := func(y int, m time.Month, d, h, min int, loc *time.Location) int64 {
		return time.Date(y, m, d, h, min, 0, 0, loc).Unix()
	}
	tests := []struct {
		in   string
		loc  *time.Location
		want int64
	}{
		{"1700000000", utc, 1700000000},
		{"now", utc, now.Unix()},
		{"-1h", utc, now.Unix() - 3600},
		{"-1hours", utc, now.Unix() - 3600},
		{"now-1d", utc, now.Unix() - 86400},
		{"-5min", utc, now.Unix() - 300},
		{"-30s", utc, now.Unix() - 30},
		{"-2w", utc, now.Unix() - 14*86400},
		{"-1mon", utc, now.Unix() - 30*86400},
		{"-1y", utc, now.Unix() - 365*86400},
		{"-1d12h", utc, now.Unix() - 86400 - 12*3600},
		{"+1h", utc, now.Unix() + 3600},
		{"NOW-1D", utc, now.Unix() - 86400},
		{"14:30_20231110", utc, at(2023, 11, 10, 14, 30, utc)},
		{"14:30_20231110", ny, at(2023, 11, 10, 14, 30, ny)},
		{"20231110", utc, at(2023, 11, 10, 0, 0, utc)},
		{"midnight", utc, at(2023, 11, 14, 0, 0, utc)},
		{"noon", utc, at(2023, 11, 14, 12, 0, utc)},
		{"teatime", utc, at(2023, 11, 14, 16, 0, utc)},
		{"noon+1h", utc, at(2023, 11, 14, 13, 0, utc)},
		{"noon yesterday", utc, at(2023, 11, 13, 12, 0, utc)},
		{"yesterday", utc, at(2023, 11, 13, 0, 0, utc)},
		{"today", utc, at(2023, 11, 14, 0, 0, utc)},
		{"tomorrow", utc, at(2023, 11, 15, 0, 0, utc)},
		{"4pm", utc, at(2023, 11, 14, 16, 0, utc)},
		{"10:30am", utc, at(2023, 11, 14, 10, 30, utc)},
		{"17:00_yesterday", utc, at(2023, 11, 13, 17, 0, utc)},
		{"11/10/2023", utc, at(2023, 11, 10, 0, 0, utc)},
		{"11/10/23", utc, at(2023, 11, 10, 0, 0, utc)},
		{"nov10", utc, at(2023, 11, 10, 0, 0, utc)},
		{"monday", utc, at(2023, 11, 13, 0, 0, utc)},
		{"tuesday", utc, at(2023, 11, 14, 0, 0, utc)},
		{"wednesday", utc, at(2023, 11, 8, 0, 0, utc)},
		{"midnight", ny, at(2023, 11, 14, 0, 0, ny)},
		// Eight digits that are not a date are a timestamp, as in graphite-web.
		{"20231340", utc, 20231340},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, now, tt.loc)
			if err != nil || got != tt.want {
				t.Fatalf("ParseTime(%q) = %d (%s), %v; want %d (%s)", tt.in, got, time.Unix(got, 0).In(tt.loc), err, tt.want, time.Unix(tt.want, 0).In(tt.loc))
			}
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, in := range []string{"", "-1x", "now-", "soon", "25:00_20231110", "-h", "13/45/2023", "feb31", "jan", "99999999999999999999", "-99999999999y"} {
		t.Run(in, func(t *testing.T) {
			if got, err := ParseTime(in, now, time.UTC); !errors.Is(err, errBadTime) {
				t.Fatalf("ParseTime(%q) = %d, %v; want an error", in, got, err)
			}
		})
	}
}
