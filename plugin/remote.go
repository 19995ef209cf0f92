package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/plugin"

	"github.com/berthd/berth/pkg/errdefs"
)

// Artifact is a plugin as a registry holds it: a manifest whose config is
// the plugin config, and the root filesystem's layers.
type Artifact struct {
	// Digest is the manifest's, on pull.
	Digest      string
	Config      Blob
	ConfigBytes []byte
	Layers      []Blob
	// Open reads a layer blob (from the registry on pull, from the store
	// on push).
	Open func(ctx context.Context, b Blob) (io.ReadCloser, error)
}

// Remote is the registry client the manager pulls and pushes with; ref is
// a normalized reference, auth the client's X-Registry-Auth header.
type Remote interface {
	// Fetch resolves ref to its manifest and reads the config blob.
	Fetch(ctx context.Context, ref reference.Named, auth string) (*Artifact, error)
	// Push uploads a's blobs and a manifest, tagged as ref says, and
	// returns the manifest's digest.
	Push(ctx context.Context, ref reference.Named, auth string, a *Artifact, status func(string)) (string, error)
}

// remoteRef parses a plugin reference given by a client, tag defaulted.
func remoteRef(remote string) (reference.Named, error) {
	ref, err := reference.ParseNormalizedNamed(remote)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("failed to parse %q: %w", remote, err))
	}
	return reference.TagNameOnly(ref), nil
}

func (m *Manager) fetchConfig(ctx context.Context, ref reference.Named, auth string) (*Artifact, error) {
	if m.remote == nil {
		return nil, errdefs.NotImplemented(errors.New("plugin install needs a registry client"))
	}
	a, err := m.remote.Fetch(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	if a.Config.MediaType != MediaTypeConfig {
		return nil, errdefs.InvalidParameterf("did not find plugin config for specified reference %s", reference.FamiliarString(ref))
	}
	return a, nil
}

// Pull installs the plugin remote under name (remote's own name when
// empty), disabled, once the client accepted exactly the privileges its
// config asks for.
func (m *Manager) Pull(ctx context.Context, remote, name string, accepted plugin.Privileges, auth string, status func(string)) error {
	ref, err := remoteRef(remote)
	if err != nil {
		return err
	}
	if name == "" {
		name = reference.FamiliarString(ref)
	}
	full, err := FullName(name)
	if err != nil {
		return err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.exists(full); err != nil {
		return err
	}
	s, cfg, bl, manifestDigest, err := m.download(ctx, ref, auth, accepted, status)
	if err != nil {
		return err
	}
	defer s.discard()
	rec := record{
		Plugin: plugin.Plugin{Name: full, PluginReference: ref.String(), Config: cfg, Settings: initialSettings(cfg)},
		Blobs:  bl,
	}
	if err := s.commit(rec); err != nil {
		return err
	}
	downloaded(status, ref, manifestDigest)
	m.event(ActionPull, reference.FamiliarString(ref), name)
	return nil
}

// downloaded ends a pull's progress as dockerd's does.
func downloaded(status func(string), ref reference.Named, manifestDigest string) {
	writeStatus(status, "Digest: %s", manifestDigest)
	writeStatus(status, "Status: Downloaded newer image for %s", reference.FamiliarString(ref))
}

// download fetches ref into a staging directory and checks the privileges
// the client accepted.
func (m *Manager) download(ctx context.Context, ref reference.Named, auth string, accepted plugin.Privileges, status func(string)) (*staging, plugin.Config, blobs, string, error) {
	var cfg plugin.Config
	writeStatus(status, "Pulling from %s", reference.FamiliarName(ref))
	a, err := m.fetchConfig(ctx, ref, auth)
	if err != nil {
		return nil, cfg, blobs{}, "", err
	}
	if err := jsonUnmarshal(a.ConfigBytes, &cfg); err != nil {
		return nil, cfg, blobs{}, "", err
	}
	if !samePrivileges(accepted, Privileges(cfg)) {
		return nil, cfg, blobs{}, "", errdefs.InvalidParameter(errors.New("incorrect privileges"))
	}
	s, err := m.newStaging()
	if err != nil {
		return nil, cfg, blobs{}, "", err
	}
	cblob, err := s.writeBlob(MediaTypeConfig, a.ConfigBytes)
	if err == nil && cblob.Digest != a.Config.Digest {
		err = errdefs.InvalidParameterf("config digest mismatch: expected %s, got %s", a.Config.Digest, cblob.Digest)
	}
	if err != nil {
		s.discard()
		return nil, cfg, blobs{}, "", err
	}
	bl := blobs{Config: a.Config}
	for i, l := range a.Layers {
		rc, err := a.Open(ctx, l)
		if err != nil {
			s.discard()
			return nil, cfg, blobs{}, "", err
		}
		got, diffID, err := s.addLayer(ctx, rc, l.Digest)
		rc.Close()
		if err == nil && cfg.Rootfs != nil && i < len(cfg.Rootfs.DiffIds) && cfg.Rootfs.DiffIds[i] != diffID {
			err = errdefs.InvalidParameterf("layer %s: diff ID mismatch", l.Digest)
		}
		if err != nil {
			s.discard()
			return nil, cfg, blobs{}, "", err
		}
		got.MediaType = l.MediaType
		bl.Layers = append(bl.Layers, got)
	}
	return s, cfg, bl, a.Digest, nil
}

// Upgrade replaces a disabled plugin's root filesystem and config with
// those of remote, keeping its ID and name; its settings start again from
// the new config's defaults.
func (m *Manager) Upgrade(ctx context.Context, nameOrID, remote string, accepted plugin.Privileges, auth string, status func(string)) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	e, old, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	if old.Enabled {
		return errdefs.Conflictf("plugin must be disabled before upgrading: plugin %s is enabled", old.Name)
	}
	ref, err := remoteRef(remote)
	if err != nil {
		return err
	}
	s, cfg, bl, manifestDigest, err := m.download(ctx, ref, auth, accepted, status)
	if err != nil {
		return err
	}
	defer s.discard()
	rec := old
	rec.Config, rec.Blobs, rec.PluginReference = cfg, bl, ref.String()
	rec.Settings = initialSettings(cfg)
	// The new record goes in the staged directory, which then takes the
	// old one's place.
	if err := s.writeRecord(rec); err != nil {
		return err
	}
	m.unmountPropagated(old.ID)
	gone := filepath.Join(m.root, ".removing-"+old.ID)
	if err := os.Rename(m.dir(old.ID), gone); err != nil {
		return errdefs.System(err)
	}
	if err := os.Rename(s.dir, m.dir(old.ID)); err != nil {
		os.Rename(gone, m.dir(old.ID))
		return errdefs.System(err)
	}
	os.RemoveAll(gone)
	m.mu.Lock()
	e.rec = rec
	m.mu.Unlock()
	downloaded(status, ref, manifestDigest)
	m.event(ActionPull, reference.FamiliarString(ref), nameOrID)
	return nil
}

// Push uploads an installed plugin to the registry its name points at.
func (m *Manager) Push(ctx context.Context, nameOrID, auth string, status func(string)) error {
	if m.remote == nil {
		return errdefs.NotImplemented(errors.New("plugin push needs a registry client"))
	}
	_, r, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	ref, err := remoteRef(r.Name)
	if err != nil {
		return err
	}
	cb, err := os.ReadFile(m.blobPath(r.ID, r.Blobs.Config.Digest))
	if err != nil {
		return errdefs.System(fmt.Errorf("plugin %s: config blob: %w", r.Name, err))
	}
	a := &Artifact{
		Config: r.Blobs.Config, ConfigBytes: cb, Layers: r.Blobs.Layers,
		Open: func(_ context.Context, b Blob) (io.ReadCloser, error) {
			return os.Open(m.blobPath(r.ID, b.Digest))
		},
	}
	writeStatus(status, "The push refers to repository [%s]", ref.Name())
	d, err := m.remote.Push(ctx, ref, auth, a, status)
	if err != nil {
		return err
	}
	if t, ok := ref.(reference.Tagged); ok {
		writeStatus(status, "%s: digest: %s size: %d", t.Tag(), d, len(cb))
	}
	return nil
}
