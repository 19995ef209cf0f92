package system

import (
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestShimInitialisesEarly guards the memory of every shim. A shim is a
// re-exec of berthd that takes over from pkg/shim's initialisation, so
// the packages the linker orders before pkg/shim are initialised in every
// shim as well. Two of berthd's packages compile regular expressions at
// initialisation, about 450 KiB of heap that a shim would keep for the
// container's lifetime (a quarter of its private memory); today they come
// after pkg/shim. Go orders initialisation by import path among the
// packages whose imports are done, so a new import in pkg/shim or
// pkg/runtime of a package that sorts late (runtime/debug, for one) can
// move them before it. This reads the order from the binary.
func TestShimInitialisesEarly(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	order, err := initOrder(bin)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, p := range order {
		pos[p] = i
	}
	for _, p := range []string{"github.com/berthd/berth/pkg/shim", "github.com/berthd/berth/pkg/runtime"} {
		takeover, ok := pos[p]
		if !ok {
			t.Fatalf("%s is not in %s's initialisation order", p, bin)
		}
		for _, heavy := range []string{"github.com/distribution/reference", "github.com/opencontainers/go-digest"} {
			if i, ok := pos[heavy]; ok && i < takeover {
				t.Errorf("%s is initialised before %s (%d < %d): every shim and init stage pays for it", heavy, p, i, takeover)
			}
		}
	}
}

// initOrder lists the packages in the order the Go runtime initialises
// them: the linker's go:main.inittasks, an array of pointers to each
// package's "<path>..inittask" symbol.
func initOrder(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	byAddr := map[uint64]string{}
	var tasks elf.Symbol
	for _, s := range syms {
		byAddr[s.Value] = s.Name
		if s.Name == "go:main.inittasks" {
			tasks = s
		}
	}
	var data []byte
	for _, sec := range f.Sections {
		if tasks.Size > 0 && tasks.Value >= sec.Addr && tasks.Value+tasks.Size <= sec.Addr+sec.Size {
			b, err := sec.Data()
			if err != nil {
				return nil, err
			}
			data = b[tasks.Value-sec.Addr : tasks.Value-sec.Addr+tasks.Size]
		}
	}
	var out []string
	for i := 0; i+8 <= len(data); i += 8 {
		name := byAddr[binary.LittleEndian.Uint64(data[i:])]
		const suffix = "..inittask"
		if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
			out = append(out, name[:len(name)-len(suffix)])
		}
	}
	return out, nil
}
