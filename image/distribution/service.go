package distribution

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/image"
	"github.com/berthd/berth/pkg/atomicfile"
)

// Output receives progress messages; it is called from several
// goroutines and must serialise itself.
type Output func(jsonstream.Message)

// EventFunc logs an image event: action (pull, push), the reference as the
// actor ID, and its attributes.
type EventFunc func(action events.Action, id string, attrs map[string]string)

// Service pulls and pushes images of an image.Service.
type Service struct {
	images *image.Service
	root   string

	cfgMu sync.RWMutex
	cfg   Config

	downloads *semaphore
	uploads   *semaphore

	mu        sync.Mutex
	transfers map[digest.Digest]*transfer

	metaMu sync.Mutex

	clients clientCache
	events  EventFunc
}

// New returns the service for images, keeping its metadata under root
// (DATA_ROOT/image/distribution).
func New(images *image.Service, root string, cfg Config) *Service {
	s := &Service{images: images, root: root, transfers: map[digest.Digest]*transfer{}}
	s.downloads = newSemaphore(func() int { return s.config().MaxDownloads })
	s.uploads = newSemaphore(func() int { return s.config().MaxUploads })
	s.SetConfig(cfg)
	return s
}

// SetConfig replaces the settings (daemon reload); transfers running keep
// going, new ones see the new limits.
func (s *Service) SetConfig(cfg Config) {
	if cfg.MaxDownloads <= 0 {
		cfg.MaxDownloads = 3
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = 5
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "berth"
	}
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	s.downloads.wake()
	s.uploads.wake()
}

func (s *Service) config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

// SetEvents installs the event sink.
func (s *Service) SetEvents(f EventFunc) { s.events = f }

func (s *Service) logEvent(action events.Action, ref reference.Named, img *image.Image) {
	if s.events == nil {
		return
	}
	attrs := map[string]string{}
	if img != nil {
		for k, v := range img.Labels() {
			attrs[k] = v
		}
	}
	attrs["name"] = reference.FamiliarName(ref)
	s.events(action, reference.FamiliarString(ref), attrs)
}

// semaphore bounds concurrent transfers with a limit read at each
// acquire, so a reload changes it without restarting anything.
type semaphore struct {
	limit func() int
	mu    sync.Mutex
	n     int
	wait  chan struct{}
}

func newSemaphore(limit func() int) *semaphore {
	return &semaphore{limit: limit, wait: make(chan struct{})}
}

// tryAcquire takes a slot without waiting.
func (s *semaphore) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < s.limit() {
		s.n++
		return true
	}
	return false
}

func (s *semaphore) acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.n < s.limit() {
			s.n++
			s.mu.Unlock()
			return nil
		}
		ch := s.wait
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (s *semaphore) release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
	s.wake()
}

func (s *semaphore) wake() {
	if s == nil {
		return
	}
	s.mu.Lock()
	close(s.wait)
	s.wait = make(chan struct{})
	s.mu.Unlock()
}

// blobRecord is one compressed blob known for a diff ID: where it was
// pulled from or pushed to.
type blobRecord struct {
	Digest     digest.Digest `json:"digest"`
	Size       int64         `json:"size"`
	MediaType  string        `json:"mediaType,omitempty"`
	Host       string        `json:"host"`
	Repository string        `json:"repository"`
}

// maxRecords bounds the list kept per diff ID; the newest win.
const maxRecords = 32

func (s *Service) metaPath(diffID digest.Digest) string {
	return filepath.Join(s.root, diffID.Encoded()+".json")
}

// knownBlobs lists the blobs recorded for a diff ID.
func (s *Service) knownBlobs(diffID digest.Digest) []blobRecord {
	if diffID.Validate() != nil {
		return nil
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	return s.readMeta(diffID)
}

func (s *Service) readMeta(diffID digest.Digest) []blobRecord {
	b, err := os.ReadFile(s.metaPath(diffID))
	if err != nil {
		return nil
	}
	var recs []blobRecord
	if json.Unmarshal(b, &recs) != nil {
		return nil
	}
	return recs
}

// remember records that diffID is stored as rec's blob in rec's
// repository. Failing to remember only costs a re-upload later.
func (s *Service) remember(diffID digest.Digest, rec blobRecord) {
	if diffID.Validate() != nil {
		return
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	recs := []blobRecord{rec}
	for _, r := range s.readMeta(diffID) {
		if r.Digest == rec.Digest && r.Host == rec.Host && r.Repository == rec.Repository {
			continue
		}
		if len(recs) < maxRecords {
			recs = append(recs, r)
		}
	}
	b, _ := json.Marshal(recs)
	if err := os.MkdirAll(s.root, 0o700); err != nil {
		return
	}
	_ = atomicfile.WriteFile(s.metaPath(diffID), b, 0o600)
}
