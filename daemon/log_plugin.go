package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/stringid"
	volumeplugin "github.com/berthd/berth/volume/plugin"
)

// Log driver plugins (--log-driver NAME of a plugin offering
// "logdriver") are fed by a forwarder (log_forward.go), which writes each
// entry to the plugin through a FIFO, in the plugin protocol's framing (a
// big-endian uint32 length, then a LogEntry protobuf).

const (
	logDriverKind = "LogDriver"
	// pluginLogDir is where the FIFOs are, as the plugin sees it.
	pluginLogDir = "/run/docker/logging"
)

// checkLogPlugin refuses a log driver that is not an installed plugin
// offering it, with dockerd's words.
func (d *Daemon) checkLogPlugin(ctx context.Context, driver string) error {
	if _, err := d.pluginRegistry.Get(ctx, driver, logDriverKind); err != nil {
		return errdefs.InvalidParameterf("error looking up logging plugin %s: %v", driver, err)
	}
	return nil
}

// pluginSink writes entries to a plugin's FIFO.
type pluginSink struct {
	p          *volumeplugin.Plugin
	id         string
	file, host string // the FIFO as the plugin and as the host sees it
	fifo       *os.File
	buf        []byte
}

// openPluginSink makes c's FIFO and tells the plugin to start reading it.
func (d *Daemon) openPluginSink(ctx context.Context, c *ctr.Container) (logSink, error) {
	driver := c.HostConfig.LogConfig.Type
	p, err := d.pluginRegistry.Get(ctx, driver, logDriverKind)
	if err != nil {
		return nil, errdefs.InvalidParameterf("error looking up logging plugin %s: %v", driver, err)
	}
	file := pluginLogDir + "/" + stringid.GenerateRandomID()
	host := p.HostPath(file)
	if err := os.MkdirAll(filepath.Dir(host), 0o700); err != nil {
		return nil, errdefs.System(err)
	}
	if err := unix.Mkfifo(host, 0o600); err != nil {
		return nil, errdefs.System(fmt.Errorf("error creating i/o pipe for log plugin %s: %w", driver, err))
	}
	// Read-write: a plugin that has not opened its end yet, or that died,
	// never makes a write fail with EPIPE; the forwarder waits instead.
	fifo, err := os.OpenFile(host, os.O_RDWR, 0)
	if err != nil {
		os.Remove(host)
		return nil, errdefs.System(fmt.Errorf("error creating i/o pipe for log plugin %s: %w", driver, err))
	}
	var ret struct{ Err string }
	err = p.Call(ctx, "LogDriver.StartLogging", struct {
		File string
		Info logger.Info
	}{file, containerLogInfo(c)}, &ret)
	if err == nil && ret.Err != "" {
		err = fmt.Errorf("%s", ret.Err)
	}
	if err != nil {
		fifo.Close()
		os.Remove(host)
		return nil, errdefs.System(fmt.Errorf("failed to initialize logging driver: error creating logger: %w", err))
	}
	return &pluginSink{p: p, id: c.ID, file: file, host: host, fifo: fifo}, nil
}

func (s *pluginSink) send(e *jsonlog.Entry) error {
	s.buf = appendLogEntry(s.buf[:0], e)
	_, err := s.fifo.Write(s.buf)
	return err
}

// close tells the plugin to stop, then removes the FIFO.
func (s *pluginSink) close(ctx context.Context) {
	var ret struct{ Err string }
	if err := s.p.Call(ctx, "LogDriver.StopLogging", struct{ File string }{s.file}, &ret); err != nil || ret.Err != "" {
		logrus.WithError(err).WithField("container", stringid.TruncateID(s.id)).WithField("plugin", ret.Err).Warn("StopLogging")
	}
	s.fifo.Close()
	os.Remove(s.host)
}

// appendLogEntry appends e in the plugin framing: the length, then the
// LogEntry message (source = 1, time_nano = 2, line = 3, partial = 4).
// The line goes without its newline; one without is partial, as dockerd's
// copier marks it.
func appendLogEntry(dst []byte, e *jsonlog.Entry) []byte {
	line := e.Log
	partial := !bytes.HasSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\n"))
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendProtoBytes(dst, 1, []byte(e.Stream))
	if ns := e.Time.UnixNano(); ns != 0 {
		dst = appendProtoVarint(dst, 2, uint64(ns))
	}
	dst = appendProtoBytes(dst, 3, line)
	if partial {
		dst = appendProtoVarint(dst, 4, 1)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendProtoVarint(dst []byte, field int, v uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(field<<3|0))
	return binary.AppendUvarint(dst, v)
}

func appendProtoBytes(dst []byte, field int, s []byte) []byte {
	if len(s) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(field<<3|2))
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
