package config

import (
	"path/filepath"
	"strings"
)

// Defaults of the CRI face. The pause image is containerd 2.x's default;
// the CNI directories are where Debian's containernetworking-plugins and
// kubeadm put them.
const (
	DefaultPodSandboxImage   = "registry.k8s.io/pause:3.10"
	DefaultCNIConfDir        = "/etc/cni/net.d"
	DefaultRegistryConfigDir = "/etc/berth/certs.d"
	criSocketName            = "cri.sock"
)

// DefaultCNIBinDirs are searched in order for CNI plugins.
var DefaultCNIBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// CRIConfig is daemon.json's "cri" object and the flags beside it.
type CRIConfig struct {
	// Enabled is --cri / "enabled": nil or true serves the CRI socket,
	// false turns it off.
	Enabled *bool `json:"enabled,omitempty"`
	// Socket is unix://PATH (--cri-socket); empty means EXEC-ROOT/cri.sock,
	// /run/berth/cri.sock on the default exec-root.
	Socket string `json:"socket,omitempty"`
	// SandboxImage is the pause image of pod sandboxes (--pod-sandbox-image).
	SandboxImage string `json:"sandbox-image,omitempty"`
	// CNIBinDirs and CNIConfDir locate CNI plugins and their network
	// configurations (--cni-bin-dir, --cni-conf-dir).
	CNIBinDirs []string `json:"cni-bin-dir,omitempty"`
	CNIConfDir string   `json:"cni-conf-dir,omitempty"`
	// StreamAddress is host:port of the exec/attach/port-forward streaming
	// server (--cri-stream-address); port 0 picks a free one, as
	// containerd's stream_server_port = "0" does.
	StreamAddress string `json:"stream-address,omitempty"`
}

// CRIEnabled says whether the CRI socket is served (on by default).
func (c *Config) CRIEnabled() bool { return c.CRI.Enabled == nil || *c.CRI.Enabled }

// CRISocketPath is the path of the CRI socket for c.
func (c *Config) CRISocketPath() string {
	if s := c.CRI.Socket; s != "" {
		return strings.TrimPrefix(s, "unix://")
	}
	return filepath.Join(c.ExecRoot, criSocketName)
}

// PodSandboxImage is the configured pause image or the default.
func (c *Config) PodSandboxImage() string {
	if c.CRI.SandboxImage != "" {
		return c.CRI.SandboxImage
	}
	return DefaultPodSandboxImage
}

// CNIBinDirList is the configured plugin directories or the defaults.
func (c *Config) CNIBinDirList() []string {
	if len(c.CRI.CNIBinDirs) > 0 {
		return c.CRI.CNIBinDirs
	}
	return DefaultCNIBinDirs
}

// CNIConfDirPath is the configured network config directory or the default.
func (c *Config) CNIConfDirPath() string {
	if c.CRI.CNIConfDir != "" {
		return c.CRI.CNIConfDir
	}
	return DefaultCNIConfDir
}

// CRIStreamAddress is where the streaming server listens: loopback on a
// free port unless configured, so exec URLs are never reachable from off
// the host by default.
func (c *Config) CRIStreamAddress() string {
	if c.CRI.StreamAddress != "" {
		return c.CRI.StreamAddress
	}
	return "127.0.0.1:0"
}

// RegistryConfigDirPath is the hosts.toml directory or the default.
func (c *Config) RegistryConfigDirPath() string {
	if c.RegistryConfigDir != "" {
		return c.RegistryConfigDir
	}
	return DefaultRegistryConfigDir
}
