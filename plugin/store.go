package plugin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Files of a plugin's directory, DATA_ROOT/plugins/<id>.
const (
	recordFile = "plugin.json"
	rootfsDir  = "rootfs"
	// blobsDir holds the plugin as a registry holds it, for push: the
	// config blob byte for byte (its digest is the manifest's) and the
	// root filesystem's layers, each named by its digest.
	blobsDir = "blobs"
	// propagatedDir is the host side of the config's PropagatedMount.
	propagatedDir = "propagated-mount"
)

// MediaTypeConfig is a plugin config's media type in a registry manifest.
const MediaTypeConfig = "application/vnd.docker.plugin.v1+json"

// MediaTypeLayer is the media type of a plugin's root filesystem layer.
const MediaTypeLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"

// record is what DATA_ROOT/plugins/<id>/plugin.json holds: the API's view
// and the blobs the plugin came from.
type record struct {
	plugin.Plugin
	Blobs blobs `json:"blobs"`
}

// blobs name the registry blobs a plugin is made of.
type blobs struct {
	Config Blob   `json:"config"`
	Layers []Blob `json:"layers"`
}

// Blob is one registry blob of a plugin.
type Blob struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// blobPath is where a plugin keeps the blob with digest dgst
// ("sha256:<hex>"); the name has no separator a digest could smuggle in.
func (m *Manager) blobPath(id, dgst string) string {
	return filepath.Join(m.dir(id), blobsDir, strings.ReplaceAll(filepath.Base(dgst), ":", "-"))
}

func (m *Manager) dir(id string) string { return filepath.Join(m.root, id) }

func (m *Manager) save(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(m.dir(r.ID), recordFile), b, 0o600)
}

// load reads every plugin record; a directory without one is a plugin whose
// install did not finish, and is removed.
func (m *Manager) load() error {
	ents, err := os.ReadDir(m.root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			if strings.HasPrefix(e.Name(), ".") {
				os.RemoveAll(filepath.Join(m.root, e.Name()))
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.root, e.Name(), recordFile))
		if err != nil {
			os.RemoveAll(filepath.Join(m.root, e.Name()))
			continue
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.ID != e.Name() {
			return fmt.Errorf("plugin %s: unreadable record", e.Name())
		}
		m.plugins[r.ID] = &entry{rec: r}
	}
	return nil
}

// FullName is a plugin name as dockerd keeps it: familiar form with a tag
// (`vieux/sshfs:latest`). Digests are refused, as by dockerd.
func FullName(name string) (string, error) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", errdefs.InvalidParameter(fmt.Errorf("failed to parse %q: %w", name, err))
	}
	if _, ok := ref.(reference.Canonical); ok {
		return "", errdefs.InvalidParameterf("canonical references are not permitted")
	}
	return reference.FamiliarString(reference.TagNameOnly(ref)), nil
}

// resolve finds a plugin by name (with or without its tag), full ID or ID
// prefix, under m.mu.
func (m *Manager) resolve(nameOrID string) (*entry, error) {
	if e, ok := m.plugins[nameOrID]; ok {
		return e, nil
	}
	if full, err := FullName(nameOrID); err == nil {
		for _, e := range m.plugins {
			if e.rec.Name == full {
				return e, nil
			}
		}
	}
	var found *entry
	for id, e := range m.plugins {
		if strings.HasPrefix(id, nameOrID) {
			if found != nil {
				return nil, errdefs.InvalidParameterf("multiple plugins found for %q", nameOrID)
			}
			found = e
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("plugin %q not found", nameOrID)
	}
	return found, nil
}

// sorted lists the entries by name, for stable listings.
func (m *Manager) sorted() []*entry {
	out := make([]*entry, 0, len(m.plugins))
	for _, e := range m.plugins {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.Name < out[j].rec.Name })
	return out
}
