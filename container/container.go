package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/cgroups"
)

// File names inside a container's directory, as dockerd names them.
const (
	configFileName     = "config.v2.json"
	hostConfigFileName = "hostconfig.json"
)

// Container is one container. Fields are exported for JSON persistence;
// everything that changes after creation is guarded by the embedded mutex.
type Container struct {
	sync.Mutex `json:"-"`

	ID      string
	Created time.Time
	Name    string // with the leading "/"
	Path    string
	Args    []string

	Config     *container.Config     `json:"Config"`
	HostConfig *container.HostConfig `json:"-"` // kept in hostconfig.json
	// ExtraResources are the cgroup settings HostConfig has no field
	// for, which a pod container gets from the CRI: hugepage limits and
	// cgroup v2 unified keys.
	ExtraResources *cgroups.ExtraResources `json:",omitempty"`

	// Image is the image ID; ImageName the reference the user gave.
	Image     string
	ImageName string

	State                *State
	RestartCount         int
	HasBeenStartedBefore bool
	// HasBeenManuallyStopped keeps unless-stopped containers down across
	// daemon restarts after `docker stop`.
	HasBeenManuallyStopped bool

	Driver          string
	Platform        string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string

	ExecIDs []string `json:"-"`

	// CgroupParent is the cgroup parent the last start used: the
	// container's own, else the daemon's cgroup-parent, which may change
	// between starts while the container's cgroup stays where it was.
	CgroupParent string `json:",omitempty"`
	// CgroupScope is the systemd scope unit the last start placed the
	// container's cgroup in (systemd cgroup driver): its cgroup is then
	// CgroupParent/CgroupScope, and CgroupParent the slice's full
	// cgroup path. Empty under cgroupfs, where the cgroup is
	// CgroupParent/<id>.
	CgroupScope string `json:",omitempty"`

	ResolvConfPath string
	HostnamePath   string
	HostsPath      string
	LogPath        string

	MountPoints map[string]*container.MountPoint
	// VolumeMounts is the volume layer's full record of the mount points
	// (with what the API form drops: the request, copy-up, subpath). The
	// container package keeps it opaque so it does not depend on volume/.
	VolumeMounts    json.RawMessage            `json:",omitempty"`
	NetworkSettings *container.NetworkSettings `json:",omitempty"`
	// NetworkConfig is the create request's NetworkingConfig: aliases,
	// static addresses and further networks to join at start.
	NetworkConfig *network.NetworkingConfig `json:",omitempty"`
	// LinkTargets are the legacy links (--link, off user-defined
	// networks) bound at create: alias → the linked container's ID. Like
	// dockerd's link graph they follow the container, not its name, across
	// renames; the store reserves "/<name>/<alias>" for each. An empty map
	// (every link removed) is kept as such, apart from nil: a container
	// from before links were bound.
	LinkTargets map[string]string
	// JoinOrder names the networks of the running container in the order
	// it joined them: /etc/hosts lists its addresses so, as dockerd's
	// file does, which appends a network's lines when it joins.
	JoinOrder []string `json:",omitempty"`

	// root is DATA_ROOT/containers/<id>.
	root string
	// view is the container as last saved (view.go).
	view atomic.Pointer[Container]
}

// New returns a container in the created state, rooted under dir.
func New(id, dir string) *Container {
	c := &Container{
		ID:          id,
		Created:     time.Now().UTC(),
		State:       &State{},
		Driver:      "overlay2",
		Platform:    "linux",
		MountPoints: map[string]*container.MountPoint{},
		root:        dir,
	}
	c.State.onChange = c.publishCurrent
	return c
}

// Root is the container's state directory.
func (c *Container) Root() string { return c.root }

// Save writes the container's configuration and state atomically. The
// caller holds the lock.
func (c *Container) Save() error {
	if err := os.MkdirAll(c.root, 0o700); err != nil {
		return err
	}
	cfg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	hc, err := json.Marshal(c.HostConfig)
	if err != nil {
		return err
	}
	// hostconfig first: a crash between the two writes leaves the new
	// hostconfig with the old config, which is always loadable. One
	// directory fsync covers both.
	if err := atomicfile.WriteFiles(c.root,
		atomicfile.File{Name: hostConfigFileName, Data: hc, Perm: 0o600},
		atomicfile.File{Name: configFileName, Data: cfg, Perm: 0o600}); err != nil {
		return err
	}
	c.publish(cfg, hc)
	return nil
}

// SaveState writes the container's config, which holds its State, with
// one fsync (of the data, not the directory), and leaves its host config
// alone. It is for transitions into live state (running with a PID, a
// health status) that a power loss ends anyway: after one the file holds
// the previous state or the new one, never an unreadable file (which
// LoadAll would take for a half-created container and remove), and a
// daemon killed without a power loss finds the new one. Save's four
// fsyncs were the largest part of a start after the runtime's.
func (c *Container) SaveState() error {
	cfg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFileNoDirSync(filepath.Join(c.root, configFileName), cfg, 0o600); err != nil {
		return err
	}
	c.publish(cfg, nil)
	return nil
}

// Forget removes the container's config, durably, at the start of its
// removal: a daemon killed while the removal takes the writable layer and
// the directory apart then finds a directory LoadAll hands to its cleanup,
// not a container that loads without its root file system.
func (c *Container) Forget() error {
	if err := os.Remove(filepath.Join(c.root, configFileName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return atomicfile.SyncDir(c.root)
}

// Load reads a container saved under dir.
func Load(dir string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(dir, configFileName))
	if err != nil {
		return nil, err
	}
	c := &Container{State: &State{}}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	c.root = dir
	c.HostConfig = &container.HostConfig{}
	if b, err := os.ReadFile(filepath.Join(dir, hostConfigFileName)); err == nil {
		if err := json.Unmarshal(b, c.HostConfig); err != nil {
			return nil, err
		}
	}
	if c.MountPoints == nil {
		c.MountPoints = map[string]*container.MountPoint{}
	}
	if c.State == nil {
		c.State = &State{}
	}
	c.State.onChange = c.publishCurrent
	return c, nil
}

// PrimaryIP is the IPv4 address of the container's first network, "" when
// it has none (host, none, not running).
func (c *Container) PrimaryIP() string {
	if c.NetworkSettings == nil {
		return ""
	}
	for _, ep := range c.NetworkSettings.Networks {
		if ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	return ""
}
