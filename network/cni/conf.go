package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// ErrNotReady is wrapped by every "there is no usable network
// configuration" error, so callers can tell it from a plugin failure.
var ErrNotReady = errors.New("cni config uninitialized")

// confExtensions are the file kinds kubelet's runtimes read from the
// configuration directory; the lexically first of any of them wins.
var confExtensions = []string{".conflist", ".conf", ".json"}

// confStamp identifies one state of the configuration directory: the
// candidate files' names, sizes and mtimes. Comparing stamps costs a
// readdir and a stat per file, cheap enough to do before every call, so
// that a network config dropped in after start (the usual way a CNI
// daemonset installs one) is picked up without a watcher.
type confStamp string

func stampConfDir(dir string) (confStamp, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	var b strings.Builder
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(confExtensions, filepath.Ext(e.Name())) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since the readdir: the next stamp differs anyway
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return confStamp(b.String()), nil
}

// loadConfDir returns the pod network: the first configuration file in
// lexical order that parses and names at least one plugin. A broken file
// is passed over as kubelet's runtimes do (a half-written file from an
// installer must not take the node's network down), but when nothing
// usable is left the error names what was wrong with each.
func loadConfDir(dir string) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, confExtensions)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrNotReady, dir, err)
	}
	slices.Sort(files)
	var bad []string
	for _, f := range files {
		list, err := loadConfFile(f)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", filepath.Base(f), err))
			continue
		}
		return list, nil
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: no valid network config found in %s (%s)", ErrNotReady, dir, strings.Join(bad, "; "))
	}
	return nil, fmt.Errorf("%w: no network config found in %s", ErrNotReady, dir)
}

// loadConfFile reads one configuration; a single-plugin file (.conf,
// .json) is wrapped into a list of one, as libcni's callers do.
func loadConfFile(path string) (*libcni.NetworkConfigList, error) {
	var list *libcni.NetworkConfigList
	if filepath.Ext(path) == ".conflist" {
		l, err := libcni.NetworkConfFromFile(path)
		if err != nil {
			return nil, err
		}
		list = l
	} else {
		conf, err := libcni.ConfFromFile(path)
		if err != nil {
			return nil, err
		}
		if conf.Network.Type == "" {
			return nil, errors.New("no plugin type")
		}
		if list, err = libcni.ConfListFromConf(conf); err != nil {
			return nil, err
		}
	}
	if len(list.Plugins) == 0 {
		return nil, errors.New("no plugins")
	}
	for i, p := range list.Plugins {
		if p.Network == nil || p.Network.Type == "" {
			return nil, fmt.Errorf("plugin %d has no type", i)
		}
	}
	return list, nil
}

// confCache holds the last configuration read and the stamp it was read
// at; the Manager's mutex guards it.
type confCache struct {
	stamp  confStamp
	loaded bool
	list   *libcni.NetworkConfigList
	err    error
}

// current returns the configuration for the directory as it is now,
// reading it again only when its stamp changed.
func (c *confCache) current(dir string) (*libcni.NetworkConfigList, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: no network config directory configured", ErrNotReady)
	}
	stamp, err := stampConfDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrNotReady, dir, err)
	}
	if c.loaded && stamp == c.stamp {
		return c.list, c.err
	}
	c.list, c.err = loadConfDir(dir)
	c.stamp, c.loaded = stamp, true
	return c.list, c.err
}
