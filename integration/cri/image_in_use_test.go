package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestRemoveImageInUse: RemoveImage of an image a running container
// uses succeeds and takes every name, as containerd's does; the content
// stays with the container, which goes on running, and goes with it.
func TestRemoveImageInUse(t *testing.T) {
	rt, images := clients(t)
	const name = "berth.test/in-use:1"
	dir := t.TempDir()
	// An image of its own: the removal takes every name of the image,
	// and the test image's are other tests'.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+harness.BusyboxImage+"\nLABEL test=in-use\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := d.DockerCmd("build", "-q", "-t", name, "-t", "berth.test/in-use:other", dir)
	cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker build: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { d.Docker("rmi", "-f", id) })

	pod := newTestPod(t)
	cfg := containerConfig("user", "sleep", "1000")
	cfg.Image = &runtimeapi.ImageSpec{Image: name}
	ctr := pod.run(t, rt, cfg)

	if _, err := images.RemoveImage(ctxT(t), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: name}}); err != nil {
		t.Fatalf("RemoveImage of an image in use: %v", err)
	}
	for _, ref := range []string{name, "berth.test/in-use:other"} {
		st, err := images.ImageStatus(ctxT(t), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil || st.GetImage() != nil {
			t.Errorf("ImageStatus(%s) after RemoveImage: %v %v", ref, st.GetImage(), err)
		}
	}
	if got := strings.TrimSpace(execSync(t, rt, ctr, "echo", "still")); got != "still" {
		t.Fatalf("the container after its image's removal: %q", got)
	}
	if got := strings.TrimSpace(d.DockerT(t, "image", "inspect", "--format", "{{len .RepoTags}}", id)); got != "0" {
		t.Fatalf("the image kept %s names", got)
	}
	// Once the container is gone, nothing holds the content.
	if _, err := rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: ctr}); err != nil {
		t.Fatal(err)
	}
	if _, err := images.RemoveImage(ctxT(t), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: id}}); err != nil {
		t.Fatalf("RemoveImage by ID once unused: %v", err)
	}
	if _, _, err := d.Docker("image", "inspect", id); err == nil {
		t.Fatal("the image outlived its last user and its removal")
	}
}
