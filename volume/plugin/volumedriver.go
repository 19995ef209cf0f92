package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berthd/berth/volume"
)

// VolumeDriverKind is the subsystem name a volume plugin implements.
const VolumeDriverKind = "VolumeDriver"

// wireVolume is a volume as VolumeDriver.Get and List describe it.
type wireVolume struct {
	Name       string
	Mountpoint string         `json:",omitempty"`
	CreatedAt  string         `json:",omitempty"`
	Status     map[string]any `json:",omitempty"`
}

// Driver adapts a VolumeDriver plugin to volume.Driver.
type Driver struct {
	p *Plugin

	scopeOnce sync.Once
	scope     string
}

// NewDriver wraps an activated plugin.
func NewDriver(p *Plugin) *Driver { return &Driver{p: p} }

// Name is the plugin's name.
func (d *Driver) Name() string { return d.p.name }

// Scope asks the plugin once (VolumeDriver.Capabilities); a plugin that
// does not answer is local, as dockerd assumes.
func (d *Driver) Scope(ctx context.Context) string {
	d.scopeOnce.Do(func() {
		d.scope = volume.ScopeLocal
		var ret struct {
			Capabilities struct{ Scope string }
			Err          string
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := d.p.Call(ctx, "VolumeDriver.Capabilities", struct{}{}, &ret); err == nil && ret.Err == "" {
			if ret.Capabilities.Scope == volume.ScopeGlobal {
				d.scope = volume.ScopeGlobal
			}
		}
	})
	return d.scope
}

func remoteErr(method, msg string) error {
	if msg == "" {
		return nil
	}
	return &RemoteError{Method: method, Msg: msg}
}

// Create asks the plugin to create the volume.
func (d *Driver) Create(ctx context.Context, name string, opts map[string]string) (volume.Volume, error) {
	var ret struct{ Err string }
	if err := d.p.Call(ctx, "VolumeDriver.Create", struct {
		Name string
		Opts map[string]string
	}{name, opts}, &ret); err != nil {
		return nil, err
	}
	if err := remoteErr("VolumeDriver.Create", ret.Err); err != nil {
		return nil, err
	}
	return &pluginVolume{d: d, name: name}, nil
}

// Remove asks the plugin to delete the volume.
func (d *Driver) Remove(ctx context.Context, v volume.Volume) error {
	var ret struct{ Err string }
	if err := d.p.Call(ctx, "VolumeDriver.Remove", struct{ Name string }{v.Name()}, &ret); err != nil {
		return err
	}
	return remoteErr("VolumeDriver.Remove", ret.Err)
}

// Get asks the plugin for one volume. A plugin-reported error is "no such
// volume" (plugins word it as they like); failing to reach the plugin is
// returned as is.
func (d *Driver) Get(ctx context.Context, name string) (volume.Volume, error) {
	var ret struct {
		Volume *wireVolume
		Err    string
	}
	if err := d.p.Call(ctx, "VolumeDriver.Get", struct{ Name string }{name}, &ret); err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s", volume.ErrNotFound, re.Msg)
		}
		return nil, err
	}
	if ret.Err != "" || ret.Volume == nil {
		return nil, volume.ErrNotFound
	}
	return d.fromWire(ret.Volume), nil
}

// List asks the plugin for all its volumes.
func (d *Driver) List(ctx context.Context) ([]volume.Volume, error) {
	var ret struct {
		Volumes []*wireVolume
		Err     string
	}
	if err := d.p.Call(ctx, "VolumeDriver.List", struct{}{}, &ret); err != nil {
		return nil, err
	}
	if err := remoteErr("VolumeDriver.List", ret.Err); err != nil {
		return nil, err
	}
	out := make([]volume.Volume, 0, len(ret.Volumes))
	for _, w := range ret.Volumes {
		if w != nil {
			out = append(out, d.fromWire(w))
		}
	}
	return out, nil
}

func (d *Driver) fromWire(w *wireVolume) *pluginVolume {
	v := &pluginVolume{d: d, name: w.Name, mountpoint: d.p.HostPath(w.Mountpoint), status: w.Status}
	if w.CreatedAt != "" {
		v.createdAt, _ = time.Parse(time.RFC3339Nano, w.CreatedAt)
	}
	return v
}

// pluginVolume is one volume of a plugin.
type pluginVolume struct {
	d         *Driver
	name      string
	createdAt time.Time
	status    map[string]any

	mu         sync.Mutex
	mountpoint string
}

func (v *pluginVolume) Name() string           { return v.name }
func (v *pluginVolume) DriverName() string     { return v.d.p.name }
func (v *pluginVolume) CreatedAt() time.Time   { return v.createdAt }
func (v *pluginVolume) Status() map[string]any { return v.status }

// Path is the mountpoint the plugin last reported.
func (v *pluginVolume) Path() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mountpoint
}

// Mount asks the plugin to mount the volume for id.
func (v *pluginVolume) Mount(ctx context.Context, id string) (string, error) {
	var ret struct {
		Mountpoint string
		Err        string
	}
	if err := v.d.p.Call(ctx, "VolumeDriver.Mount", struct{ Name, ID string }{v.name, id}, &ret); err != nil {
		return "", err
	}
	if err := remoteErr("VolumeDriver.Mount", ret.Err); err != nil {
		return "", err
	}
	v.mu.Lock()
	v.mountpoint = v.d.p.HostPath(ret.Mountpoint)
	mp := v.mountpoint
	v.mu.Unlock()
	return mp, nil
}

// Unmount tells the plugin id no longer uses the volume.
func (v *pluginVolume) Unmount(ctx context.Context, id string) error {
	var ret struct{ Err string }
	if err := v.d.p.Call(ctx, "VolumeDriver.Unmount", struct{ Name, ID string }{v.name, id}, &ret); err != nil {
		return err
	}
	return remoteErr("VolumeDriver.Unmount", ret.Err)
}

// RefreshPath asks the plugin where the volume is (VolumeDriver.Path).
func (v *pluginVolume) RefreshPath(ctx context.Context) (string, error) {
	var ret struct {
		Mountpoint string
		Err        string
	}
	if err := v.d.p.Call(ctx, "VolumeDriver.Path", struct{ Name string }{v.name}, &ret); err != nil {
		return "", err
	}
	if err := remoteErr("VolumeDriver.Path", ret.Err); err != nil {
		return "", err
	}
	v.mu.Lock()
	v.mountpoint = v.d.p.HostPath(ret.Mountpoint)
	mp := v.mountpoint
	v.mu.Unlock()
	return mp, nil
}
