package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/volume"
)

const (
	// DataDirName is the directory inside a volume's directory that holds
	// its data; dockerd's name, so that a data-root is interchangeable.
	DataDirName = "_data"
	optsFile    = "opts.json"
	// removingPrefix marks a volume directory being deleted. A volume name
	// cannot start with "_", so the renamed directory never collides with
	// a volume, and a start after a crash finishes the deletion.
	removingPrefix = "_removing-"
)

// validOpts are the driver options the local driver takes, as dockerd's.
var validOpts = map[string]bool{"type": true, "device": true, "o": true, "size": true}

// mandatoryOpts: an option on the left needs the ones on the right, with
// dockerd's rules (so `--opt o=bind` alone is refused the same way).
var mandatoryOpts = map[string][]string{
	"device": {"type"},
	"type":   {"device"},
	"o":      {"device", "type"},
}

// mountOpts is what opts.json holds, in dockerd's field names.
type mountOpts struct {
	MountType   string
	MountOpts   string
	MountDevice string
	Quota       struct{ Size uint64 }
}

func (o *mountOpts) needsMount() bool {
	return o != nil && (o.MountType != "" || o.MountDevice != "")
}

// Root is the local driver: the volumes directory and what it holds.
type Root struct {
	path    string
	real    string
	mu      sync.Mutex
	volumes map[string]*localVolume
}

// New opens the local driver at dir (DATA_ROOT/volumes), creating it, and
// loads every volume directory in it. It finishes deletions a crash
// interrupted and notes which volumes are still mounted from a previous
// run, so that the first Unmount or UnmountUnused releases them.
func New(dir string) (*Root, error) {
	// 0701: containers running as another user must traverse to _data, but
	// may not list the volume names.
	if err := os.MkdirAll(dir, 0o701); err != nil {
		return nil, err
	}
	// Mount points in /proc/self/mountinfo are real paths; compare with
	// the resolved root so that a symlinked data-root still finds them.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	r := &Root{path: dir, real: real, volumes: map[string]*localVolume{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var points map[string]bool
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if strings.HasPrefix(name, removingPrefix) {
			if points == nil {
				if points, err = mountPoints(); err != nil {
					return nil, err
				}
			}
			r.finishRemoval(filepath.Join(real, name), points)
			continue
		}
		if !volume.NamePattern.MatchString(name) {
			continue
		}
		v := r.newVolume(name)
		if b, err := os.ReadFile(filepath.Join(v.rootPath, optsFile)); err == nil {
			var o mountOpts
			if err := json.Unmarshal(b, &o); err != nil {
				logrus.WithError(err).WithField("volume", name).Warn("ignoring unreadable local volume options")
			} else {
				v.opts = &o
			}
		}
		if v.opts.needsMount() {
			if points == nil {
				if points, err = mountPoints(); err != nil {
					return nil, err
				}
			}
			v.mounted = points[filepath.Join(real, name, DataDirName)]
		}
		r.volumes[name] = v
	}
	return r, nil
}

func (r *Root) newVolume(name string) *localVolume {
	rootPath := filepath.Join(r.path, name)
	return &localVolume{
		root:     r,
		name:     name,
		rootPath: rootPath,
		path:     filepath.Join(rootPath, DataDirName),
		active:   map[string]struct{}{},
	}
}

// finishRemoval deletes a directory a crashed removal left, unless
// something is still mounted inside it (then it is left for a human:
// deleting through a mount would delete the mount's source).
func (r *Root) finishRemoval(dir string, points map[string]bool) {
	for _, p := range mountedUnder(points, dir) {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			logrus.WithError(err).WithField("path", p).Warn("leaving half-removed volume: cannot unmount")
			return
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		logrus.WithError(err).WithField("path", dir).Warn("cannot finish removing volume")
	}
}

// Name is "local".
func (r *Root) Name() string { return volume.DefaultDriverName }

// Scope is local: the data lives on this host.
func (r *Root) Scope(context.Context) string { return volume.ScopeLocal }

// Path is the volumes directory.
func (r *Root) Path() string { return r.path }

// DataPath is where a volume of that name keeps its data.
func (r *Root) DataPath(name string) string {
	return filepath.Join(r.path, name, DataDirName)
}

// ValidateName checks a local volume name with dockerd's messages.
func ValidateName(name string) error {
	if len(name) == 1 {
		return errdefs.InvalidParameterf("volume name is too short, names should be at least two alphanumeric characters")
	}
	if !volume.NamePattern.MatchString(name) {
		return errdefs.InvalidParameterf("%q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, volume.NameChars)
	}
	return nil
}

// ValidateOpts checks driver options the way dockerd's local driver does.
func ValidateOpts(opts map[string]string) error {
	for k := range opts {
		if !validOpts[k] {
			return errdefs.InvalidParameterf("invalid option: %q", k)
		}
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		// dockerd takes `size` only as a project quota on xfs; berth has
		// no quota support, and a tmpfs takes its size in `o`.
		if size > 0 {
			return errdefs.InvalidParameterf("quota size requested but no quota support")
		}
	}
	for _, k := range []string{"device", "type", "o"} {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, req := range mandatoryOpts[k] {
			if _, ok := opts[req]; !ok {
				return errdefs.InvalidParameterf("missing required option: %q", req)
			}
		}
	}
	return nil
}

// Create makes a volume directory (and records its mount options), or
// returns the volume if it exists.
func (r *Root) Create(ctx context.Context, name string, opts map[string]string) (volume.Volume, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := ValidateOpts(opts); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.volumes[name]; ok {
		return v, nil
	}
	v := r.newVolume(name)
	if err := os.Mkdir(v.rootPath, 0o701); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("volume already exists under %s", v.rootPath)
		}
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(v.rootPath)
		}
	}()
	if err := os.Mkdir(v.path, 0o755); err != nil {
		return nil, err
	}
	if opts["type"] != "" || opts["device"] != "" || opts["o"] != "" {
		v.opts = &mountOpts{MountType: opts["type"], MountOpts: opts["o"], MountDevice: opts["device"]}
		b, err := json.Marshal(v.opts)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(v.rootPath, optsFile), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := atomicfile.SyncDir(r.path); err != nil {
		return nil, err
	}
	ok = true
	r.volumes[name] = v
	return v, nil
}

// Get returns the named volume.
func (r *Root) Get(ctx context.Context, name string) (volume.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.volumes[name]; ok {
		return v, nil
	}
	return nil, volume.ErrNotFound
}

// List returns every local volume.
func (r *Root) List(ctx context.Context) ([]volume.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]volume.Volume, 0, len(r.volumes))
	for _, v := range r.volumes {
		out = append(out, v)
	}
	return out, nil
}

// Remove deletes a volume and its data. It refuses while a container has
// it mounted, and never deletes through a mount: a bind-backed volume's
// host directory survives the volume.
func (r *Root) Remove(ctx context.Context, vol volume.Volume) error {
	v, ok := vol.(*localVolume)
	if !ok || v.root != r {
		return errdefs.InvalidParameterf("volume %s is not a local volume", vol.Name())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.active) > 0 {
		return errdefs.Conflictf("volume %s has active mounts", v.name)
	}

	real, err := filepath.EvalSymlinks(v.rootPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		delete(r.volumes, v.name)
		return nil
	}
	base, err := filepath.EvalSymlinks(r.path)
	if err != nil {
		return err
	}
	if filepath.Dir(real) != base {
		return fmt.Errorf("unable to remove a directory outside of the local volume root %s: %s", r.path, real)
	}
	points, err := mountPoints()
	if err != nil {
		return err
	}
	for _, p := range mountedUnder(points, real) {
		if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				return errdefs.System(fmt.Errorf("remove %s: cannot unmount %s: %w", v.name, p, err))
			}
		}
	}
	if points, err = mountPoints(); err != nil {
		return err
	}
	if left := mountedUnder(points, real); len(left) > 0 {
		return errdefs.System(fmt.Errorf("remove %s: still mounted at %s", v.name, left[0]))
	}
	v.mounted = false

	// A short suffix, not an ID: it only keeps two removals of volumes
	// with one name apart.
	var suffix [6]byte
	rand.Read(suffix[:])
	gone := filepath.Join(base, removingPrefix+v.name+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Rename(real, gone); errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		// The longer name needs a directory block a full disk does
		// not have. Removing in place needs none: a crash half-way
		// may leave part of the volume, but a full disk is when a
		// volume must be removable (and an undone create must go).
		gone = real
	} else if err != nil {
		return err
	}
	// The volume is gone for good once the rename is durable; the data is
	// deleted after, and by the next start if this process dies first.
	delete(r.volumes, v.name)
	if err := atomicfile.SyncDir(base); err != nil {
		logrus.WithError(err).Warn("sync volumes directory")
	}
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	return nil
}

// UnmountUnused unmounts the volumes that a previous run left mounted and
// that no one has mounted since. The container code calls it (through the
// service) once it has re-taken the mounts of containers that live-restore
// kept running.
func (r *Root) UnmountUnused() {
	r.mu.Lock()
	vols := make([]*localVolume, 0, len(r.volumes))
	for _, v := range r.volumes {
		vols = append(vols, v)
	}
	r.mu.Unlock()
	for _, v := range vols {
		v.mu.Lock()
		if v.mounted && len(v.active) == 0 {
			if err := v.unmountLocked(); err != nil {
				logrus.WithError(err).WithField("volume", v.name).Warn("cannot unmount unused volume")
			}
		}
		v.mu.Unlock()
	}
}

// localVolume is one volume of the local driver.
type localVolume struct {
	root     *Root
	name     string
	rootPath string
	path     string
	opts     *mountOpts

	mu      sync.Mutex
	active  map[string]struct{} // ids that hold a mount
	mounted bool
}

func (v *localVolume) Name() string       { return v.name }
func (v *localVolume) DriverName() string { return volume.DefaultDriverName }
func (v *localVolume) Path() string       { return v.path }

// Status is nil: dockerd's local driver reports none.
func (v *localVolume) Status() map[string]any { return nil }

// CreatedAt is the change time of the volume directory, as dockerd reports
// it: nothing in it changes after creation except through _data.
func (v *localVolume) CreatedAt() time.Time {
	fi, err := os.Stat(v.rootPath)
	if err != nil {
		return time.Time{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.ModTime()
	}
	return time.Unix(st.Ctim.Unix())
}

// Options returns the volume's mount options as given at create.
func (v *localVolume) MountOptions() (typ, device, o string) {
	if v.opts == nil {
		return "", "", ""
	}
	return v.opts.MountType, v.opts.MountDevice, v.opts.MountOpts
}

// Mounted reports whether the volume's backing mount is in place.
func (v *localVolume) Mounted() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mounted
}

// Mount makes the backing mount on the first id and returns the data path.
func (v *localVolume) Mount(ctx context.Context, id string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.opts.needsMount() && !v.mounted {
		if err := mountDevice(v.opts.MountDevice, v.path, v.opts.MountType, v.opts.MountOpts); err != nil {
			msg := err.Error()
			if pw := optionValue(v.opts.MountOpts, "password"); pw != "" {
				msg = strings.ReplaceAll(msg, "password="+pw, "password=********")
			}
			return "", errdefs.System(errors.New("failed to mount local volume: " + msg))
		}
		v.mounted = true
	}
	v.active[id] = struct{}{}
	return v.path, nil
}

// Unmount releases id's mount and undoes the backing mount on the last.
func (v *localVolume) Unmount(ctx context.Context, id string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.active, id)
	if len(v.active) > 0 || !v.mounted {
		return nil
	}
	return v.unmountLocked()
}

func (v *localVolume) unmountLocked() error {
	if err := unix.Unmount(v.path, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return errdefs.System(fmt.Errorf("unmount local volume %s: %w", v.name, err))
	}
	v.mounted = false
	return nil
}

// Size is the disk use of the volume's data, counting a hard-linked file
// once, as dockerd's `system df` does.
func (v *localVolume) Size(ctx context.Context) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(v.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}

func optionValue(o, key string) string {
	for _, w := range strings.Split(o, ",") {
		if k, val, ok := strings.Cut(w, "="); ok && k == key {
			return val
		}
	}
	return ""
}
