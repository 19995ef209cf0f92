package build

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A context's Dockerfile and .dockerignore are the client's: a link to a
// host file, a FIFO or a device must neither be read nor block the build.
func TestContextFilesStayInTheContext(t *testing.T) {
	host := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(host, []byte("FROM host-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(dir string) error
	}{
		{"absolute link to a host file", func(dir string) error { return os.Symlink(host, filepath.Join(dir, "Dockerfile")) }},
		{"relative link out of the context", func(dir string) error {
			rel, _ := filepath.Rel(dir, host)
			return os.Symlink(rel, filepath.Join(dir, "Dockerfile"))
		}},
		{"magic link", func(dir string) error { return os.Symlink("/proc/self/root"+host, filepath.Join(dir, "Dockerfile")) }},
		{"fifo", func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "Dockerfile"), 0o644) }},
		{"device", func(dir string) error { return os.Symlink("/dev/zero", filepath.Join(dir, "Dockerfile")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			c := &Context{Dir: dir}
			done := make(chan error, 1)
			go func() { done <- c.readDockerfile() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "Cannot locate specified Dockerfile: Dockerfile") {
					t.Fatalf("err = %v, Dockerfile = %q", err, c.Dockerfile)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("reading the Dockerfile blocked")
			}
		})
	}
}

func TestDockerfileLinkInsideTheContextIsFollowed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "real"), []byte("FROM scratch\n"), 0o644)
	// Absolute links resolve at the context's root, as in dockerd's scope.
	os.Symlink("/sub/real", filepath.Join(dir, "Dockerfile"))
	c := &Context{Dir: dir}
	if err := c.readDockerfile(); err != nil {
		t.Fatal(err)
	}
	if string(c.Dockerfile) != "FROM scratch\n" {
		t.Fatalf("Dockerfile = %q", c.Dockerfile)
	}
}

func TestDockerignoreStaysInTheContext(t *testing.T) {
	host := filepath.Join(t.TempDir(), "patterns")
	os.WriteFile(host, []byte("keep\n"), 0o644)
	for name, setup := range map[string]func(dir string) error{
		"link to a host file": func(dir string) error { return os.Symlink(host, filepath.Join(dir, ".dockerignore")) },
		"fifo":                func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, ".dockerignore"), 0o644) },
		"device":              func(dir string) error { return os.Symlink("/dev/urandom", filepath.Join(dir, ".dockerignore")) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644)
			if err := setup(dir); err != nil {
				t.Fatal(err)
			}
			c := &Context{Dir: dir}
			done := make(chan error, 1)
			go func() { done <- c.applyDockerignore() }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("reading .dockerignore blocked")
			}
			if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
				t.Fatalf("a host file's lines were taken as patterns: %v", err)
			}
		})
	}
}
