package fuzztest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The check must see every kind of change an escape makes.
func TestChangedSeesEscapes(t *testing.T) {
	var sb *Sandbox
	for name, escape := range map[string]func() error{
		"write":    func() error { return os.WriteFile(filepath.Join(sb.Sentinel, "file"), []byte("pwned"), 0o644) },
		"create":   func() error { return os.WriteFile(filepath.Join(sb.Sentinel, "dir", "new"), nil, 0o644) },
		"mkdir":    func() error { return os.Mkdir(filepath.Join(sb.Root, "new"), 0o755) },
		"chmod":    func() error { return os.Chmod(filepath.Join(sb.Sentinel, "dir"), 0o4777) },
		"chown":    func() error { return os.Lchown(filepath.Join(sb.Sentinel, "link"), 1, 1) },
		"hardlink": func() error { return os.Link(filepath.Join(sb.Sentinel, "fifo"), filepath.Join(sb.Dest, "l")) },
		"chtimes": func() error {
			return os.Chtimes(filepath.Join(sb.Sentinel, "dir", "inner"), time.Unix(5, 0), time.Unix(5, 0))
		},
		"remove": func() error { return os.Remove(filepath.Join(sb.Sentinel, "link")) },
	} {
		sb = New(t, "selftest-"+name)
		sb.Reset(t)
		if err := sb.Changed(t); err != nil {
			t.Fatalf("%s: changed before anything ran: %v", name, err)
		}
		if err := escape(); err != nil {
			t.Fatal(err)
		}
		if sb.Changed(t) == nil {
			t.Errorf("%s: not seen", name)
		}
	}
}
