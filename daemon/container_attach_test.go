package daemon

import (
	"bytes"
	"testing"
)

func TestParseDetachKeysLikeDockerd(t *testing.T) {
	for in, want := range map[string][]byte{
		"ctrl-p,ctrl-q":                      {16, 17},
		"a,b":                                {'a', 'b'},
		"ctrl-@,DEL":                         {0, 127},
		`ctrl-[,ctrl-\,ctrl-],ctrl-^,ctrl-_`: {27, 28, 29, 30, 31},
	} {
		got, err := parseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	// dockerd's names are case-sensitive and untrimmed.
	for _, in := range []string{"ctrl-A,a", "ctrl-p, ctrl-q", "del", "ctrl-1", ""} {
		if _, err := parseDetachKeys(in); err == nil || err.Error() != "Invalid detach keys ("+in+") provided" {
			t.Errorf("%q: %v", in, err)
		}
	}
}
