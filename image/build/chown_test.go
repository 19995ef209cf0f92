package build

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestParseChown(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	for spec, want := range map[string][2]int{
		"alice": {1000, 1001}, "alice:staff": {1000, 50}, "7": {7, 7}, "7:8": {7, 8}, "alice:9": {1000, 9},
	} {
		uid, gid, err := parseChown(root, spec)
		if err != nil || uid != want[0] || gid != want[1] {
			t.Errorf("%s: %d:%d %v, want %v", spec, uid, gid, err, want)
		}
	}
	for spec, msg := range map[string]string{"bob": "no such user: bob", "alice:wheel": "no such group: wheel"} {
		if _, _, err := parseChown(root, spec); err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %s", spec, err, msg)
		}
	}
}

// An image's /etc/passwd is untrusted: a FIFO must not stall the build,
// and a link must not name a host user.
func TestParseChownUntrustedPasswd(t *testing.T) {
	host := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(host, []byte("victim:x:4242:4242::/:/bin/sh\n"), 0o644)
	for name, plant := range map[string]func(p string) error{
		"fifo":           func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"link to a host": func(p string) error { return os.Symlink(host, p) },
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			if err := plant(filepath.Join(root, "etc/passwd")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, _, err := parseChown(root, "victim"); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("resolved a user the image does not have")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the lookup blocked")
			}
		})
	}
}
