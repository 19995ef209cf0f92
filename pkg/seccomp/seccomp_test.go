package seccomp

import (
	"bytes"
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

// The cached program must be exactly what libseccomp would load itself,
// and one compile must serve every container with the same profile.
func TestCompileMatchesLibseccompAndCaches(t *testing.T) {
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	prof, err := profiles.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(prof, false)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Build(prof, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	out, err := os.CreateTemp(t.TempDir(), "bpf")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := f.ExportBPF(out); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.BPF, want) {
		t.Fatalf("compiled program (%d bytes) differs from libseccomp's export (%d bytes)", len(p.BPF), len(want))
	}
	if p.Flags != 0 {
		t.Errorf("flags %#x for a profile without flags", p.Flags)
	}
	again, err := Compile(prof, false)
	if err != nil || again != p {
		t.Fatalf("second compile of the same profile not cached: %p %p %v", again, p, err)
	}
	prof2 := *prof
	prof2.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}
	p2, err := Compile(&prof2, false)
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p || p2.Flags != flagLog {
		t.Fatalf("log flag: same program %v, flags %#x", p2 == p, p2.Flags)
	}
}
