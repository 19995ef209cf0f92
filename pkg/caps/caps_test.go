package caps

import "testing"

func TestParse(t *testing.T) {
	for name, want := range map[string]int{"CAP_CHOWN": 0, "sys_admin": 21, "CAP_NET_RAW": 13, "cap_checkpoint_restore": 40} {
		got, err := Parse(name)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := Parse("CAP_BOGUS"); err == nil {
		t.Error("Parse accepted an unknown capability")
	}
}

func TestDefaultDockerMask(t *testing.T) {
	s, err := FromNames(DefaultDocker)
	if err != nil {
		t.Fatal(err)
	}
	// The value docker shows in CapEff for a default container.
	if s != 0xa80425fb {
		t.Fatalf("default set = %x, want a80425fb", uint64(s))
	}
}
