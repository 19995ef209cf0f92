package service

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/atomicfile"
)

// metaDirName holds one JSON record per volume. A volume name cannot start
// with "_", so the directory never collides with a local volume.
const metaDirName = "_meta"

// record is what the service persists about a volume: what dockerd keeps
// in its metadata.db, plus when berth created it (plugins need not say).
type record struct {
	Name      string
	Driver    string
	Labels    map[string]string `json:",omitempty"`
	Options   map[string]string `json:",omitempty"`
	CreatedAt time.Time         `json:",omitzero"`
}

// metaStore reads and writes the records.
type metaStore struct {
	dir string
}

func (m *metaStore) path(name string) string {
	// PathEscape keeps "/" out of the file name; the ".json" suffix keeps
	// "." and ".." from naming directories.
	return filepath.Join(m.dir, url.PathEscape(name)+".json")
}

func (m *metaStore) load() (map[string]*record, error) {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*record, len(entries))
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") {
			// Dot files are atomicfile's temporaries from a write a crash
			// interrupted; the record they were replacing is intact.
			if strings.HasPrefix(n, ".") {
				os.Remove(filepath.Join(m.dir, n))
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.dir, n))
		if err != nil {
			return nil, err
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.Name == "" {
			logrus.WithField("file", n).WithError(err).Warn("ignoring unreadable volume record")
			continue
		}
		out[r.Name] = &r
	}
	return out, nil
}

func (m *metaStore) put(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.path(r.Name), b, 0o600)
}

func (m *metaStore) delete(name string) error {
	if err := os.Remove(m.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(m.dir)
}

// nameLocks serialises operations on one volume name without holding up
// the others (a slow plugin must not block every other volume).
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	mu    sync.Mutex
	users int
}

func (l *nameLocks) lock(name string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*nameLock{}
	}
	nl, ok := l.locks[name]
	if !ok {
		nl = &nameLock{}
		l.locks[name] = nl
	}
	nl.users++
	l.mu.Unlock()
	nl.mu.Lock()
	return func() {
		nl.mu.Unlock()
		l.mu.Lock()
		nl.users--
		if nl.users == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}
