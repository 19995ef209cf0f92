package cri

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// fakeImages is an image store of two images.
type fakeImages struct {
	imgs    []backend.CRIImage
	pulled  string
	auth    backend.RegistryAuth
	removed []string
	pullErr error
}

func (f *fakeImages) CRIImages(context.Context) ([]backend.CRIImage, error) { return f.imgs, nil }

func (f *fakeImages) CRIImage(_ context.Context, ref string) (*backend.CRIImage, error) {
	for i := range f.imgs {
		if f.imgs[i].ID == ref || len(f.imgs[i].RepoTags) > 0 && f.imgs[i].RepoTags[0] == ref {
			return &f.imgs[i], nil
		}
	}
	return nil, errdefs.NotFoundf("No such image: %s", ref)
}

func (f *fakeImages) CRIPullImage(_ context.Context, ref string, a backend.RegistryAuth) (string, error) {
	f.pulled, f.auth = ref, a
	return "sha256:pulled", f.pullErr
}

func (f *fakeImages) CRIRemoveImage(_ context.Context, ref string) error {
	f.removed = append(f.removed, ref)
	return nil
}

func (f *fakeImages) CRIImageFsInfo(context.Context) (*backend.CRIFsInfo, error) {
	ts := time.Unix(100, 5)
	return &backend.CRIFsInfo{
		Images:     backend.CRIFilesystem{Mountpoint: "/d/image", UsedBytes: 10, UsedInodes: 2, Timestamp: ts},
		Containers: backend.CRIFilesystem{Mountpoint: "/d/containers", UsedBytes: 20, UsedInodes: 3, Timestamp: ts},
	}, nil
}

func newFakeImageService() (*imageService, *fakeImages) {
	f := &fakeImages{imgs: []backend.CRIImage{
		{ID: "sha256:aa", RepoTags: []string{"registry.k8s.io/pause:3.9"}, RepoDigests: []string{"registry.k8s.io/pause@sha256:11"}, Size: 7, User: "65535:65535", Config: []byte(`{"config":{"User":"65535:65535"}}`)},
		{ID: "sha256:bb", RepoTags: []string{"docker.io/library/web:1"}, User: "www-data:1004"},
	}}
	return newImageService(f), f
}

func TestImageStatus(t *testing.T) {
	s, _ := newFakeImageService()
	ctx := context.Background()
	resp, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.9"}, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	img := resp.Image
	if img.Id != "sha256:aa" || img.Size != 7 || img.Uid.GetValue() != 65535 || img.Username != "" || img.Pinned || img.RepoDigests[0] != "registry.k8s.io/pause@sha256:11" {
		t.Errorf("status: %+v", img)
	}
	var info struct {
		ID        string `json:"id"`
		ImageSpec struct {
			Config struct{ User string }
		} `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil || info.ID != "sha256:aa" || info.ImageSpec.Config.User != "65535:65535" {
		t.Errorf("verbose info %q: %v", resp.Info["info"], err)
	}

	resp, err = s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "sha256:bb"}})
	if err != nil || resp.Image.Uid != nil || resp.Image.Username != "www-data" || resp.Info != nil {
		t.Errorf("named user / no verbose: %+v %v", resp, err)
	}

	resp, err = s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "nope"}})
	if err != nil || resp.Image != nil {
		t.Errorf("unknown image must answer an empty response, got %+v %v", resp, err)
	}
	if _, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no image spec: %v", err)
	}
}

func TestUserOf(t *testing.T) {
	for user, want := range map[string]struct {
		uid  int64
		name string
	}{
		"": {-1, ""}, "1002": {1002, ""}, "www-data": {-1, "www-data"}, "1003:1004": {1003, ""}, "www-data:1004": {-1, "www-data"}, ":5": {-1, ""},
	} {
		uid, name := userOf(user)
		got := int64(-1)
		if uid != nil {
			got = *uid
		}
		if got != want.uid || name != want.name {
			t.Errorf("userOf(%q) = %d %q, want %d %q", user, got, name, want.uid, want.name)
		}
	}
}

func TestListImagesFilter(t *testing.T) {
	s, _ := newFakeImageService()
	ctx := context.Background()
	all, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil || len(all.Images) != 2 {
		t.Fatalf("list: %+v %v", all, err)
	}
	one, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: "docker.io/library/web:1"}}})
	if err != nil || len(one.Images) != 1 || one.Images[0].Id != "sha256:bb" {
		t.Errorf("filter: %+v %v", one, err)
	}
	none, err := s.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: "absent"}}})
	if err != nil || len(none.Images) != 0 {
		t.Errorf("filter on an absent image: %+v %v", none, err)
	}
}

func TestPullPassesAuthAndAnswersID(t *testing.T) {
	s, f := newFakeImageService()
	ctx := context.Background()
	resp, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{
		Image: &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.9"},
		Auth:  &runtimeapi.AuthConfig{Username: "u", Password: "p", Auth: "dTpw", ServerAddress: "registry.k8s.io", IdentityToken: "it", RegistryToken: "rt"},
	})
	if err != nil || resp.ImageRef != "sha256:pulled" {
		t.Fatalf("pull: %+v %v", resp, err)
	}
	if want := (backend.RegistryAuth{Username: "u", Password: "p", Auth: "dTpw", ServerAddress: "registry.k8s.io", IdentityToken: "it", RegistryToken: "rt"}); f.auth != want || f.pulled != "registry.k8s.io/pause:3.9" {
		t.Errorf("backend got %q %+v", f.pulled, f.auth)
	}
	f.pullErr = errdefs.NotFound(errors.New("manifest unknown"))
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "x"}}); status.Code(err) != codes.NotFound {
		t.Errorf("a pull of an absent image: %v, want NotFound", err)
	}
	if _, err := s.PullImage(ctx, &runtimeapi.PullImageRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no image spec: %v", err)
	}
}

func TestImageFsInfo(t *testing.T) {
	s, _ := newFakeImageService()
	resp, err := s.ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	if err != nil || len(resp.ImageFilesystems) != 1 || len(resp.ContainerFilesystems) != 1 {
		t.Fatalf("%+v %v", resp, err)
	}
	i, c := resp.ImageFilesystems[0], resp.ContainerFilesystems[0]
	if i.FsId.Mountpoint != "/d/image" || i.UsedBytes.Value != 10 || i.InodesUsed.Value != 2 || i.Timestamp != 100_000_000_005 {
		t.Errorf("image fs %+v", i)
	}
	if c.FsId.Mountpoint != "/d/containers" || c.UsedBytes.Value != 20 || c.InodesUsed.Value != 3 {
		t.Errorf("container fs %+v", c)
	}
}

func TestImageErrorCodes(t *testing.T) {
	for err, want := range map[error]codes.Code{
		errdefs.NotFound(errors.New("x")):         codes.NotFound,
		errdefs.InvalidParameter(errors.New("x")): codes.InvalidArgument,
		errdefs.Unavailable(errors.New("x")):      codes.Unavailable,
		errdefs.Unauthorized(errors.New("x")):     codes.Unauthenticated,
		errdefs.Conflict(errors.New("x")):         codes.FailedPrecondition,
		context.Canceled:                          codes.Canceled,
		errors.New("x"):                           codes.Unknown,
	} {
		if got := status.Code(grpcError(err)); got != want {
			t.Errorf("%T: %v, want %v", err, got, want)
		}
	}
}

func TestRemoveImage(t *testing.T) {
	s, f := newFakeImageService()
	if _, err := s.RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "sha256:aa"}}); err != nil || len(f.removed) != 1 || f.removed[0] != "sha256:aa" {
		t.Errorf("remove: %v, backend got %q", err, f.removed)
	}
	if _, err := s.RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no image spec: %v", err)
	}
}
