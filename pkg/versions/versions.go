package versions

import (
	"strconv"
	"strings"
)

// Compare returns -1, 0 or 1 as a is older than, equal to or newer than b.
// Missing components count as zero and non-numeric components as zero, so a
// malformed version never panics; callers validate the syntax separately.
func Compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	n := max(len(as), len(bs))
	for i := 0; i < n; i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// LessThan reports whether a is older than b.
func LessThan(a, b string) bool { return Compare(a, b) < 0 }

// GreaterThan reports whether a is newer than b.
func GreaterThan(a, b string) bool { return Compare(a, b) > 0 }

// GreaterThanOrEqualTo reports whether a is b or newer.
func GreaterThanOrEqualTo(a, b string) bool { return Compare(a, b) >= 0 }

// LessThanOrEqualTo reports whether a is b or older.
func LessThanOrEqualTo(a, b string) bool { return Compare(a, b) <= 0 }
