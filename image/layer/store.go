package layer

import (
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/image/unpack"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/topdir"
)

// Layer is one stored layer.
type Layer struct {
	ChainID digest.Digest `json:"chainID"`
	DiffID  digest.Digest `json:"diffID"`
	// Parent is the chain ID of the layer below, "" for a base layer.
	Parent digest.Digest `json:"parent,omitempty"`
	// Size is the sum of the tar entries' sizes (dockerd's layer size).
	Size int64 `json:"size"`
	// TarSize is the length of the uncompressed layer tar.
	TarSize int64 `json:"tarSize"`
	// Link names the layer's short alias l/<Link> -> ../<chain hex>/diff,
	// which keeps overlay's lowerdir option under the page-size limit
	// for deep images (dockerd's overlay2 does the same).
	Link string `json:"link,omitempty"`

	refs int
}

// Store is the layer store.
type Store struct {
	root string

	mu     sync.RWMutex // reads (Get, Stack, All, HeldBy…) share it
	layers map[digest.Digest]*Layer
	holds  map[string]digest.Digest
}

// ChainIDs returns the chain ID of each prefix of diffIDs.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	return identity.ChainIDs(append([]digest.Digest(nil), diffIDs...))
}

// ChainID is the chain ID of the whole stack.
func ChainID(diffIDs []digest.Digest) digest.Digest {
	if len(diffIDs) == 0 {
		return ""
	}
	return identity.ChainID(diffIDs)
}

// New returns the store at root. It only creates directories; Load reads
// the layers.
func New(root string) (*Store, error) {
	for _, d := range []string{root, filepath.Join(root, "holds"), filepath.Join(root, linkDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// New layers are made in tmp, one directory each: spread over the
	// filesystem's block groups (pkg/topdir).
	if err := topdir.Mark(filepath.Join(root, "tmp"), 0o700); err != nil {
		return nil, err
	}
	return &Store{root: root, layers: map[digest.Digest]*Layer{}, holds: map[string]digest.Digest{}}, nil
}

func (s *Store) dir(chain digest.Digest) string { return filepath.Join(s.root, chain.Encoded()) }

// DiffDir is the directory holding a layer's files.
func (s *Store) DiffDir(chain digest.Digest) string { return filepath.Join(s.dir(chain), "diff") }

// linkDir holds the short aliases of the layers' diff directories.
const linkDir = "l"

// newLink returns a random short alias: 26 base32 characters, as dockerd
// names its own, so 120 lowerdirs fit in one page of mount options.
func newLink() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:26]
}

func (s *Store) linkPath(link string) string { return filepath.Join(s.root, linkDir, link) }

// makeLink (re)creates l/<link> for chain.
func (s *Store) makeLink(l *Layer) error {
	target := filepath.Join("..", l.ChainID.Encoded(), "diff")
	p := s.linkPath(l.Link)
	if cur, err := os.Readlink(p); err == nil {
		if cur == target {
			return nil
		}
		os.Remove(p)
	}
	return os.Symlink(target, p)
}

// randomName is a name for a staging directory beside the layers: short,
// not an object ID (stringid's 64 digits would be), and never shown.
func randomName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Load rebuilds the index and the reference counts from disk. tops are the
// top chain IDs of every image; Load returns those that do not exist, so
// the image store can drop those images. Everything nothing holds is
// removed.
func (s *Store) Load(tops []digest.Digest) (missing []digest.Digest, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp := filepath.Join(s.root, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.root, e.Name(), "layer.json"))
		var l Layer
		if err == nil {
			err = json.Unmarshal(b, &l)
		}
		if err != nil || l.ChainID.Encoded() != e.Name() {
			logrus.WithField("layer", e.Name()).WithError(err).Warn("removing unreadable layer")
			s.removeDir(l.ChainID, e.Name())
			continue
		}
		s.layers[l.ChainID] = &l
	}
	// A layer whose parent is gone is unusable; so are its children.
	for changed := true; changed; {
		changed = false
		for id, l := range s.layers {
			if l.Parent != "" && s.layers[l.Parent] == nil {
				logrus.WithField("layer", id).Warn("removing layer whose parent is missing")
				delete(s.layers, id)
				s.removeDir(id, id.Encoded())
				changed = true
			}
		}
	}
	for _, l := range s.layers {
		if l.Parent != "" {
			s.layers[l.Parent].refs++
		}
	}
	if hs, err := os.ReadDir(filepath.Join(s.root, "holds")); err == nil {
		for _, h := range hs {
			p := filepath.Join(s.root, "holds", h.Name())
			b, _ := os.ReadFile(p)
			d := digest.Digest(strings.TrimSpace(string(b)))
			if l := s.layers[d]; l != nil {
				l.refs++
				s.holds[h.Name()] = d
			} else {
				os.Remove(p)
			}
		}
	}
	for _, t := range tops {
		if l := s.layers[t]; l != nil {
			l.refs++
		} else {
			missing = append(missing, t)
		}
	}
	var orphans []digest.Digest
	for id, l := range s.layers {
		if l.refs == 0 {
			orphans = append(orphans, id)
		}
	}
	var trash []string
	for _, id := range orphans {
		logrus.WithField("layer", id).Info("removing layer no image holds")
		s.layers[id].refs = 1
		_, t := s.releaseLocked(id)
		trash = append(trash, t...)
	}
	removeAll(trash)
	s.repairLinksLocked()
	return missing, nil
}

// repairLinksLocked gives every layer its short alias (layers stored
// before aliases existed get a new one) and removes aliases of layers that
// are gone: a crash between a layer's rename and its alias, or between an
// alias' removal and the layer's, leaves one of the two behind.
func (s *Store) repairLinksLocked() {
	want := map[string]bool{}
	for _, l := range s.layers {
		if l.Link == "" {
			l.Link = newLink()
			b, _ := json.Marshal(l)
			if err := atomicfile.WriteFile(filepath.Join(s.dir(l.ChainID), "layer.json"), b, 0o600); err != nil {
				logrus.WithError(err).WithField("layer", l.ChainID).Warn("could not record the layer's short link")
			}
		}
		want[l.Link] = true
		if err := s.makeLink(l); err != nil {
			logrus.WithError(err).WithField("layer", l.ChainID).Warn("could not make the layer's short link")
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, linkDir))
	for _, e := range ents {
		if !want[e.Name()] {
			os.Remove(s.linkPath(e.Name()))
		}
	}
}

// removeAll deletes directories already renamed into tmp/, outside the
// store lock: deleting a big layer takes long and must not stall loads.
func removeAll(dirs []string) {
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// removeDir deletes a layer directory by moving it into tmp/ first, so a
// crash never leaves half a layer in place.
func (s *Store) removeDir(chain digest.Digest, name string) {
	if t := s.trashDir(name); t != "" {
		os.RemoveAll(t)
	}
}

// trashDir moves a layer directory into tmp/ (atomic) and returns where it
// went, for the caller to delete once it has dropped the lock.
func (s *Store) trashDir(name string) string {
	trash := filepath.Join(s.root, "tmp", randomName("rm-"))
	err := os.Rename(filepath.Join(s.root, name), trash)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		// No room in tmp/ for the entry (a full disk, which is when an
		// rmi must free space): delete in place, the record first, so
		// that what a crash leaves is unreadable and goes at the next
		// start (Load).
		dir := filepath.Join(s.root, name)
		if rerr := os.Remove(filepath.Join(dir, "layer.json")); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
			return dir
		}
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			logrus.WithError(err).WithField("layer", name).Warn("could not remove layer")
		}
		return ""
	}
	return trash
}

// Pending is an unpacked layer not yet in the store.
type Pending struct {
	dir    string
	Result unpack.Result
	// DiskSize is dockerd's size of the layer: the bytes of its files as
	// stored (regular files, and symlinks by the length of their target),
	// each inode once. It is what `docker inspect` and `docker history`
	// show, so it must be counted the way dockerd's overlay2 counts it.
	DiskSize int64
}

// Discard deletes a pending layer.
func (p *Pending) Discard() {
	if p != nil && p.dir != "" {
		os.RemoveAll(p.dir)
		p.dir = ""
	}
}

// Unpack extracts the uncompressed layer tar r into a pending layer.
func (s *Store) Unpack(ctx context.Context, r io.Reader) (*Pending, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "new-")
	if err != nil {
		return nil, err
	}
	p := &Pending{dir: dir}
	ok := false
	defer func() {
		if !ok {
			p.Discard()
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, "diff"), 0o755); err != nil {
		return nil, err
	}
	rf, err := os.Create(filepath.Join(dir, "tar-record.gz"))
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	gz, _ := gzip.NewWriterLevel(rf, flate.BestSpeed)
	res, err := unpack.Apply(ctx, filepath.Join(dir, "diff"), r, gz)
	if err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	if err := rf.Close(); err != nil {
		return nil, err
	}
	p.Result = res
	if p.DiskSize, err = diskSize(filepath.Join(dir, "diff")); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// diskSize is dockerd's directory.Size: every non-directory's st_size,
// hard-linked inodes once; directories count nothing.
func diskSize(dir string) (int64, error) {
	var n int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Size == 0 || seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		n += st.Size
		return nil
	})
	return n, err
}

// Commit stores a pending layer on top of parent ("" for a base layer) and
// returns its chain ID with one reference taken for the caller. When the
// chain is already stored the pending copy is discarded. The caller holds
// a reference on parent for the duration of the call.
func (s *Store) Commit(p *Pending, parent digest.Digest) (digest.Digest, error) {
	chain := p.Result.DiffID
	if parent != "" {
		chain = identity.ChainID([]digest.Digest{parent, p.Result.DiffID})
	}
	s.mu.Lock()
	if l := s.layers[chain]; l != nil {
		l.refs++
		s.mu.Unlock()
		p.Discard()
		return chain, nil
	}
	if parent != "" && s.layers[parent] == nil {
		s.mu.Unlock()
		return "", errdefs.NotFoundf("parent layer %s not found", parent)
	}
	s.mu.Unlock()

	l := &Layer{ChainID: chain, DiffID: p.Result.DiffID, Parent: parent, Size: p.DiskSize, TarSize: p.Result.TarSize, Link: newLink()}
	b, _ := json.Marshal(l)
	if err := os.WriteFile(filepath.Join(p.dir, "layer.json"), b, 0o600); err != nil {
		return "", err
	}
	// One syncfs makes the files, the record and layer.json durable before
	// the rename publishes the layer.
	if fd, err := unix.Open(p.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Syncfs(fd)
		unix.Close(fd)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if existing := s.layers[chain]; existing != nil {
		// Another load committed the same chain meanwhile.
		existing.refs++
		p.Discard()
		return chain, nil
	}
	if parent != "" && s.layers[parent] == nil {
		return "", errdefs.NotFoundf("parent layer %s not found", parent)
	}
	if err := os.Rename(p.dir, s.dir(chain)); err != nil {
		return "", err
	}
	p.dir = ""
	// The alias is made after the rename: a crash in between leaves a
	// layer without alias, which Load repairs, never a dangling alias.
	if err := s.makeLink(l); err != nil {
		s.removeDir(chain, chain.Encoded())
		return "", err
	}
	if err := atomicfile.SyncDir(s.root); err != nil {
		return "", err
	}
	l.refs = 1
	s.layers[chain] = l
	if parent != "" {
		s.layers[parent].refs++
	}
	return chain, nil
}

// Get returns a copy of a layer's metadata.
func (s *Store) Get(chain digest.Digest) (Layer, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.layers[chain]
	if l == nil {
		return Layer{}, false
	}
	return *l, true
}

// Exists reports whether chain is stored.
func (s *Store) Exists(chain digest.Digest) bool {
	_, ok := s.Get(chain)
	return ok
}

// Acquire takes a reference on chain.
func (s *Store) Acquire(chain digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.layers[chain]
	if l == nil {
		return errdefs.NotFoundf("layer %s not found", chain)
	}
	l.refs++
	return nil
}

// Release drops a reference on chain and returns the layers that no longer
// have any, which are removed.
func (s *Store) Release(chain digest.Digest) []Layer {
	s.mu.Lock()
	removed, trash := s.releaseLocked(chain)
	s.mu.Unlock()
	removeAll(trash)
	return removed
}

// releaseLocked unpublishes the layers that lose their last reference
// (alias, then directory moved into tmp/) and returns them with the tmp/
// paths the caller deletes after unlocking.
func (s *Store) releaseLocked(chain digest.Digest) (removed []Layer, trash []string) {
	for chain != "" {
		l := s.layers[chain]
		if l == nil {
			break
		}
		l.refs--
		if l.refs > 0 {
			break
		}
		delete(s.layers, chain)
		if l.Link != "" {
			os.Remove(s.linkPath(l.Link))
		}
		if t := s.trashDir(chain.Encoded()); t != "" {
			trash = append(trash, t)
		}
		removed = append(removed, *l)
		chain = l.Parent
	}
	return removed, trash
}

// Stack returns the layers from chain down to the base, top first.
func (s *Store) Stack(chain digest.Digest) ([]Layer, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Layer
	for chain != "" {
		l := s.layers[chain]
		if l == nil {
			return nil, errdefs.NotFoundf("layer %s not found", chain)
		}
		out = append(out, *l)
		chain = l.Parent
	}
	return out, nil
}

// DiffDirs returns the diff directories from chain down to the base, top
// first: the order of overlay's lowerdir option.
func (s *Store) DiffDirs(chain digest.Digest) ([]string, error) {
	stack, err := s.Stack(chain)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(stack))
	for i, l := range stack {
		dirs[i] = s.DiffDir(l.ChainID)
	}
	return dirs, nil
}

// Links returns the short aliases of the layers from chain down to the
// base, top first, relative to Root: "l/<link>". Mount with them from Root
// (see MountOverlay) to keep deep images under the mount options' limit.
func (s *Store) Links(chain digest.Digest) ([]string, error) {
	stack, err := s.Stack(chain)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(stack))
	for i, l := range stack {
		if l.Link == "" {
			return nil, fmt.Errorf("layer %s has no short link", l.ChainID)
		}
		out[i] = linkDir + "/" + l.Link
	}
	return out, nil
}

// Root is the store's directory, the base of Links.
func (s *Store) Root() string { return s.root }

// WriteTar writes the layer's original uncompressed tar to w. The caller
// holds a reference on chain.
func (s *Store) WriteTar(chain digest.Digest, w io.Writer) error {
	f, err := os.Open(filepath.Join(s.dir(chain), "tar-record.gz"))
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	defer gz.Close()
	return unpack.Reassemble(s.DiffDir(chain), gz, w)
}

// All returns every stored layer.
func (s *Store) All() []Layer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Layer, 0, len(s.layers))
	for _, l := range s.layers {
		out = append(out, *l)
	}
	return out
}

func validOwner(owner string) bool {
	return owner != "" && owner != "." && owner != ".." && !strings.ContainsAny(owner, "/\x00") && len(owner) <= 200
}

// Hold takes a persistent reference on chain for owner (a container ID),
// which survives daemon restarts until Unhold.
func (s *Store) Hold(owner string, chain digest.Digest) error {
	if !validOwner(owner) {
		return errdefs.InvalidParameterf("invalid layer holder %q", owner)
	}
	s.mu.Lock()
	if cur, ok := s.holds[owner]; ok {
		s.mu.Unlock()
		if cur == chain {
			return nil
		}
		return errdefs.Conflictf("%s already holds layer %s", owner, cur)
	}
	l := s.layers[chain]
	if l == nil {
		s.mu.Unlock()
		return errdefs.NotFoundf("layer %s not found", chain)
	}
	// The reference is taken in memory first and written after: the
	// write's two fsyncs are paid by this container's create alone, not
	// by every create, inspect and removal waiting on the store's lock.
	// The owner is a container being created, which nothing else holds
	// or releases until its create returns.
	l.refs++
	s.holds[owner] = chain
	s.mu.Unlock()
	if err := atomicfile.WriteFile(filepath.Join(s.root, "holds", owner), []byte(chain), 0o600); err != nil {
		s.mu.Lock()
		var trash []string
		if s.holds[owner] == chain {
			delete(s.holds, owner)
			_, trash = s.releaseLocked(chain)
		}
		s.mu.Unlock()
		removeAll(trash)
		return err
	}
	return nil
}

// HeldBy returns the chain owner holds, if any.
func (s *Store) HeldBy(owner string) (digest.Digest, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	chain, ok := s.holds[owner]
	return chain, ok
}

// Unhold drops owner's reference; without one it does nothing.
func (s *Store) Unhold(owner string) ([]Layer, error) {
	if !validOwner(owner) {
		return nil, errdefs.InvalidParameterf("invalid layer holder %q", owner)
	}
	s.mu.RLock()
	chain, ok := s.holds[owner]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	// The file goes first and outside the lock (an unlink waits for the
	// directory that creates are syncing); the owner is a container being
	// removed, which nothing else holds or releases meanwhile.
	if err := os.Remove(filepath.Join(s.root, "holds", owner)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s.mu.Lock()
	if s.holds[owner] != chain {
		s.mu.Unlock()
		return nil, nil
	}
	delete(s.holds, owner)
	removed, trash := s.releaseLocked(chain)
	s.mu.Unlock()
	removeAll(trash)
	return removed, nil
}

// Held reports the chain owner holds.
func (s *Store) Held(owner string) (digest.Digest, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.holds[owner]
	return d, ok
}

// String is for logs.
func (l Layer) String() string { return fmt.Sprintf("%s(diff %s)", l.ChainID, l.DiffID) }
