package stringid

import (
	"strconv"
	"testing"
)

func TestTruncateID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"0123456789ab", "0123456789ab"},
		{"0123456789abcdef0123", "0123456789ab"},
		{"sha256:0123456789abcdef0123", "0123456789ab"},
		{"sha256:abc", "abc"},
	} {
		if got := TruncateID(tc.in); got != tc.want {
			t.Errorf("TruncateID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGenerateRandomID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := GenerateRandomID()
		if len(id) != 64 {
			t.Fatalf("%q: %d digits", id, len(id))
		}
		for _, c := range id {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				t.Fatalf("%q is not lower-case hex", id)
			}
		}
		if _, err := strconv.ParseUint(TruncateID(id), 10, 64); err == nil {
			t.Fatalf("%q: short form is a number", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
	}
}
