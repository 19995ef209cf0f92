package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeBackend is what the RuntimeService needs from the engine: pod
// sandboxes (sandbox.go) and their containers (container.go).
type RuntimeBackend interface {
	SandboxBackend
	ContainerBackend
}

// runtimeService implements runtimeapi.RuntimeServiceServer.
type runtimeService struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	b       RuntimeBackend
	streams streamURLs
}

// streamURLs hands out streaming URLs (api/cri/streaming's Server).
type streamURLs interface {
	GetExec(*runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	GetAttach(*runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	GetPortForward(*runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
}

func newRuntimeService(b RuntimeBackend, o Options) *runtimeService {
	s := &runtimeService{b: b}
	if o.Streams != nil {
		s.streams = o.Streams
	}
	return s
}
