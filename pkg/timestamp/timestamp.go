package timestamp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads "sec" or "sec.nsec". An empty value yields def seconds and
// zero nanoseconds.
func Parse(value string, def int64) (sec, nsec int64, err error) {
	if value == "" {
		return def, 0, nil
	}
	s, n, hasNano := strings.Cut(value, ".")
	sec, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid timestamp %q", value)
	}
	if hasNano {
		if len(n) > 9 || n == "" {
			return 0, 0, fmt.Errorf("invalid timestamp %q", value)
		}
		nsec, err = strconv.ParseInt(n+strings.Repeat("0", 9-len(n)), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid timestamp %q", value)
		}
	}
	return sec, nsec, nil
}

// ParseTime is Parse returning a time.Time; an empty value is the zero time.
func ParseTime(value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	sec, nsec, err := Parse(value, 0)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, nsec), nil
}

// FromHuman converts what a user types (a Go duration meaning "that long
// ago", an RFC 3339 date or a date without zone, or a unix timestamp) into
// the "sec.nsec" form the API takes, relative to now.
func FromHuman(value string, now time.Time) (string, error) {
	if d, err := time.ParseDuration(value); err == nil && value != "0" {
		t := now.Add(-d)
		return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, value, time.Local); err == nil {
			return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), nil
		}
	}
	if _, _, err := Parse(value, 0); err == nil {
		return value, nil
	}
	return "", fmt.Errorf("failed to parse value as time or duration: %q", value)
}
