package timestamp

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in        string
		sec, nsec int64
		bad       bool
	}{
		{"", -1, 0, false},
		{"1700000000", 1700000000, 0, false},
		{"1700000000.5", 1700000000, 500000000, false},
		{"1700000000.000000001", 1700000000, 1, false},
		{"abc", 0, 0, true},
		{"1.", 0, 0, true},
		{"1.1234567890", 0, 0, true},
	}
	for _, c := range cases {
		sec, nsec, err := Parse(c.in, -1)
		if (err != nil) != c.bad || (!c.bad && (sec != c.sec || nsec != c.nsec)) {
			t.Errorf("Parse(%q) = %d, %d, %v", c.in, sec, nsec, err)
		}
	}
}

func TestFromHuman(t *testing.T) {
	now := time.Unix(1700000000, 0)
	if got, _ := FromHuman("10s", now); got != "1699999990.000000000" {
		t.Fatalf("duration: %s", got)
	}
	if got, _ := FromHuman("2023-11-14T22:13:20Z", now); got != "1700000000.000000000" {
		t.Fatalf("rfc3339: %s", got)
	}
	if got, _ := FromHuman("1700000000", now); got != "1700000000" {
		t.Fatalf("unix: %s", got)
	}
	if _, err := FromHuman("yesterday", now); err == nil {
		t.Fatal("garbage accepted")
	}
}
