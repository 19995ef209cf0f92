package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/volume"
	"github.com/berthd/berth/volume/local"
	"github.com/berthd/berth/volume/plugin"
)

// Event actions the service reports, dockerd's names.
const (
	EventCreate  = "create"
	EventDestroy = "destroy"
	EventMount   = "mount"
	EventUnmount = "unmount"
)

// Options configure a Service.
type Options struct {
	// Root is DATA_ROOT/volumes.
	Root string
	// Plugins finds volume plugins; nil means dockerd's directories.
	Plugins *plugin.Registry
	// OnEvent receives volume events (actor ID is the volume name). The
	// daemon forwards them to its event bus.
	OnEvent func(action, name string, attrs map[string]string)
}

// Service is the volume manager.
type Service struct {
	local   *local.Root
	plugins *plugin.Registry
	meta    metaStore
	onEvent func(action, name string, attrs map[string]string)
	locks   nameLocks

	mu      sync.Mutex
	records map[string]*record
	refs    map[string]map[string]struct{} // volume → containers using it
	mounts  map[string]map[string]struct{} // volume → containers that mounted it
	drivers map[string]*plugin.Driver

	pruning sync.Mutex
}

// New opens the volumes under opts.Root. It reads only the volumes
// directory and the small records; plugins are contacted on first use.
func New(opts Options) (*Service, error) {
	root, err := local.New(opts.Root)
	if err != nil {
		return nil, err
	}
	s := &Service{
		local:   root,
		plugins: opts.Plugins,
		meta:    metaStore{dir: filepath.Join(opts.Root, metaDirName)},
		onEvent: opts.OnEvent,
		refs:    map[string]map[string]struct{}{},
		mounts:  map[string]map[string]struct{}{},
		drivers: map[string]*plugin.Driver{},
	}
	if s.plugins == nil {
		s.plugins = plugin.NewRegistry(nil, nil)
	}
	if s.records, err = s.meta.load(); err != nil {
		return nil, err
	}
	// A record of a local volume whose directory is gone is what a crash
	// between the driver's removal and the record's leaves: finish it.
	for name, r := range s.records {
		if r.Driver != volume.DefaultDriverName {
			continue
		}
		if _, err := root.Get(context.Background(), name); err != nil {
			delete(s.records, name)
			if err := s.meta.delete(name); err != nil {
				logrus.WithError(err).WithField("volume", name).Warn("cannot drop stale volume record")
			}
		}
	}
	return s, nil
}

// LocalRoot is the local driver's volumes directory.
func (s *Service) LocalRoot() string { return s.local.Path() }

func (s *Service) event(action, name, driver string, extra map[string]string) {
	if s.onEvent == nil {
		return
	}
	attrs := map[string]string{"driver": driver}
	maps.Copy(attrs, extra)
	s.onEvent(action, name, attrs)
}

// driver returns the named driver, finding and activating a plugin when
// it is not the local driver. The error text is dockerd's.
func (s *Service) driver(ctx context.Context, name string) (volume.Driver, error) {
	if name == "" || name == volume.DefaultDriverName {
		return s.local, nil
	}
	s.mu.Lock()
	d, ok := s.drivers[name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	p, err := s.plugins.Get(ctx, name, plugin.VolumeDriverKind)
	if err != nil {
		err = fmt.Errorf("error looking up volume plugin %s: %w", name, err)
		if errdefs.Is(err, errdefs.NotFound) || errdefs.Is(err, errdefs.InvalidParameter) || errdefs.Is(err, errdefs.Conflict) {
			return nil, err
		}
		return nil, errdefs.Unavailable(err)
	}
	if p.Managed() {
		// Looked up each time: the API disables and removes it.
		return plugin.NewDriver(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.drivers[name]; ok {
		return d, nil
	}
	d = plugin.NewDriver(p)
	s.drivers[name] = d
	return d, nil
}

// opErr prefixes err with the operation and volume, as dockerd's OpErr
// does ("create foo: …"), keeping its class.
func opErr(op, name string, err error) error {
	if name == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

func errNoSuchVolume(name string) error {
	return errdefs.NotFound(opErr("get", name, volume.ErrNotFound))
}

// CreateOption adjusts Create.
type CreateOption func(*createConfig)

type createConfig struct {
	labels    map[string]string
	opts      map[string]string
	reference string
}

// WithLabels sets the volume's labels.
func WithLabels(l map[string]string) CreateOption {
	return func(c *createConfig) { c.labels = l }
}

// WithDriverOpts sets the driver options.
func WithDriverOpts(o map[string]string) CreateOption {
	return func(c *createConfig) { c.opts = o }
}

// WithReference records that containerID uses the volume, in the same
// step as creating or finding it, so a prune cannot slip in between.
func WithReference(containerID string) CreateOption {
	return func(c *createConfig) { c.reference = containerID }
}

// Create creates a volume, or returns the existing one of that name when
// the driver matches (dockerd's idempotent create; the new labels and
// options are then ignored). An empty name creates an anonymous volume
// with a random name and the anonymous label.
func (s *Service) Create(ctx context.Context, name, driverName string, opts ...CreateOption) (*volumetypes.Volume, error) {
	var cfg createConfig
	for _, o := range opts {
		o(&cfg)
	}
	if name == "" {
		name = stringid.GenerateRandomID()
		labels := make(map[string]string, len(cfg.labels)+1)
		maps.Copy(labels, cfg.labels)
		labels[volume.AnonymousLabel] = ""
		cfg.labels = labels
	}
	unlock := s.locks.lock(name)
	defer unlock()

	if v, r, err := s.existing(ctx, name, driverName); err != nil {
		return nil, opErr("create", name, err)
	} else if v != nil {
		s.addRef(name, cfg.reference)
		return s.toAPI(ctx, v, r), nil
	}

	if driverName == "" {
		driverName = volume.DefaultDriverName
	}
	d, err := s.driver(ctx, driverName)
	if err != nil {
		return nil, opErr("create", name, err)
	}
	v, err := d.Create(ctx, name, cfg.opts)
	if err != nil {
		return nil, opErr("create", name, err)
	}
	faultpoint.Hit("volume.create.before-record")
	r := &record{Name: name, Driver: d.Name(), Labels: cfg.labels, Options: cfg.opts, CreatedAt: time.Now().UTC()}
	if err := s.meta.put(r); err != nil {
		// Without its record the volume would lose its labels on restart;
		// undo rather than half-create.
		if rmErr := d.Remove(ctx, v); rmErr != nil {
			logrus.WithError(rmErr).WithField("volume", name).Warn("cannot undo volume create")
		}
		return nil, opErr("create", name, errdefs.System(err))
	}
	s.mu.Lock()
	s.records[name] = r
	s.mu.Unlock()
	s.addRef(name, cfg.reference)
	s.event(EventCreate, name, d.Name(), nil)
	return s.toAPI(ctx, v, r), nil
}

// existing finds a known volume for Create: nil if there is none (a stale
// record is dropped), a conflict if it belongs to another driver.
func (s *Service) existing(ctx context.Context, name, driverName string) (volume.Volume, *record, error) {
	s.mu.Lock()
	r := s.records[name]
	s.mu.Unlock()
	if r == nil {
		// A local volume without a record (made by dockerd, or a crash
		// before the record was written) is still that volume.
		v, err := s.local.Get(ctx, name)
		if err != nil {
			return nil, nil, nil
		}
		r = &record{Name: name, Driver: volume.DefaultDriverName}
		if driverName != "" && driverName != r.Driver {
			return nil, nil, errdefs.Conflictf("driver '%s' already has volume '%s': volume name must be unique", r.Driver, name)
		}
		return v, r, nil
	}
	if driverName != "" && driverName != r.Driver {
		return nil, nil, errdefs.Conflictf("driver '%s' already has volume '%s': volume name must be unique", r.Driver, name)
	}
	d, err := s.driver(ctx, r.Driver)
	if err != nil {
		return nil, nil, errdefs.Conflictf("found reference to volume '%s' in driver '%s', but got an error while checking the driver: %v: volume name must be unique", name, r.Driver, err)
	}
	v, err := d.Get(ctx, name)
	if err == nil {
		return v, r, nil
	}
	if !errors.Is(err, volume.ErrNotFound) {
		return nil, nil, errdefs.Conflictf("found reference to volume '%s' in driver '%s', but got an error while checking the driver: %v: volume name must be unique", name, r.Driver, err)
	}
	if s.InUse(name) != nil {
		return nil, nil, errdefs.Conflictf("found references to volume '%s' in driver '%s' but the volume was not found in the driver -- you may need to remove containers referencing this volume or force remove the volume to re-create it: volume name must be unique", name, r.Driver)
	}
	s.purge(name)
	return nil, nil, nil
}

func (s *Service) purge(name string) {
	s.mu.Lock()
	delete(s.records, name)
	s.mu.Unlock()
	if err := s.meta.delete(name); err != nil {
		logrus.WithError(err).WithField("volume", name).Warn("cannot remove volume record")
	}
}

// lookup finds a volume and its record (synthesised for a local volume
// without one). Callers hold the name lock.
func (s *Service) lookup(ctx context.Context, name string) (volume.Volume, *record, error) {
	s.mu.Lock()
	r := s.records[name]
	s.mu.Unlock()
	if r == nil {
		if v, err := s.local.Get(ctx, name); err == nil {
			return v, &record{Name: name, Driver: volume.DefaultDriverName}, nil
		}
		// Volumes a plugin already in use knows but berth did not create.
		s.mu.Lock()
		ds := slices.Collect(maps.Values(s.drivers))
		s.mu.Unlock()
		for _, d := range ds {
			if v, err := d.Get(ctx, name); err == nil {
				return v, &record{Name: name, Driver: d.Name()}, nil
			}
		}
		return nil, nil, errNoSuchVolume(name)
	}
	d, err := s.driver(ctx, r.Driver)
	if err != nil {
		return nil, nil, opErr("get", name, err)
	}
	v, err := d.Get(ctx, name)
	if err != nil {
		if errors.Is(err, volume.ErrNotFound) {
			if s.InUse(name) == nil {
				s.purge(name)
			}
			return nil, nil, errNoSuchVolume(name)
		}
		return nil, nil, opErr("get", name, errdefs.Unavailable(err))
	}
	return v, r, nil
}

// GetOption adjusts Get.
type GetOption func(*getConfig)

type getConfig struct {
	driver    string
	reference string
}

// WithDriver requires the volume to belong to that driver.
func WithDriver(name string) GetOption { return func(c *getConfig) { c.driver = name } }

// WithGetReference records that containerID uses the volume.
func WithGetReference(containerID string) GetOption {
	return func(c *getConfig) { c.reference = containerID }
}

// Get returns a volume as inspect shows it.
func (s *Service) Get(ctx context.Context, name string, opts ...GetOption) (*volumetypes.Volume, error) {
	var cfg getConfig
	for _, o := range opts {
		o(&cfg)
	}
	unlock := s.locks.lock(name)
	defer unlock()
	v, r, err := s.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if cfg.driver != "" && cfg.driver != r.Driver {
		return nil, errdefs.Conflict(opErr("get", name, errors.New("found volume driver does not match passed in driver")))
	}
	s.addRef(name, cfg.reference)
	return s.toAPI(ctx, v, r), nil
}

func (s *Service) toAPI(ctx context.Context, v volume.Volume, r *record) *volumetypes.Volume {
	created := v.CreatedAt()
	if created.IsZero() && r != nil {
		created = r.CreatedAt
	}
	out := &volumetypes.Volume{
		Name:       v.Name(),
		Driver:     v.DriverName(),
		Mountpoint: v.Path(),
		Status:     v.Status(),
		Scope:      volume.ScopeLocal,
	}
	if !created.IsZero() {
		out.CreatedAt = created.Local().Format(time.RFC3339)
	}
	if r != nil {
		out.Labels = r.Labels
		out.Options = r.Options
	}
	if v.DriverName() != volume.DefaultDriverName {
		if d, err := s.driver(ctx, v.DriverName()); err == nil {
			out.Scope = d.Scope(ctx)
		}
	}
	return out
}

func (s *Service) addRef(name, id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs[name] == nil {
		s.refs[name] = map[string]struct{}{}
	}
	s.refs[name][id] = struct{}{}
}

// InUse lists the containers that use the volume, sorted; nil when none.
func (s *Service) InUse(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refs[name]) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(s.refs[name]))
}

// Restore records that containerID uses the volume, as the container's
// saved mount points say, when the daemon loads its containers at start:
// references live in memory, and without them a restarted daemon would
// let volume rm and prune take a stopped container's volumes. It does not
// look the volume up (a plugin's driver may not be back yet).
func (s *Service) Restore(name, containerID string) {
	s.addRef(name, containerID)
}

// Acquire records that containerID uses the volume (a created container
// that names it), without mounting it.
func (s *Service) Acquire(ctx context.Context, name, containerID string) error {
	if containerID == "" {
		return errdefs.InvalidParameterf("a reference needs a container ID")
	}
	unlock := s.locks.lock(name)
	defer unlock()
	if _, _, err := s.lookup(ctx, name); err != nil {
		return err
	}
	s.addRef(name, containerID)
	return nil
}

// Release drops containerID's reference (the container is removed). A
// mount it still holds is released too.
func (s *Service) Release(ctx context.Context, name, containerID string) error {
	if err := s.Unmount(ctx, name, containerID); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if refs := s.refs[name]; refs != nil {
		delete(refs, containerID)
		if len(refs) == 0 {
			delete(s.refs, name)
		}
	}
	return nil
}

// ReleaseAll drops every reference and mount containerID holds, for the
// removal of a container.
func (s *Service) ReleaseAll(ctx context.Context, containerID string) error {
	s.mu.Lock()
	var names []string
	for name, refs := range s.refs {
		if _, ok := refs[containerID]; ok {
			names = append(names, name)
		}
	}
	for name, ms := range s.mounts {
		if _, ok := ms[containerID]; ok && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, name := range names {
		if err := s.Release(ctx, name, containerID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MountOption adjusts Mount.
type MountOption func(*mountConfig)

type mountConfig struct{ attrs map[string]string }

// WithEventAttributes adds attributes to the mount event (dockerd logs
// destination, read/write and propagation).
func WithEventAttributes(a map[string]string) MountOption {
	return func(c *mountConfig) { c.attrs = a }
}

// Mount mounts the volume for containerID and returns its host path. The
// driver mounts once per container: a second Mount by the same container
// returns the path without mounting again, and the volume's backing mount
// (a tmpfs or bind from driver options) is made for the first container
// and undone after the last Unmount. Mount also records the reference.
func (s *Service) Mount(ctx context.Context, name, containerID string, opts ...MountOption) (string, error) {
	if containerID == "" {
		return "", errdefs.InvalidParameterf("mounting a volume needs a container ID")
	}
	var cfg mountConfig
	for _, o := range opts {
		o(&cfg)
	}
	unlock := s.locks.lock(name)
	defer unlock()
	v, _, err := s.lookup(ctx, name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	_, already := s.mounts[name][containerID]
	s.mu.Unlock()
	if already {
		if p := v.Path(); p != "" {
			return p, nil
		}
	}
	p, err := v.Mount(ctx, containerID)
	if err != nil {
		return "", fmt.Errorf("error while mounting volume '%s': %w", name, err)
	}
	s.mu.Lock()
	if s.mounts[name] == nil {
		s.mounts[name] = map[string]struct{}{}
	}
	s.mounts[name][containerID] = struct{}{}
	s.mu.Unlock()
	s.addRef(name, containerID)
	attrs := map[string]string{"container": containerID}
	maps.Copy(attrs, cfg.attrs)
	s.event(EventMount, name, v.DriverName(), attrs)
	return p, nil
}

// Unmount releases containerID's mount of the volume; the reference stays
// until Release. Unmounting what is not mounted is a no-op.
func (s *Service) Unmount(ctx context.Context, name, containerID string) error {
	unlock := s.locks.lock(name)
	defer unlock()
	s.mu.Lock()
	_, mounted := s.mounts[name][containerID]
	s.mu.Unlock()
	if !mounted {
		return nil
	}
	v, _, err := s.lookup(ctx, name)
	if err != nil {
		return err
	}
	if err := v.Unmount(ctx, containerID); err != nil {
		return fmt.Errorf("error unmounting volume %s: %w", name, err)
	}
	s.mu.Lock()
	delete(s.mounts[name], containerID)
	if len(s.mounts[name]) == 0 {
		delete(s.mounts, name)
	}
	s.mu.Unlock()
	s.event(EventUnmount, name, v.DriverName(), map[string]string{"container": containerID})
	return nil
}

// Mounted lists the containers that have the volume mounted, sorted.
func (s *Service) Mounted(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mounts[name]) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(s.mounts[name]))
}

// UnmountUnused undoes the backing mounts that a previous daemon left in
// place and that no container has taken again. Call it once the container
// code has restored its containers' mounts.
func (s *Service) UnmountUnused() { s.local.UnmountUnused() }

// Remove deletes a volume. A volume any container uses is refused with
// dockerd's conflict message whatever force says; force makes a missing
// volume a success and drops the record even when the driver fails.
func (s *Service) Remove(ctx context.Context, name string, force bool) error {
	unlock := s.locks.lock(name)
	defer unlock()
	return s.removeLocked(ctx, name, force)
}

func (s *Service) removeLocked(ctx context.Context, name string, force bool) error {
	v, r, err := s.lookup(ctx, name)
	if err != nil {
		if force && errdefs.Is(err, errdefs.NotFound) {
			return nil
		}
		return err
	}
	if refs := s.InUse(name); refs != nil {
		return errdefs.Conflict(fmt.Errorf("remove %s: volume is in use - [%s]", name, strings.Join(refs, ", ")))
	}
	d, err := s.driver(ctx, r.Driver)
	if err != nil {
		return opErr("remove", r.Driver, err)
	}
	if err := d.Remove(ctx, v); err != nil {
		err = opErr("remove", name, err)
		if force {
			s.purge(name)
		}
		return err
	}
	faultpoint.Hit("volume.rm.before-record")
	s.purge(name)
	s.event(EventDestroy, name, r.Driver, nil)
	return nil
}
