//go:build !berth_faults

package faultpoint

import (
	"testing"
)

// TestHitIsInertWithoutTag: an armed point does nothing in a binary
// built without berth_faults (the test would die otherwise).
func TestHitIsInertWithoutTag(t *testing.T) {
	t.Setenv(EnvVar, "test.point")
	Hit("test.point")
	if Env() != nil || Enabled {
		t.Fatal("the hook is compiled in without the build tag")
	}
}
