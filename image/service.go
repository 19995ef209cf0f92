package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image/content"
	"github.com/berthd/berth/image/layer"
	refstore "github.com/berthd/berth/image/reference"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
)

// Usage is one container using an image.
type Usage struct {
	ContainerID string
	Running     bool
	// Mount is a use by an image mount (`--mount type=image`), not as the
	// container's image. As in dockerd it keeps a last tag from an
	// unforced rmi and the image from a prune, but no container counts
	// it as its image, nor does it stop an rmi by ID (the mount holds
	// the layers itself).
	Mount bool
}

// EventFunc receives image events: the action, the image ID, and the
// attributes dockerd puts on the actor (the image's labels and "name").
type EventFunc func(action events.Action, id string, attrs map[string]string)

// Service is the local image store and everything done with it.
type Service struct {
	root string

	initOnce sync.Once
	initErr  error

	content *content.Store
	layers  *layer.Store
	refs    *refstore.Store

	// mu guards images and serialises the operations that change which
	// images exist (register, delete), so that conflict checks and the
	// change they guard are one step.
	mu     sync.RWMutex
	images map[digest.Digest]*Image

	// usage lists, per image ID, the containers using it. It is called
	// before mu is taken (a container lock may be held by a caller that
	// waits for mu), and the snapshot is kept in snap while mu is held.
	usage  func() map[digest.Digest][]Usage
	snap   map[digest.Digest][]Usage
	events EventFunc
}

// New returns the service for DATA_ROOT/image without reading anything.
func New(root string) *Service {
	return &Service{root: root, images: map[digest.Digest]*Image{}}
}

// SetUsage installs the function that maps image IDs to the containers
// using them.
func (s *Service) SetUsage(f func() map[digest.Digest][]Usage) { s.usage = f }

func (s *Service) usageSnapshot() map[digest.Digest][]Usage {
	if s.usage == nil {
		return nil
	}
	return s.usage()
}

// SetEvents installs the event sink.
func (s *Service) SetEvents(f EventFunc) { s.events = f }

// Start loads the stores in the background; calls wait for it.
func (s *Service) Start() { go s.ready() }

func (s *Service) ready() error {
	s.initOnce.Do(func() { s.initErr = s.load() })
	return s.initErr
}

func (s *Service) imagesDir() string { return filepath.Join(s.root, "images") }

func (s *Service) tagTimesDir() string { return filepath.Join(s.root, "tagtimes") }

func (s *Service) load() error {
	start := time.Now()
	var err error
	if s.content, err = content.New(filepath.Join(s.root, "content")); err != nil {
		return err
	}
	if err := s.content.Cleanup(); err != nil {
		return err
	}
	if s.layers, err = layer.New(filepath.Join(s.root, "layers")); err != nil {
		return err
	}
	if s.refs, err = refstore.New(filepath.Join(s.root, "references.json")); err != nil {
		return err
	}
	for _, dir := range []string{s.imagesDir(), s.tagTimesDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(s.imagesDir())
	if err != nil {
		return err
	}
	var tops []digest.Digest
	pending := map[digest.Digest]record{}
	for _, e := range ents {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			// Temp files from an interrupted atomic write.
			os.Remove(filepath.Join(s.imagesDir(), e.Name()))
			continue
		}
		id := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if id.Validate() != nil {
			continue
		}
		img, meta, err := s.readImage(id)
		if len(meta.PendingRefs) > 0 {
			pending[id] = meta
		}
		if err != nil {
			logrus.WithField("image", id).WithError(err).Warn("dropping unreadable image")
			os.Remove(filepath.Join(s.imagesDir(), e.Name()))
			continue
		}
		s.images[id] = img
		if img.TopChain != "" {
			tops = append(tops, img.TopChain)
		}
	}
	missing, err := s.layers.Load(tops)
	if err != nil {
		return err
	}
	for _, m := range missing {
		for id, img := range s.images {
			if img.TopChain == m {
				logrus.WithField("image", id).Warn("dropping image whose layers are missing")
				delete(s.images, id)
				os.Remove(filepath.Join(s.imagesDir(), id.Encoded()+".json"))
			}
		}
	}
	refsSeq := s.refs.Seq()
	for id, meta := range pending {
		img := s.images[id]
		if img == nil {
			continue
		}
		switch {
		case meta.RefsSeq == 0:
			// An older version's record: it cleared the names by
			// rewriting the record once they were stored.
			s.applyPendingRefs(img, meta.PendingRefs, true)
		case meta.RefsSeq > refsSeq:
			// Killed between the record and references.json.
			s.applyPendingRefs(img, meta.PendingRefs, false)
		}
	}
	s.readTagTimes()
	s.removeOrphanConfigs()
	if err := s.refs.Prune(func(id digest.Digest) bool { return s.images[id] != nil }); err != nil {
		return err
	}
	logrus.WithFields(logrus.Fields{"images": len(s.images), "took": time.Since(start)}).Debug("image store loaded")
	return nil
}

// removeOrphanConfigs deletes the blobs no image record names. The
// content store holds only image configs (an image's ID is its config's
// digest), and RegisterNamed writes the config before the record that
// commits the image: a daemon killed in between, or an image dropped above
// or deleted in part, leaves a config nothing will ever use.
func (s *Service) removeOrphanConfigs() {
	var orphans []digest.Digest
	if err := s.content.Walk(func(d digest.Digest) error {
		if s.images[d] == nil {
			orphans = append(orphans, d)
		}
		return nil
	}); err != nil {
		logrus.WithError(err).Warn("could not list the image configs")
		return
	}
	for _, d := range orphans {
		logrus.WithField("image", d).Info("removing the config of an image that was never recorded")
		if err := s.content.Delete(d); err != nil {
			logrus.WithField("image", d).WithError(err).Warn("could not remove an orphan image config")
		}
	}
}

// readTagTimes sets the tag times of the loaded images and removes those
// of images that are gone (a crash between removing an image's record and
// its tag time).
func (s *Service) readTagTimes() {
	ents, err := os.ReadDir(s.tagTimesDir())
	if err != nil {
		logrus.WithError(err).Warn("could not list the image tag times")
		return
	}
	for _, e := range ents {
		p := filepath.Join(s.tagTimesDir(), e.Name())
		id := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		img := s.images[id]
		if id.Validate() != nil || img == nil {
			// Temp files of an interrupted write, or an image's that is
			// gone.
			os.Remove(p)
			continue
		}
		b, err := os.ReadFile(p)
		var t time.Time
		if err == nil {
			err = t.UnmarshalText(b)
		}
		if err != nil {
			// An empty or stale file after a power loss (it is written
			// without fsync): the tag time is lost, nothing else.
			logrus.WithField("image", id).WithError(err).Debug("ignoring an unreadable tag time")
			continue
		}
		img.LastTagTime = t
	}
}

func (s *Service) readImage(id digest.Digest) (*Image, record, error) {
	var meta record
	b, err := os.ReadFile(filepath.Join(s.imagesDir(), id.Encoded()+".json"))
	if err != nil {
		return nil, meta, err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, meta, err
	}
	raw, err := s.content.Get(id)
	if err != nil {
		return nil, meta, err
	}
	img, err := newImage(raw, meta)
	return img, meta, err
}

func (s *Service) writeRecord(img *Image) error { return s.writeRecordPending(img, nil) }

// writeRecordPending writes the image record durably (fsync of the file
// and of images/): the record is the commit point of an image, whose
// config and layers are durable before it; names are added to
// references.json (durable too) only after it, so no name survives a power
// loss that the image does not. pending are the names being added (see
// record.RefsSeq); callers hold mu, under which references.json changes,
// so its next save is the one that stores them.
func (s *Service) writeRecordPending(img *Image, pending []string) error {
	rec := record{Parent: img.Parent, LastTagTime: img.LastTagTime, PendingRefs: pending}
	if len(pending) > 0 {
		rec.RefsSeq = s.refs.Seq() + 1
	}
	b, _ := json.Marshal(rec)
	return atomicfile.WriteFile(filepath.Join(s.imagesDir(), img.ID.Encoded()+".json"), b, 0o600)
}

// writeTagTime records when the image was last tagged, by rename without
// fsync: after a power loss the file may hold the previous time, or be
// empty, which loses only the time (readTagTimes ignores it); the image
// and its names are in other, durable files. A docker tag, which every
// build -t ends with, pays no fsync for it.
func (s *Service) writeTagTime(img *Image) error {
	b, _ := img.LastTagTime.MarshalText()
	return atomicfile.WriteFileVolatile(filepath.Join(s.tagTimesDir(), img.ID.Encoded()), b, 0o600)
}

func (s *Service) log(action events.Action, img *Image, name string) {
	if s.events == nil {
		return
	}
	attrs := map[string]string{}
	if img != nil && img.Config != nil {
		for k, v := range img.Labels() {
			attrs[k] = v
		}
	}
	attrs["name"] = name
	s.events(action, img.ID.String(), attrs)
}

// Layers gives the layer store to callers that stream layers (tarexport).
func (s *Service) Layers() (*layer.Store, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	return s.layers, nil
}

// NotFoundError is dockerd's "No such image".
func notFound(ref string) error {
	return errdefs.NotFoundf("No such image: %s", ref)
}

var shortID = regexp.MustCompile(`^(sha256:)?[a-f0-9]{1,64}$`)

// Get resolves a name, name:tag, name@digest, full ID or unique ID prefix.
func (s *Service) Get(refOrID string) (*Image, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getLocked(refOrID)
}

func (s *Service) getLocked(refOrID string) (*Image, error) {
	ref, err := reference.ParseAnyReference(refOrID)
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	named, isNamed := ref.(reference.Named)
	if !isNamed {
		dgst, ok := ref.(reference.Digested)
		if !ok {
			return nil, notFound(refOrID)
		}
		if img := s.images[dgst.Digest()]; img != nil {
			return img, nil
		}
		return nil, notFound(reference.FamiliarString(ref))
	}
	if id, ok := s.refs.Get(reference.TagNameOnly(named)); ok {
		if img := s.images[id]; img != nil {
			return img, nil
		}
	}
	if shortID.MatchString(refOrID) {
		if img := s.searchLocked(refOrID); img != nil {
			return img, nil
		}
	}
	return nil, notFound(reference.FamiliarString(reference.TagNameOnly(named)))
}

// searchLocked finds the one image whose ID starts with prefix.
func (s *Service) searchLocked(prefix string) *Image {
	prefix = strings.TrimPrefix(prefix, "sha256:")
	var found *Image
	for id, img := range s.images {
		if strings.HasPrefix(id.Encoded(), prefix) {
			if found != nil {
				return nil // ambiguous
			}
			found = img
		}
	}
	return found
}

// isIDPrefix reports whether the user named img by (a prefix of) its ID
// rather than by a reference.
func isIDPrefix(id digest.Digest, s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	return s != "" && shortID.MatchString(s) && strings.HasPrefix(id.Encoded(), s)
}

// Count is the number of images (docker info).
func (s *Service) Count() int {
	if s.ready() != nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.images)
}

// Size is the sum of the image's layer sizes.
func (s *Service) Size(img *Image) int64 {
	if img.TopChain == "" {
		return 0
	}
	stack, err := s.layers.Stack(img.TopChain)
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range stack {
		n += l.Size
	}
	return n
}

// Register adds an image from its config whose layers are already in the
// layer store. The caller holds one reference on the top chain, which
// passes to the image (or is dropped when the image already exists).
// It reports whether the image is new.
func (s *Service) Register(raw []byte, parent digest.Digest) (*Image, bool, error) {
	img, created, _, err := s.RegisterNamed(raw, parent, nil)
	return img, created, err
}

// RegisterNamed is Register that also points refs at the image, in one
// step a crash cannot split: a new image is on disk with its names or not
// at all. olds are the images the refs pointed at before ("" for none),
// in the order of refs.
func (s *Service) RegisterNamed(raw []byte, parent digest.Digest, refs []reference.Named) (img *Image, created bool, olds []digest.Digest, err error) {
	if err := s.ready(); err != nil {
		return nil, false, nil, err
	}
	for _, r := range refs {
		if _, tagged := r.(reference.NamedTagged); !tagged {
			if _, canonical := r.(reference.Canonical); !canonical {
				return nil, false, nil, errdefs.InvalidParameterf("reference %s has neither tag nor digest", r)
			}
		}
	}
	img, err = newImage(raw, record{Parent: parent})
	if err != nil {
		return nil, false, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing := s.images[img.ID]; existing != nil {
		if img.TopChain != "" {
			s.layers.Release(img.TopChain)
		}
		olds, err = s.refs.AddAll(refs, existing.ID)
		return existing, false, olds, err
	}
	if img.TopChain != "" && !s.layers.Exists(img.TopChain) {
		return nil, false, nil, errdefs.NotFoundf("layers of image %s are missing", img.ID)
	}
	if _, err := s.content.Put(raw); err != nil {
		return nil, false, nil, err
	}
	pending := make([]string, len(refs))
	for i, r := range refs {
		pending[i] = r.String()
	}
	if err := s.writeRecordPending(img, pending); err != nil {
		return nil, false, nil, err
	}
	faultpoint.Hit("image.register.after-record")
	// All names in one save; the record keeps listing them, which
	// record.RefsSeq makes harmless, instead of a second write to clear
	// them.
	if olds, err = s.refs.AddAll(refs, img.ID); err != nil {
		// No room for the names (a full disk): the image goes too, as a
		// load that failed must leave nothing, nor a record whose
		// pending names a restart would apply. The caller keeps its
		// reference on the top chain.
		os.Remove(filepath.Join(s.imagesDir(), img.ID.Encoded()+".json"))
		s.content.Delete(img.ID)
		return nil, false, nil, err
	}
	s.images[img.ID] = img
	return img, true, olds, nil
}

// applyPendingRefs finishes the naming of an image whose creation a crash
// interrupted (see record.PendingRefs). rewrite clears them from a record
// of an older version, which has no RefsSeq.
func (s *Service) applyPendingRefs(img *Image, pending []string, rewrite bool) {
	var refs []reference.Named
	for _, p := range pending {
		r, err := reference.ParseNormalizedNamed(p)
		if err != nil {
			logrus.WithFields(logrus.Fields{"image": img.ID, "ref": p}).WithError(err).Warn("could not restore a name of an interrupted load")
			continue
		}
		refs = append(refs, r)
	}
	if _, err := s.refs.AddAll(refs, img.ID); err != nil {
		logrus.WithField("image", img.ID).WithError(err).Warn("could not restore the names of an interrupted load")
		return
	}
	if !rewrite {
		return
	}
	if err := s.writeRecord(img); err != nil {
		logrus.WithField("image", img.ID).WithError(err).Warn("could not finish an interrupted load")
	}
}

// Tag points ref at the image and returns the image it pointed at before
// ("" if none). It logs a tag event.
func (s *Service) Tag(img *Image, ref reference.Named) (digest.Digest, error) {
	old, err := s.addReference(img, ref, true)
	if err != nil {
		return "", err
	}
	s.log(events.ActionTag, img, reference.FamiliarString(ref))
	return old, nil
}

// AddReference is Tag without the event, as `docker load` names images.
func (s *Service) AddReference(img *Image, ref reference.Named) error {
	_, err := s.addReference(img, ref, false)
	return err
}

// addReference names img; touch records the tag time, which dockerd does
// for `docker tag` but not for the names `docker load` restores.
func (s *Service) addReference(img *Image, ref reference.Named, touch bool) (digest.Digest, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images[img.ID] == nil {
		return "", notFound(img.ID.String())
	}
	// The name is durable (see refstore's save); it is written only when
	// it moves, so re-tagging (a cached build -t) writes nothing durable.
	old, err := s.refs.Add(ref, img.ID)
	if err != nil {
		return "", err
	}
	if touch {
		img.LastTagTime = time.Now().UTC()
		// The name is stored: failing the tag now (a full disk has no
		// room for this small file) would report undone a tag that
		// is done. The time is best effort, as after a power loss.
		if err := s.writeTagTime(img); err != nil {
			logrus.WithField("image", img.ID).WithError(err).Warn("could not record the tag time")
		}
	}
	return old, nil
}

// Lookup returns the image a reference points at.
func (s *Service) Lookup(ref reference.Named) (digest.Digest, bool) {
	if s.ready() != nil {
		return "", false
	}
	return s.refs.Get(ref)
}

// LogEvent logs an image event for callers outside the service (load).
func (s *Service) LogEvent(action events.Action, img *Image, name string) { s.log(action, img, name) }

// TagName is Tag for a reference the user typed (POST /images/{name}/tag).
func (s *Service) TagName(source, repo, tag string) error {
	img, err := s.Get(source)
	if err != nil {
		return err
	}
	ref, err := refstore.ParseTag(repo, tag)
	if err != nil {
		return err
	}
	_, err = s.Tag(img, ref)
	return err
}

// Images returns every image.
func (s *Service) Images() ([]*Image, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Image, 0, len(s.images))
	for _, img := range s.images {
		out = append(out, img)
	}
	return out, nil
}

// References returns the names of an image.
func (s *Service) References(id digest.Digest) []reference.Named {
	if s.ready() != nil {
		return nil
	}
	return s.refs.References(id)
}

// RepoTagsDigests splits an image's references the way the API shows them.
func (s *Service) RepoTagsDigests(id digest.Digest) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, r := range s.References(id) {
		if _, ok := r.(reference.Canonical); ok {
			digests = append(digests, reference.FamiliarString(r))
		} else {
			tags = append(tags, reference.FamiliarString(r))
		}
	}
	return tags, digests
}

func (s *Service) childrenLocked(id digest.Digest) []digest.Digest {
	var out []digest.Digest
	for cid, img := range s.images {
		if img.Parent == id {
			out = append(out, cid)
		}
	}
	return out
}

// Hold takes a persistent reference on the image's layers for owner (a
// container ID) and returns the directories to mount.
func (s *Service) Hold(owner string, id digest.Digest) (RootFS, error) {
	if err := s.ready(); err != nil {
		return RootFS{}, err
	}
	s.mu.RLock()
	img := s.images[id]
	s.mu.RUnlock()
	if img == nil {
		return RootFS{}, notFound(id.String())
	}
	if img.TopChain == "" {
		return RootFS{}, nil
	}
	if err := s.layers.Hold(owner, img.TopChain); err != nil {
		return RootFS{}, err
	}
	rootfs, err := s.rootFS(img.TopChain)
	if err != nil {
		s.layers.Unhold(owner)
		return RootFS{}, err
	}
	return rootfs, nil
}

// Release drops owner's hold; layers no image or holder needs are removed.
func (s *Service) Release(owner string) error {
	if err := s.ready(); err != nil {
		return err
	}
	_, err := s.layers.Unhold(owner)
	return err
}

// RootFS returns the layer directories of an image held by the caller,
// for a container restored after a restart.
func (s *Service) RootFS(chain digest.Digest) (RootFS, error) {
	if err := s.ready(); err != nil {
		return RootFS{}, err
	}
	if chain == "" {
		return RootFS{}, nil
	}
	return s.rootFS(chain)
}

// HeldRootFS returns the layer directories owner holds (see Hold). It
// needs no image: a container keeps its layers after its image is
// force-removed. An owner that holds nothing (its image has no layers)
// gets an empty RootFS.
func (s *Service) HeldRootFS(owner string) (RootFS, error) {
	if err := s.ready(); err != nil {
		return RootFS{}, err
	}
	chain, ok := s.layers.HeldBy(owner)
	if !ok {
		return RootFS{}, nil
	}
	return s.rootFS(chain)
}

func (s *Service) rootFS(chain digest.Digest) (RootFS, error) {
	dirs, err := s.layers.DiffDirs(chain)
	if err != nil {
		return RootFS{}, err
	}
	links, err := s.layers.Links(chain)
	if err != nil {
		return RootFS{}, err
	}
	return RootFS{ChainID: chain, LowerDirs: dirs, Links: links, LayerRoot: s.layers.Root()}, nil
}

// InRepository lists the references of a repository (save by name).
func (s *Service) InRepository(name reference.Named) []refstore.Association {
	if s.ready() != nil {
		return nil
	}
	return s.refs.InRepository(name)
}
