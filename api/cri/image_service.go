package cri

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// ImageBackend is what the ImageService needs from the engine: the image
// store the Docker API uses, so an image kubelet pulls is in docker images.
type ImageBackend interface {
	CRIImages(ctx context.Context) ([]backend.CRIImage, error)
	// CRIImage finds an image by name, ID or digest reference; an
	// unknown one is a not-found error.
	CRIImage(ctx context.Context, ref string) (*backend.CRIImage, error)
	// CRIPullImage answers the pulled image's ID.
	CRIPullImage(ctx context.Context, ref string, auth backend.RegistryAuth) (string, error)
	// CRIRemoveImage removes the image with all its names; an unknown
	// image is no error.
	CRIRemoveImage(ctx context.Context, ref string) error
	CRIImageFsInfo(ctx context.Context) (*backend.CRIFsInfo, error)
}

// imageService implements runtimeapi.ImageServiceServer.
type imageService struct {
	runtimeapi.UnimplementedImageServiceServer
	b ImageBackend
}

func newImageService(b ImageBackend) *imageService { return &imageService{b: b} }

func (s *imageService) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if ref := req.GetFilter().GetImage().GetImage(); ref != "" {
		img, err := s.b.CRIImage(ctx, ref)
		if errdefs.Is(err, errdefs.NotFound) {
			return &runtimeapi.ListImagesResponse{}, nil
		}
		if err != nil {
			return nil, grpcError(err)
		}
		return &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{toCRIImage(img)}}, nil
	}
	imgs, err := s.b.CRIImages(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &runtimeapi.ListImagesResponse{Images: make([]*runtimeapi.Image, 0, len(imgs))}
	for i := range imgs {
		resp.Images = append(resp.Images, toCRIImage(&imgs[i]))
	}
	return resp, nil
}

// ImageStatus answers an empty response for an unknown image: the CRI
// says so, and kubelet pulls on it.
func (s *imageService) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, status.Error(codes.InvalidArgument, "image spec is required")
	}
	img, err := s.b.CRIImage(ctx, ref)
	if errdefs.Is(err, errdefs.NotFound) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &runtimeapi.ImageStatusResponse{Image: toCRIImage(img)}
	if req.GetVerbose() {
		info, err := verboseInfo(img)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.Info = info
	}
	return resp, nil
}

// PullImage ignores sandbox_config: berth's image store is one per
// host, whatever pod asks.
func (s *imageService) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, status.Error(codes.InvalidArgument, "image spec is required")
	}
	var auth backend.RegistryAuth
	if a := req.GetAuth(); a != nil {
		auth = backend.RegistryAuth{
			Username:      a.Username,
			Password:      a.Password,
			Auth:          a.Auth,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
	}
	id, err := s.b.CRIPullImage(ctx, ref, auth)
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: id}, nil
}

func (s *imageService) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, status.Error(codes.InvalidArgument, "image spec is required")
	}
	if err := s.b.CRIRemoveImage(ctx, ref); err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (s *imageService) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	fi, err := s.b.CRIImageFsInfo(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{toFilesystemUsage(fi.Images)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{toFilesystemUsage(fi.Containers)},
	}, nil
}

func toFilesystemUsage(f backend.CRIFilesystem) *runtimeapi.FilesystemUsage {
	return &runtimeapi.FilesystemUsage{
		Timestamp:  f.Timestamp.UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: f.Mountpoint},
		UsedBytes:  &runtimeapi.UInt64Value{Value: f.UsedBytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: f.UsedInodes},
	}
}

func toCRIImage(img *backend.CRIImage) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
	}
	uid, name := userOf(img.User)
	if uid != nil {
		out.Uid = &runtimeapi.Int64Value{Value: *uid}
	}
	out.Username = name
	return out
}

// userOf splits an image's User (user[:group]) the way kubelet's
// runAsNonRoot check reads it: a numeric user is a UID, anything else a
// name; the group does not matter.
func userOf(user string) (*int64, string) {
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		return nil, ""
	}
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		return &uid, ""
	}
	return nil, user
}

// verboseInfo is ImageStatus's verbose map: "info" holds the image ID
// and its config (containerd puts the OCI config under imageSpec too).
func verboseInfo(img *backend.CRIImage) (map[string]string, error) {
	cfg := json.RawMessage(img.Config)
	if len(cfg) == 0 {
		cfg = json.RawMessage("null")
	}
	b, err := json.Marshal(struct {
		ID        string          `json:"id"`
		ImageSpec json.RawMessage `json:"imageSpec"`
	}{img.ID, cfg})
	if err != nil {
		return nil, err
	}
	return map[string]string{"info": string(b)}, nil
}
