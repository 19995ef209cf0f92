//go:build berth_faults

package faultpoint

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		name  string
		count int64
	}{
		{"a.b", "a.b", 1},
		{"a.b:3", "a.b", 3},
		{"a.b:0", "a.b", 1},
		{"a.b:x", "a.b", 1},
	} {
		got := parse(c.in)
		if got == nil || got.name != c.name || got.count != c.count {
			t.Errorf("parse(%q) = %+v, want %s:%d", c.in, got, c.name, c.count)
		}
	}
	if parse("") != nil {
		t.Error(`parse("") armed a point`)
	}
}

// TestHitKills runs this test binary as a child that hits a point three
// times with the point armed for the second hit: it must die by SIGKILL
// after the first hit's line and before the third's.
func TestHitKills(t *testing.T) {
	if os.Getenv("FAULTPOINT_CHILD") == "1" {
		for i := 1; i <= 3; i++ {
			os.Stdout.WriteString("before hit\n")
			Hit("test.point")
			Hit("test.other")
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHitKills$")
	cmd.Env = append(os.Environ(), "FAULTPOINT_CHILD=1", EnvVar+"=test.point:2")
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("child: %v, want death by SIGKILL; output %q", err, out)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended %v, want SIGKILL", ws)
	}
	if n := strings.Count(string(out), "before hit"); n != 2 {
		t.Fatalf("child hit the point %d times before dying, want 2", n)
	}
	if !strings.Contains(string(ee.Stderr), "faultpoint: test.point hit") {
		t.Fatalf("no line naming the point: %q", ee.Stderr)
	}
}

func TestEnvPassesTheArmedPoint(t *testing.T) {
	t.Setenv(EnvVar, "x.y:2")
	if got := Env(); len(got) != 1 || got[0] != EnvVar+"=x.y:2" {
		t.Fatalf("Env() = %q", got)
	}
}
