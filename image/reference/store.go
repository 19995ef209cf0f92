package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"syscall"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
)

// Store maps references to image IDs.
type Store struct {
	path string
	mu   sync.RWMutex
	refs map[string]digest.Digest
	seq  uint64
}

type onDisk struct {
	Refs map[string]digest.Digest `json:"refs"`
	// Seq counts the saves of the file. An image record that names the
	// references it is being given (docker load) carries the Seq the file
	// has once they are in it, so a start can tell a crash before that
	// save (apply them) from any state after it (leave the names alone:
	// the user may have moved or removed them since).
	Seq uint64 `json:"seq,omitempty"`
}

// New loads the store kept in the file at path (absent means empty).
func New(path string) (*Store, error) {
	s := &Store{path: path, refs: map[string]digest.Digest{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var d onDisk
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	s.seq = d.Seq
	for k, v := range d.Refs {
		if _, err := reference.ParseNormalizedNamed(k); err == nil && v.Validate() == nil {
			s.refs[k] = v
		}
	}
	s.keepSpareLocked(len(b))
	return s, nil
}

// saveLocked replaces the file durably (fsync of the file and of its
// directory). The file is every name of every image: a torn or empty file
// after a power loss would lose them all, and a name the user was told
// exists (tag, load, build -t) must survive one. It is written only when a
// name changes. removing says the save only drops names: it may then use
// the spare (see spareSize).
func (s *Store) saveLocked(removing bool) error {
	b, err := json.Marshal(onDisk{Refs: s.refs, Seq: s.seq + 1})
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(s.path, b, 0o600)
	if removing && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		if os.Remove(s.sparePath()) == nil {
			err = atomicfile.WriteFile(s.path, b, 0o600)
		}
	}
	if err != nil {
		return err
	}
	s.seq++
	s.keepSpareLocked(len(b))
	return nil
}

// spareSize is the least room kept in a preallocated file beside
// references.json that a save dropping names deletes when the disk is
// full: the file is rewritten whole, so without it an rmi, the way to
// free space, would fail on a full disk for want of one block. It is
// made again at the next save that finds room.
const spareSize = 256 << 10

func (s *Store) sparePath() string { return s.path + ".spare" }

// keepSpareLocked makes the spare (twice the file's size, at least
// spareSize) when it is missing or too small; best effort.
func (s *Store) keepSpareLocked(fileSize int) {
	want := max(int64(spareSize), 2*int64(fileSize))
	if fi, err := os.Stat(s.sparePath()); err == nil && fi.Size() >= want {
		return
	}
	f, err := os.OpenFile(s.sparePath(), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, want); err != nil {
		os.Remove(s.sparePath())
	}
}

// Seq is the number of saves the file on disk has had (see onDisk.Seq).
// The next save makes it Seq()+1.
func (s *Store) Seq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

// AddAll points every ref (tagged or digested) at id with one save of the
// file, and returns the images they pointed at before ("" for none), in
// the order of refs. Nothing is saved when every ref already points at id.
func (s *Store) AddAll(refs []reference.Named, id digest.Digest) ([]digest.Digest, error) {
	for _, ref := range refs {
		if err := checkTaggedOrDigested(ref); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	olds := make([]digest.Digest, len(refs))
	prev := map[string]digest.Digest{}
	changed := false
	for i, ref := range refs {
		k := ref.String()
		olds[i] = s.refs[k]
		if _, seen := prev[k]; !seen {
			prev[k] = s.refs[k]
		}
		if s.refs[k] != id {
			s.refs[k] = id
			changed = true
		}
	}
	if !changed {
		return olds, nil
	}
	if err := s.saveLocked(false); err != nil {
		for k, old := range prev {
			if old == "" {
				delete(s.refs, k)
			} else {
				s.refs[k] = old
			}
		}
		return nil, err
	}
	return olds, nil
}

func checkTaggedOrDigested(ref reference.Named) error {
	if _, tagged := ref.(reference.NamedTagged); !tagged {
		if _, canonical := ref.(reference.Canonical); !canonical {
			return errdefs.InvalidParameterf("reference %s has neither tag nor digest", ref)
		}
	}
	return nil
}

// Add points ref (tagged or digested) at id and returns the image it
// pointed at before, "" if none.
func (s *Store) Add(ref reference.Named, id digest.Digest) (digest.Digest, error) {
	if err := checkTaggedOrDigested(ref); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.refs[ref.String()]
	if old == id {
		return old, nil
	}
	s.refs[ref.String()] = id
	if err := s.saveLocked(false); err != nil {
		if old == "" {
			delete(s.refs, ref.String())
		} else {
			s.refs[ref.String()] = old
		}
		return "", err
	}
	return old, nil
}

// Delete removes ref and reports whether it existed.
func (s *Store) Delete(ref reference.Named) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.refs[ref.String()]
	if !ok {
		return false, nil
	}
	delete(s.refs, ref.String())
	if err := s.saveLocked(true); err != nil {
		s.refs[ref.String()] = id
		return false, err
	}
	return true, nil
}

// Get returns the image ref points at.
func (s *Store) Get(ref reference.Named) (digest.Digest, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.refs[ref.String()]
	return id, ok
}

func parsed(k string) reference.Named {
	r, _ := reference.ParseNormalizedNamed(k)
	return r
}

// References returns every reference to id, sorted.
func (s *Store) References(id digest.Digest) []reference.Named {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for k, v := range s.refs {
		if v == id {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]reference.Named, 0, len(keys))
	for _, k := range keys {
		out = append(out, parsed(k))
	}
	return out
}

// Association is one reference and its image.
type Association struct {
	Ref reference.Named
	ID  digest.Digest
}

// InRepository returns every reference in the repository of name, sorted.
func (s *Store) InRepository(name reference.Named) []Association {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Association
	for k, v := range s.refs {
		r := parsed(k)
		if r != nil && r.Name() == name.Name() {
			out = append(out, Association{Ref: r, ID: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.String() < out[j].Ref.String() })
	return out
}

// All returns every reference by image ID.
func (s *Store) All() map[digest.Digest][]reference.Named {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[digest.Digest][]reference.Named{}
	keys := make([]string, 0, len(s.refs))
	for k := range s.refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[s.refs[k]] = append(out[s.refs[k]], parsed(k))
	}
	return out
}

// Prune drops references to images keep rejects (left by a crash between
// deleting an image and its names).
func (s *Store) Prune(keep func(digest.Digest) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for k, v := range s.refs {
		if !keep(v) {
			delete(s.refs, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.saveLocked(true)
}

// ParseNamed parses a repository reference the user typed, defaulting the
// tag to latest. Errors read like dockerd's and are invalid-parameter.
func ParseNamed(s string) (reference.Named, error) {
	r, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	return reference.TagNameOnly(r), nil
}

// ParseTag parses the target of a tag operation: repo plus an optional
// separate tag, as POST /images/{name}/tag and import take them.
func ParseTag(repo, tag string) (reference.NamedTagged, error) {
	r, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if _, isDigested := r.(reference.Canonical); isDigested {
		return nil, errdefs.InvalidParameterf("refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if _, err := digest.Parse(tag); err == nil {
			return nil, errdefs.InvalidParameterf("refusing to create a tag with a digest reference")
		}
		r, err = reference.WithTag(reference.TrimNamed(r), tag)
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	r = reference.TagNameOnly(r)
	if r.Name() == "docker.io/library/"+string(digest.Canonical) {
		return nil, errdefs.InvalidParameterf("refusing to create an ambiguous tag using digest algorithm as name")
	}
	return r.(reference.NamedTagged), nil
}

// Familiar is the short form docker shows (busybox:latest).
func Familiar(r reference.Reference) string { return reference.FamiliarString(r) }

// IsNameOnly reports whether r has neither tag nor digest.
func IsNameOnly(r reference.Named) bool { return reference.IsNameOnly(r) }

// FamiliarMatch reports whether pattern (a path.Match glob) matches r the
// way `docker images --filter reference=` does.
func FamiliarMatch(pattern string, r reference.Reference) bool {
	ok, _ := reference.FamiliarMatch(pattern, r)
	return ok
}
