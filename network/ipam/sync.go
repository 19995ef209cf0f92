package ipam

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/atomicfile"
)

// netFile is the state file of one network's allocations, written by
// group commit (atomicfile.Latest): a change bumps gen under the
// allocator's lock, and Sync writes the newest state outside it, so that
// concurrent container starts and stops neither wait for each other's
// fsync under a lock nor pay one fsync each.
type netFile struct {
	latest atomicfile.Latest
	// gen is bumped with each change, under Allocator.mu.
	gen uint64
	// durableGen is the last change that must survive a power loss (a
	// subnet's creation or removal): the write carrying it also syncs the
	// directory.
	durableGen uint64
	// flushed is the generation last written; only flush, serialised by
	// latest, touches it.
	flushed uint64
}

// fileLocked is network id's file state; a.mu is held.
func (a *Allocator) fileLocked(id string) *netFile {
	f := a.files[id]
	if f == nil {
		f = &netFile{}
		a.files[id] = f
	}
	return f
}

// touchLocked records a change of network id's allocations and returns
// its generation; a.mu is held.
func (a *Allocator) touchLocked(id string, durable bool) uint64 {
	f := a.fileLocked(id)
	f.gen++
	if durable {
		f.durableGen = f.gen
	}
	return f.gen
}

// Sync puts network id's allocations on disk as they are when it is
// called (or newer). Callers of Reserve and Unreserve call it once their
// own locks are released.
func (a *Allocator) Sync(id string) error {
	a.mu.Lock()
	f := a.fileLocked(id)
	gen := f.gen
	a.mu.Unlock()
	return f.latest.Sync(gen, func() (uint64, error) { return a.flush(id, f) })
}

// flush writes network id's current state (or removes the file of a
// network that is gone) and returns the generation written.
func (a *Allocator) flush(id string, f *netFile) (uint64, error) {
	a.mu.Lock()
	gen := f.gen
	durable := f.durableGen > f.flushed
	subs, ok := a.st.Networks[id]
	var b []byte
	var err error
	if ok {
		b, err = json.Marshal(subs)
	}
	a.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if a.path != "" {
		if err := a.writeState(id, ok, b, durable); err != nil {
			return 0, err
		}
	}
	f.flushed = gen
	return gen, nil
}

// writeState replaces (present) or removes network id's file. Subnet
// changes (network create and remove) are synced to disk with the
// directory; address changes, made at every container start and stop,
// only with the data (atomicfile.WriteFileNoDirSync): they describe
// running containers, whose latest change a power loss makes moot, but
// the file also holds the subnets, so it must never be left empty.
func (a *Allocator) writeState(id string, present bool, b []byte, durable bool) error {
	path := filepath.Join(a.path, id+".json")
	if !present {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if durable {
			return atomicfile.SyncDir(a.path)
		}
		return nil
	}
	if err := os.MkdirAll(a.path, 0o700); err != nil {
		return err
	}
	if !durable {
		return atomicfile.WriteFileNoDirSync(path, b, 0o600)
	}
	return atomicfile.WriteFile(path, b, 0o600)
}
