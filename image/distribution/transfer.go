package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/image/layer"
	"github.com/berthd/berth/image/unpack"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// transfer downloads, extracts and commits one layer. It is keyed by the
// layer's chain ID and shared by every pull that needs that layer while it
// runs; it is cancelled when the last of them goes away, and a cancelled
// or failed transfer leaves nothing in the layer store.
//
// A committed transfer holds one reference on its chain until its last
// watcher has taken its own (or gone), so that the layer cannot vanish in
// between.
type transfer struct {
	chain       digest.Digest
	parentChain digest.Digest
	desc        ocispec.Descriptor
	diffID      digest.Digest
	repo        *repository
	// parent is the transfer of the layer below when that one was being
	// downloaded too; this transfer watches it until it commits.
	parent      *transfer
	parentWatch int
	// parentHeld: this transfer took a reference on parentChain, which
	// was already stored.
	parentHeld bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	// Guarded by Service.mu.
	watchers int
	finished bool

	pmu    sync.Mutex
	subs   map[int]Output
	nextID int
	last   *jsonstream.Message
}

func (t *transfer) emit(status string, p *jsonstream.Progress) {
	m := jsonstream.Message{ID: stringid.TruncateID(string(t.desc.Digest)), Status: status, Progress: p}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	t.last = &m
	for _, out := range t.subs {
		out(m)
	}
}

// watch adds a pull's interest and progress sink; s.mu is held.
func (t *transfer) watchLocked(out Output) int {
	t.watchers++
	t.pmu.Lock()
	defer t.pmu.Unlock()
	id := t.nextID
	t.nextID++
	if out != nil {
		if t.subs == nil {
			t.subs = map[int]Output{}
		}
		t.subs[id] = out
		if t.last != nil {
			out(*t.last)
		}
	}
	return id
}

// unwatch drops a pull's interest; the last one out cancels a running
// transfer or frees a finished one's reference.
func (s *Service) unwatch(t *transfer, id int) {
	t.pmu.Lock()
	delete(t.subs, id)
	t.pmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.watchers--
	if t.watchers > 0 {
		return
	}
	if !t.finished {
		t.cancel()
		return
	}
	if t.err == nil {
		s.layerStore().Release(t.chain)
	}
}

// layerStore is the image service's layer store; callers have already
// waited for the service to load.
func (s *Service) layerStore() *layer.Store {
	ls, _ := s.images.Layers()
	return ls
}

// startTransferLocked returns the running transfer for a chain, or starts
// one. s.mu is held.
func (s *Service) startTransferLocked(chain, parentChain digest.Digest, desc ocispec.Descriptor, diffID digest.Digest, repo *repository) *transfer {
	if t := s.transfers[chain]; t != nil {
		return t
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &transfer{chain: chain, parentChain: parentChain, desc: desc, diffID: diffID, repo: repo, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if parentChain != "" {
		if pt := s.transfers[parentChain]; pt != nil {
			t.parent = pt
			t.parentWatch = pt.watchLocked(nil)
		} else if s.layerStore().Acquire(parentChain) == nil {
			t.parentHeld = true
		}
	}
	s.transfers[chain] = t
	go s.runTransfer(t)
	return t
}

func (s *Service) runTransfer(t *transfer) {
	err := s.doTransfer(t)
	if t.parent != nil {
		s.unwatch(t.parent, t.parentWatch)
	}
	if t.parentHeld {
		s.layerStore().Release(t.parentChain)
	}
	s.mu.Lock()
	t.err = err
	t.finished = true
	delete(s.transfers, t.chain)
	if t.watchers == 0 && err == nil {
		s.layerStore().Release(t.chain)
	}
	s.mu.Unlock()
	t.cancel()
	close(t.done)
}

// progressReader reports bytes read, at most every 100ms, as the CLI's
// progress bars need no more.
type progressReader struct {
	r      io.Reader
	n      int64
	total  int64
	last   time.Time
	report func(cur, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || (err == io.EOF && p.n > 0) {
		p.last = now
		p.report(p.n, p.total)
	}
	return n, err
}

func layerVerificationError(d digest.Digest) error {
	return errdefs.InvalidParameter(fmt.Errorf("filesystem layer verification failed for digest %s", d))
}

// doTransfer downloads the blob and extracts it while it downloads:
// extraction goes to a pending directory that becomes a layer only once
// the blob's digest and the layer's diff ID are both verified.
func (s *Service) doTransfer(t *transfer) error {
	ctx := t.ctx
	if !s.downloads.tryAcquire() {
		t.emit("Waiting", nil)
		if err := s.downloads.acquire(ctx); err != nil {
			return err
		}
	}
	held := true
	defer func() {
		if held {
			s.downloads.release()
		}
	}()
	rc, size, err := t.repo.openBlob(ctx, t.desc.Digest, t.desc.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	if t.desc.Size > 0 {
		size = t.desc.Size
	}
	verifier := t.desc.Digest.Verifier()
	pr := &progressReader{r: io.TeeReader(rc, verifier), total: size, report: func(cur, total int64) {
		t.emit("Downloading", &jsonstream.Progress{Current: cur, Total: total})
	}}
	ls := s.layerStore()
	dec, _, err := unpack.Decompress(pr)
	var p *layer.Pending
	if err == nil {
		p, err = ls.Unpack(ctx, dec)
		dec.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Bad content reads as bad compression or a bad tar first; say
		// what it really is when the digest proves it.
		if _, derr := io.Copy(io.Discard, pr); derr == nil && !verifier.Verified() {
			return layerVerificationError(t.desc.Digest)
		}
		var ee *unpack.EntryError
		if errors.As(err, &ee) {
			return errdefs.InvalidParameter(err)
		}
		return err
	}
	// The tar ends before the compressed stream does: read the rest, so
	// the digest covers every byte.
	if _, err := io.Copy(io.Discard, pr); err != nil {
		p.Discard()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errdefs.Unavailable(err)
	}
	t.emit("Verifying Checksum", nil)
	if !verifier.Verified() || (t.desc.Size > 0 && pr.n != t.desc.Size) {
		p.Discard()
		return layerVerificationError(t.desc.Digest)
	}
	if p.Result.DiffID != t.diffID {
		p.Discard()
		return errdefs.InvalidParameterf("layer %s: diff ID mismatch: expected %s, got %s", t.desc.Digest, t.diffID, p.Result.DiffID)
	}
	s.downloads.release()
	held = false
	t.emit("Download complete", nil)

	if t.parent != nil {
		select {
		case <-t.parent.done:
		case <-ctx.Done():
			p.Discard()
			return ctx.Err()
		}
		if t.parent.err != nil {
			p.Discard()
			return t.parent.err
		}
	}
	// Extraction overlapped the download; what remains is making the
	// layer durable and publishing it.
	t.emit("Extracting", &jsonstream.Progress{Current: pr.n, Total: pr.n})
	chain, err := ls.Commit(p, t.parentChain)
	if err != nil {
		p.Discard()
		return err
	}
	if chain != t.chain {
		ls.Release(chain)
		return fmt.Errorf("layer committed as %s, expected %s", chain, t.chain)
	}
	t.emit("Pull complete", nil)
	s.remember(t.diffID, blobRecord{Digest: t.desc.Digest, Size: pr.n, MediaType: t.desc.MediaType, Host: t.repo.ep.host, Repository: t.repo.name})
	logrus.WithFields(logrus.Fields{"layer": t.chain, "blob": t.desc.Digest}).Debug("layer pulled")
	return nil
}
