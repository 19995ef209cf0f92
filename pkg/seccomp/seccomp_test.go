package seccomp

import (
	"os"
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The moby default profile must compile: it is what every container gets.
func TestBuildDefaultProfile(t *testing.T) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	p, err := profiles.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Build(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	// ExportBPFMem needs libseccomp 2.6; Debian 12 ships 2.5.
	out, err := os.CreateTemp(t.TempDir(), "bpf")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := f.ExportBPF(out); err != nil {
		t.Fatal(err)
	}
	if st, _ := out.Stat(); st.Size() < 8*100 {
		t.Fatalf("default profile compiled to only %d bytes of BPF", st.Size())
	}
}

func TestBuildRejectsUnknownAction(t *testing.T) {
	if _, err := Build(&specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, true); err == nil {
		t.Fatal("unknown default action accepted")
	}
}
