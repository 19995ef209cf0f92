package cri

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/integration/internal/harness"
)

// mirrorDaemon starts a berthd of the test's own whose
// --registry-config-dir is a private directory (the package's daemon
// reads the host's /etc/berth/certs.d), and dials its CRI image service.
func mirrorDaemon(t *testing.T) (*harness.Daemon, runtimeapi.ImageServiceClient, string) {
	t.Helper()
	dir := t.TempDir()
	dm := harness.Fresh(t, harness.Options{Args: []string{"--registry-config-dir", dir}})
	conn, err := grpc.NewClient("unix://"+filepath.Join(dm.ExecRoot, "cri.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return dm, runtimeapi.NewImageServiceClient(conn), dir
}

func spec(ref string) *runtimeapi.ImageSpec { return &runtimeapi.ImageSpec{Image: ref} }

// dockerImages is what `docker images` lists, as repository:tag.
func dockerImages(t *testing.T, dm *harness.Daemon) []string {
	t.Helper()
	return strings.Fields(dm.DockerT(t, "images", "--format", "{{.Repository}}:{{.Tag}}"))
}

// TestCRIImagesThroughMirror: registry.k8s.io/… is pulled from a mirror
// named in hosts.toml and keeps its own name, for the CRI and the
// Docker API alike; ImageStatus, ListImages, RemoveImage and ImageFsInfo
// answer from the store docker images shows.
func TestCRIImagesThroughMirror(t *testing.T) {
	dm, images, confDir := mirrorDaemon(t)
	reg := startImageRegistry(t, "", "")
	ctx := ctxT(t)

	// Two images in the mirror: busybox, and one whose config says
	// USER www-data:1004 (kubelet's runAsNonRoot reads it).
	dm.LoadTestImages(t)
	build := dm.DockerCmd("build", "-q", "-t", "named-user:1", "-")
	build.Stdin = strings.NewReader("FROM " + harness.BusyboxImage + "\nUSER www-data:1004\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	reg.push(t, dm, harness.BusyboxImage, "e2e/busybox:1.29")
	userDigest := reg.push(t, dm, "named-user:1", "e2e/user:1")
	for _, ref := range []string{reg.Addr + "/e2e/busybox:1.29", reg.Addr + "/e2e/user:1", "named-user:1", harness.BusyboxImage, harness.TwoLayerImage} {
		dm.DockerT(t, "rmi", ref)
	}
	reg.mirrorFor(t, confDir, "registry.k8s.io")

	const name = "registry.k8s.io/e2e/busybox:1.29"
	pulled, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(name), SandboxConfig: &runtimeapi.PodSandboxConfig{}})
	if err != nil {
		t.Fatalf("CRI pull through the mirror: %v\n%s", err, dm.LogTail(20))
	}
	if !strings.HasPrefix(pulled.ImageRef, "sha256:") {
		t.Errorf("image_ref %q, want the image ID", pulled.ImageRef)
	}

	t.Run("status keeps the original name", func(t *testing.T) {
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(name), Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		img := st.GetImage()
		if img.GetId() != pulled.ImageRef || !slices.Contains(img.RepoTags, name) || img.Size == 0 || img.Pinned {
			t.Errorf("status %+v", img)
		}
		if len(img.RepoDigests) != 1 || !strings.HasPrefix(img.RepoDigests[0], "registry.k8s.io/e2e/busybox@sha256:") {
			t.Errorf("repo digests %v, want the original name's", img.RepoDigests)
		}
		var info struct {
			ID        string `json:"id"`
			ImageSpec struct {
				OS     string `json:"os"`
				RootFS struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
			} `json:"imageSpec"`
		}
		if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.ID != pulled.ImageRef || info.ImageSpec.OS != "linux" || len(info.ImageSpec.RootFS.DiffIDs) == 0 {
			t.Errorf("verbose info %q: %v", st.Info["info"], err)
		}
	})

	t.Run("docker images shows it", func(t *testing.T) {
		if got := dockerImages(t, dm); !slices.Contains(got, name) {
			t.Errorf("docker images %v lacks %s", got, name)
		}
		if id := strings.TrimSpace(dm.DockerT(t, "inspect", "--format", "{{.Id}}", name)); id != pulled.ImageRef {
			t.Errorf("docker inspect: %s, CRI: %s", id, pulled.ImageRef)
		}
	})

	t.Run("pull by digest with the image's user", func(t *testing.T) {
		ref := "registry.k8s.io/e2e/user@" + userDigest
		p, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(ref)})
		if err != nil {
			t.Fatal(err)
		}
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(ref)})
		if err != nil {
			t.Fatal(err)
		}
		img := st.GetImage()
		if img.GetId() != p.ImageRef || !slices.Contains(img.RepoDigests, ref) || len(img.RepoTags) != 0 {
			t.Errorf("status by digest %+v", img)
		}
		if img.Uid != nil || img.Username != "www-data" {
			t.Errorf("uid %v username %q, want the name www-data", img.Uid, img.Username)
		}
		// The same image is also found by its ID.
		if st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(p.ImageRef)}); err != nil || st.GetImage().GetId() != p.ImageRef {
			t.Errorf("status by ID: %+v %v", st, err)
		}
	})

	t.Run("list and filter", func(t *testing.T) {
		all, err := images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
		if err != nil || len(all.Images) != 2 {
			t.Fatalf("list: %d images, %v", len(all.GetImages()), err)
		}
		one, err := images.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: spec(name)}})
		if err != nil || len(one.Images) != 1 || one.Images[0].Id != pulled.ImageRef {
			t.Errorf("filtered list %+v %v", one, err)
		}
	})

	t.Run("unknown image", func(t *testing.T) {
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("registry.k8s.io/absent:1")})
		if err != nil || st.Image != nil {
			t.Errorf("status of an unknown image: %+v %v, want an empty answer", st, err)
		}
		// The mirror has no such image and the server is out of reach.
		if _, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("registry.k8s.io/absent:1")}); err == nil {
			t.Error("pull of an image nobody has succeeded")
		}
	})

	t.Run("fs info", func(t *testing.T) {
		fi, err := images.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fi.ImageFilesystems) != 1 || len(fi.ContainerFilesystems) != 1 {
			t.Fatalf("fs info %+v", fi)
		}
		i, c := fi.ImageFilesystems[0], fi.ContainerFilesystems[0]
		if i.FsId.Mountpoint != filepath.Join(dm.DataRoot, "image") || i.UsedBytes.GetValue() == 0 || i.InodesUsed.GetValue() == 0 || i.Timestamp == 0 {
			t.Errorf("image fs %+v", i)
		}
		if c.FsId.Mountpoint != filepath.Join(dm.DataRoot, "containers") || c.UsedBytes == nil || c.InodesUsed == nil {
			t.Errorf("container fs %+v", c)
		}
	})

	t.Run("remove every name, idempotently", func(t *testing.T) {
		dm.DockerT(t, "tag", name, "another/name:x")
		if _, err := images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(pulled.ImageRef)}); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{name, "another/name:x", pulled.ImageRef} {
			if st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(ref)}); err != nil || st.Image != nil {
				t.Errorf("%s after RemoveImage: %+v %v", ref, st, err)
			}
		}
		if got := dockerImages(t, dm); slices.Contains(got, name) || slices.Contains(got, "another/name:x") {
			t.Errorf("docker images still shows the removed image: %v", got)
		}
		for _, ref := range []string{pulled.ImageRef, name, "never/was:here"} {
			if _, err := images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(ref)}); err != nil {
				t.Errorf("RemoveImage(%s) of an absent image: %v, want success", ref, err)
			}
		}
		if _, err := images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec("")}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("RemoveImage without a name: %v", err)
		}
	})

	t.Run("docker pull uses the mirror too", func(t *testing.T) {
		dm.DockerT(t, "pull", name)
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(name)})
		if err != nil || st.GetImage().GetId() != pulled.ImageRef {
			t.Errorf("after docker pull, CRI status %+v %v", st, err)
		}
	})

	t.Run("docker push goes to a host that may push", func(t *testing.T) {
		dir := filepath.Join(confDir, "push.example")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		toml := "server = \"https://push.example\"\n[host.\"http://" + reg.Addr + "\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		dm.DockerT(t, "tag", name, "push.example/pushed/busybox:2")
		dm.DockerT(t, "push", "push.example/pushed/busybox:2")
		resp, err := http.Get("http://" + reg.Addr + "/v2/pushed/busybox/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tags struct{ Tags []string }
		if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil || !slices.Contains(tags.Tags, "2") {
			t.Errorf("the push did not reach the mirror: %+v %v", tags, err)
		}
	})

	t.Run("a broken hosts.toml fails the pull with its name", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(confDir, "registry.k8s.io", "hosts.toml"), []byte("server = \n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(name)})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "hosts.toml") {
			t.Errorf("pull with a broken hosts.toml: %v", err)
		}
	})
}

// TestCRIPullWithAuth: the credentials kubelet passes reach a mirror
// that asks for them; without them, or with wrong ones, the pull fails;
// credentials that name another registry are not handed to the mirror.
func TestCRIPullWithAuth(t *testing.T) {
	dm, images, confDir := mirrorDaemon(t)
	reg := startImageRegistry(t, "cri-user", "cri-pass")
	ctx := ctxT(t)
	dm.LoadTestImages(t)
	reg.push(t, dm, harness.BusyboxImage, "private/busybox:1")
	reg.mirrorFor(t, confDir, "k8s.gcr.io")
	const name = "k8s.gcr.io/private/busybox:1"

	for _, bad := range []*runtimeapi.AuthConfig{
		nil,
		{Username: "cri-user", Password: "wrong"},
		{Username: "cri-user", Password: "cri-pass", ServerAddress: "k8s.gcr.io"},
	} {
		if _, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(name), Auth: bad}); err == nil {
			t.Errorf("pull with auth %+v succeeded", bad)
		}
	}
	for _, good := range []*runtimeapi.AuthConfig{
		{Username: "cri-user", Password: "cri-pass"},
		{Auth: "Y3JpLXVzZXI6Y3JpLXBhc3M="}, // base64("cri-user:cri-pass")
		{Username: "cri-user", Password: "cri-pass", ServerAddress: reg.Addr},
	} {
		p, err := images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec(name), Auth: good})
		if err != nil {
			t.Fatalf("pull with auth %+v: %v", good, err)
		}
		st, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(name)})
		if err != nil || st.GetImage().GetId() != p.ImageRef {
			t.Errorf("status after the authenticated pull: %+v %v", st, err)
		}
		if _, err := images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec(name)}); err != nil {
			t.Fatal(err)
		}
	}
}
