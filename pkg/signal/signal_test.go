package signal

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	good := map[string]unix.Signal{
		"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "kill": unix.SIGKILL, "9": unix.SIGKILL,
		"TERM": unix.SIGTERM, "SIGHUP": unix.SIGHUP, "RTMIN": 34, "RTMIN+3": 37, "RTMAX-1": 63, "64": 64,
	}
	for in, want := range good {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "65", "NOPE", "SIGNOPE", "RTMIN+40", "RTMAX+1"} {
		if _, err := Parse(in); err == nil || err.Error() != "Invalid signal: "+in {
			t.Errorf("Parse(%q) = %v", in, err)
		}
	}
	if Name(unix.SIGTERM) != "TERM" {
		t.Fatal(Name(unix.SIGTERM))
	}
}
