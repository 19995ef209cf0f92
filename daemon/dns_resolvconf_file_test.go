package daemon

import (
	"os"
	"path/filepath"
	"testing"

	ctr "github.com/berthd/berth/container"
)

// An edited resolv.conf is left alone until the container starts again.
func TestUpdateResolvConfKeepsUserEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := updateResolvConf(path, []byte("nameserver 127.0.0.11\n")); err != nil {
		t.Fatal(err)
	}
	if err := updateResolvConf(path, []byte("nameserver 127.0.0.11\nsearch a\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "nameserver 127.0.0.11\nsearch a\n" {
		t.Fatalf("an unedited file was not updated: %q", b)
	}
	if err := os.WriteFile(path, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateResolvConf(path, []byte("nameserver 127.0.0.11\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "nameserver 192.0.2.1\n" {
		t.Fatalf("the user's edit was overwritten: %q", b)
	}
	forgetResolvConf(&ctr.Container{ResolvConfPath: path})
	if err := updateResolvConf(path, []byte("nameserver 127.0.0.11\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "nameserver 127.0.0.11\n" {
		t.Fatalf("a start did not write a fresh file: %q", b)
	}
}
