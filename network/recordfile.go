package network

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/berthd/berth/pkg/atomicfile"
)

// recordFile is a network record's file, written by group commit
// (atomicfile.Latest): an endpoint change bumps gen under m.mu, and
// syncRecord writes the newest record outside it. Container starts and
// stops on one network thus neither hold the manager's lock through an
// fsync nor pay one fsync each when they come together.
type recordFile struct {
	latest atomicfile.Latest
	gen    uint64 // bumped under m.mu with each change
}

func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.cfg.Root, "networks", id+".json")
}

// touchRecordLocked records a change of r (its endpoints, or its removal
// from m.nets) for the next syncRecord; m.mu is held.
func (m *Manager) touchRecordLocked(r *Record) {
	f := m.files[r.ID]
	if f == nil {
		f = &recordFile{}
		m.files[r.ID] = f
	}
	f.gen++
}

// syncRecord puts network id's record on disk as it is when called (or
// newer): rewritten with an fsync of the data only (endpoints describe
// running containers, but the record also defines the network, so a power
// loss must never leave it empty), removed for a network that is gone,
// and for a predefined network without endpoints (rebuilt from the
// configuration). m.mu must not be held.
func (m *Manager) syncRecord(id string) error {
	m.mu.RLock()
	f := m.files[id]
	var gen uint64
	if f != nil {
		gen = f.gen
	}
	m.mu.RUnlock()
	if f == nil {
		return nil // never changed since the daemon started
	}
	err := f.latest.Sync(gen, func() (uint64, error) { return m.flushRecord(id, f) })
	if err == nil {
		m.mu.Lock()
		if _, ok := m.nets[id]; !ok && f.gen == gen && m.files[id] == f {
			delete(m.files, id) // removed, and written as such
		}
		m.mu.Unlock()
	}
	return err
}

func (m *Manager) flushRecord(id string, f *recordFile) (uint64, error) {
	m.mu.RLock()
	gen := f.gen
	r, ok := m.nets[id]
	remove := !ok || r.Predefined && len(r.Endpoints) == 0
	var b []byte
	var err error
	if !remove {
		b, err = json.Marshal(r)
	}
	m.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	path := m.recordPath(id)
	if remove {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		return gen, nil
	}
	return gen, atomicfile.WriteFileNoDirSync(path, b, 0o600)
}
