package volume

import (
	"context"
	"errors"
	"regexp"
	"time"
)

// DefaultDriverName is the built-in driver volumes use when none is named.
const DefaultDriverName = "local"

// AnonymousLabel marks a volume created without a name (an image VOLUME,
// `-v /path`, or POST /volumes/create without Name). Since API 1.42, prune
// removes only these unless asked for all; dockerd uses the same key.
const AnonymousLabel = "com.docker.volume.anonymous"

// Scopes a driver can declare (VolumeDriver.Capabilities).
const (
	ScopeLocal  = "local"
	ScopeGlobal = "global"
)

// ErrNotFound is what a driver returns when it has no volume of that name.
var ErrNotFound = errors.New("no such volume")

// NamePattern is what the local driver accepts as a volume name: the name
// becomes a directory under the data-root, so nothing that could climb out
// of it ("..", "/") passes.
var NamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// NameChars is NamePattern as dockerd prints it in its error message.
const NameChars = `[a-zA-Z0-9][a-zA-Z0-9_.-]`

// Driver creates and finds volumes of one kind.
type Driver interface {
	// Name is the driver's name as users give it (`-d NAME`).
	Name() string
	// Scope is ScopeLocal or ScopeGlobal.
	Scope(ctx context.Context) string
	// Create makes a volume, or returns the existing one of that name.
	Create(ctx context.Context, name string, opts map[string]string) (Volume, error)
	// Remove deletes the volume and its data.
	Remove(ctx context.Context, v Volume) error
	// Get returns the volume or an error wrapping ErrNotFound.
	Get(ctx context.Context, name string) (Volume, error)
	// List returns every volume the driver has.
	List(ctx context.Context) ([]Volume, error)
}

// Volume is one volume of a driver.
type Volume interface {
	Name() string
	DriverName() string
	// Path is the host path of the data as last known; it may be empty
	// for a plugin volume that has never been mounted.
	Path() string
	// Mount makes the data available for the user id (a container ID) and
	// returns its host path. Drivers count mounts by id.
	Mount(ctx context.Context, id string) (string, error)
	// Unmount releases the mount taken for id.
	Unmount(ctx context.Context, id string) error
	// CreatedAt is when the volume was created, zero when unknown.
	CreatedAt() time.Time
	// Status is driver-specific detail for inspect; nil when none.
	Status() map[string]any
}

// Sizer is implemented by volumes whose disk use the engine can measure
// (the local driver); `system df` reports -1 for the others.
type Sizer interface {
	Size(ctx context.Context) (int64, error)
}
