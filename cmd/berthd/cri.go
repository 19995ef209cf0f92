package main

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/api/cri"
	"github.com/berthd/berth/api/cri/streaming"
	"github.com/berthd/berth/daemon"
	"github.com/berthd/berth/daemon/config"
)

// criFace is the running CRI face: its gRPC server and streaming server.
type criFace struct {
	grpc    *cri.Server
	streams *streaming.Server
}

// startCRI serves the CRI on its socket unless it is turned off.
func startCRI(cfg *config.Config, d *daemon.Daemon) (*criFace, error) {
	if !cfg.CRIEnabled() {
		return nil, nil
	}
	streams, err := streaming.New(streaming.Config{Addr: cfg.CRIStreamAddress()}, criStreamRuntime(d))
	if err != nil {
		return nil, fmt.Errorf("failed to start the CRI streaming server: %w", err)
	}
	path := cfg.CRISocketPath()
	l, err := cri.Listen(path)
	if err != nil {
		streams.Close()
		return nil, fmt.Errorf("failed to listen on the CRI socket %s: %w", path, err)
	}
	f := &criFace{grpc: cri.New(d, cri.Options{Streams: streams}), streams: streams}
	go func() {
		if err := f.grpc.Serve(l); err != nil {
			logrus.WithError(err).Error("CRI server failed")
		}
	}()
	logrus.WithField("socket", path).Info("serving the CRI")
	return f, nil
}

// criStreamRuntime is what runs behind the streaming URLs: the engine's
// exec and attach.
func criStreamRuntime(d *daemon.Daemon) streaming.Runtime { return cri.NewStreamRuntime(d) }

// stop ends every CRI call and stream.
func (f *criFace) stop() {
	if f == nil {
		return
	}
	f.grpc.Stop()
	f.streams.Close()
}
