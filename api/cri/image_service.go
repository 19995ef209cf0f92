package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageBackend is what the ImageService needs from the engine: the image
// store the Docker API uses, so an image kubelet pulls is in docker images.
type ImageBackend interface{}

// imageService implements runtimeapi.ImageServiceServer.
type imageService struct {
	runtimeapi.UnimplementedImageServiceServer
	b ImageBackend
}

func newImageService(b ImageBackend) *imageService { return &imageService{b: b} }
