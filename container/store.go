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
	// links are the legacy links' names, "/parent/alias" → the linked
	// container's ID. They never collide with byName: a container's own
	// name has no inner slash.
	links map[string]string
}

// NewStore returns a store for containers under root
// (DATA_ROOT/containers).
func NewStore(root string) *Store {
	return &Store{root: root, byID: map[string]*Container{}, byName: map[string]string{}, links: map[string]string{}}
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
	for _, c := range out {
		s.reserveLinksLocked(c)
	}
	return out, nil
}

// ReserveLinks reserves the names of c's legacy links, "/<name>/<alias>",
// for the linked containers. The caller holds c's lock.
func (s *Store) ReserveLinks(c *Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserveLinksLocked(c)
}

func (s *Store) reserveLinksLocked(c *Container) {
	for alias, id := range c.LinkTargets {
		// A link to a container that is gone holds no name.
		if _, ok := s.byID[id]; ok && c.Name != "" {
			s.links[c.Name+"/"+alias] = id
		}
	}
}

// ReleaseLink frees the name of one legacy link ("/parent/alias").
func (s *Store) ReleaseLink(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.links, normalizeName(name))
}

// NameOf is the name of the container with that ID ("" when there is
// none), read under the store's lock rather than the container's.
func (s *Store) NameOf(id string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.byID[id]; !ok {
		return ""
	}
	for name, holder := range s.byName {
		if holder == id {
			return name
		}
	}
	return ""
}

// Names are every name of c as dockerd lists them: its own, then one per
// legacy link to it ("/parent/alias"), sorted.
func (s *Store) Names(c *Container) []string {
	names := []string{c.Name}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var links []string
	for name, id := range s.links {
		if id == c.ID {
			links = append(links, name)
		}
	}
	sort.Strings(links)
	return append(names, links...)
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
	// Its own links go with it, and so do the names other containers'
	// links gave it.
	for name, id := range s.links {
		if id == c.ID || strings.HasPrefix(name, c.Name+"/") {
			delete(s.links, name)
		}
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
	if id, ok := s.links[normalizeName(ref)]; ok {
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
	// The container's links are named after it: they move with it.
	for name, id := range s.links {
		if alias, ok := strings.CutPrefix(name, c.Name+"/"); ok {
			delete(s.links, name)
			s.links[newName+"/"+alias] = id
		}
	}
	return nil
}
