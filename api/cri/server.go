package cri

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/api/cri/streaming"
)

// Backend is what the CRI face needs from the engine.
type Backend interface {
	RuntimeBackend
	ImageBackend
}

// Options configure a Server.
type Options struct {
	// Streams hands out the exec, attach and port-forward URLs.
	Streams *streaming.Server
}

// Server serves the CRI RuntimeService and ImageService.
type Server struct {
	grpc *grpc.Server
}

// maxMsgSize matches kubelet's and containerd's 16 MiB limit, so large
// ListContainers answers pass.
const maxMsgSize = 16 << 20

// New builds the gRPC server over b.
func New(b Backend, o Options) *Server {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize))
	runtimeapi.RegisterRuntimeServiceServer(g, newRuntimeService(b, o))
	runtimeapi.RegisterImageServiceServer(g, newImageService(b))
	return &Server{grpc: g}
}

// Serve answers on l until Stop.
func (s *Server) Serve(l net.Listener) error {
	err := s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop closes the listeners and every open call.
func (s *Server) Stop() { s.grpc.Stop() }

// Listen opens the CRI socket at path (unix:// is accepted), removing a
// stale one a killed daemon left, readable and writable by root only:
// whoever can reach the CRI controls every pod.
func Listen(path string) (net.Listener, error) {
	path = strings.TrimPrefix(path, "unix://")
	if path == "" {
		return nil, errors.New("cri: empty socket path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("cri: remove stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
