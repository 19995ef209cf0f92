package container

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
)

// Store indexes containers by ID and name and keeps names unique. It is
// safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	root   string
	byID   map[string]*Container
	byName map[string]string // "/name" → ID (reservations included)
}

// NewStore returns a store for containers under root
// (DATA_ROOT/containers).
func NewStore(root string) *Store {
	return &Store{root: root, byID: map[string]*Container{}, byName: map[string]string{}}
}

// Dir is where container id keeps its state.
func (s *Store) Dir(id string) string { return filepath.Join(s.root, id) }

// LoadAll reads every container on disk. A directory that cannot be read
// (a crash during create or removal) is handed to cleanup, which must
// remove it (after undoing any mount left inside), and is logged: a
// container is visible only once its config was written completely.
func (s *Store) LoadAll(cleanup func(dir string)) ([]*Container, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.root, e.Name())
		c, err := Load(dir)
		if err != nil || c.ID != e.Name() {
			logrus.WithError(err).WithField("container", e.Name()).Warn("removing unreadable container directory")
			cleanup(dir)
			continue
		}
		s.byID[c.ID] = c
		if c.Name != "" {
			s.byName[c.Name] = c.ID
		}
		out = append(out, c)
	}
	return out, nil
}

func normalizeName(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

// ReserveName claims name for id, with dockerd's conflict message when
// another container holds it.
func (s *Store) ReserveName(name, id string) error {
	name = normalizeName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if holder, ok := s.byName[name]; ok && holder != id {
		return errdefs.Conflictf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, holder)
	}
	s.byName[name] = id
	return nil
}

// ReleaseName frees name if id holds it.
func (s *Store) ReleaseName(name, id string) {
	name = normalizeName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName[name] == id {
		delete(s.byName, name)
	}
}

// GenerateAndReserveName picks a free generated name for id.
func (s *Store) GenerateAndReserveName(id string) (string, error) {
	for i := 0; i < 10; i++ {
		name := "/" + GenerateName(i/3)
		if err := s.ReserveName(name, id); err == nil {
			return name, nil
		}
	}
	// Fall back to the ID, which cannot collide with a generated name.
	name := "/" + id[:12]
	return name, s.ReserveName(name, id)
}

// Add makes c visible. Its name must be reserved.
func (s *Store) Add(c *Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[c.ID] = c
}

// Delete removes c from the indexes and frees its name.
func (s *Store) Delete(c *Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, c.ID)
	if s.byName[c.Name] == c.ID {
		delete(s.byName, c.Name)
	}
}

// Get finds a container by full ID, name (with or without /) or unique ID
// prefix, in that order, as dockerd resolves them.
func (s *Store) Get(ref string) (*Container, error) {
	if ref == "" {
		return nil, errdefs.InvalidParameterf("No such container: %s", ref)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	if id, ok := s.byName[normalizeName(ref)]; ok {
		if c, ok := s.byID[id]; ok {
			return c, nil
		}
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidParameter(fmt.Errorf("multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	}
	return found, nil
}

// List returns every container, newest first, as `docker ps` orders them.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// Rename moves c to newName atomically with respect to other reservations.
func (s *Store) Rename(c *Container, newName string) error {
	newName = normalizeName(newName)
	s.mu.Lock()
	defer s.mu.Unlock()
	if holder, ok := s.byName[newName]; ok && holder != c.ID {
		return errdefs.Conflictf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", newName, holder)
	}
	delete(s.byName, c.Name)
	s.byName[newName] = c.ID
	return nil
}
