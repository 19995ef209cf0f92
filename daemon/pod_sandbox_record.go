package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/network/cni"
	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// podRecord is what a pod sandbox is beyond its pause container: the
// request, the network CNI gave it and whether it was stopped. It is kept
// in DATA_ROOT/cri/sandboxes/<id>.json, so a restarted daemon lists the
// pod again and can still detach it from its network.
type podRecord struct {
	ID      string
	Config  backend.PodSandboxConfig
	Image   string
	Created time.Time
	// Stopped is set by StopPodSandbox: the sandbox stays NOTREADY even
	// if its pause container is started again through the Docker API.
	Stopped bool     `json:",omitempty"`
	IPs     []string `json:",omitempty"`
	// NetnsPath is what CNI was given; NetworkAttached says an ADD may
	// have happened with no DEL since, so a stop must run the DEL even
	// when the pause process (and the namespace) is gone.
	NetnsPath       string `json:",omitempty"`
	NetworkAttached bool   `json:",omitempty"`

	// op serialises stop and remove of this sandbox.
	op sync.Mutex
}

// podSandboxes are the daemon's pod sandboxes; the zero value loads them
// from disk on first use.
type podSandboxes struct {
	once    sync.Once
	mu      sync.Mutex
	records map[string]*podRecord
	dir     string
	network *cni.Manager
	cpu     cpuSamples
}

// pods returns the sandboxes, loading the records a previous daemon left.
func (d *Daemon) pods() *podSandboxes {
	p := &d.podState
	p.once.Do(func() {
		cfg := d.Config()
		p.dir = filepath.Join(cfg.DataRoot, "cri", "sandboxes")
		p.network = cni.New(cni.Config{
			BinDirs:  cfg.CNIBinDirList(),
			ConfDir:  cfg.CNIConfDirPath(),
			CacheDir: filepath.Join(cfg.DataRoot, "cri", "cni-cache"),
		})
		p.records = map[string]*podRecord{}
		p.load()
		d.life.Go(d.removeOrphanPauseContainers)
	})
	return p
}

// removeOrphanPauseContainers removes the pause containers no record
// claims: a daemon killed between creating one and recording it left it,
// and its name would refuse kubelet's retry of the same pod.
func (d *Daemon) removeOrphanPauseContainers(ctx context.Context) {
	select {
	case <-d.restoreDone():
	case <-ctx.Done():
		return
	}
	p := &d.podState
	for _, c := range d.containers.List() {
		// Only a previous daemon's: this one's may be between its create
		// and its record.
		c.Lock()
		before := c.Created.Before(d.start)
		c.Unlock()
		if !before || podContainerType(c) != backend.PodTypeSandbox || p.get(c.ID) != nil {
			continue
		}
		log := logrus.WithField("container", stringid.TruncateID(c.ID))
		if err := d.ContainerRm(ctx, c.ID, backend.ContainerRmConfig{ForceRemove: true}); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			log.WithError(err).Warn("failed to remove a pause container no pod sandbox claims")
			continue
		}
		log.Info("removed a pause container no pod sandbox claims")
	}
}

// load reads every record; an unreadable one (a crash before its first
// write completed cannot make one: writes are atomic) is logged and left.
func (p *podSandboxes) load() {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		if !os.IsNotExist(err) {
			logrus.WithError(err).Warn("cannot read the pod sandbox records")
		}
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.dir, e.Name()))
		if err != nil {
			logrus.WithError(err).WithField("file", e.Name()).Warn("cannot read a pod sandbox record")
			continue
		}
		r := &podRecord{}
		if err := json.Unmarshal(b, r); err != nil || r.ID == "" {
			logrus.WithError(err).WithField("file", e.Name()).Warn("skipping a malformed pod sandbox record")
			continue
		}
		p.records[r.ID] = r
	}
}

// save writes r atomically; the caller holds r.op or owns r alone.
func (p *podSandboxes) save(r *podRecord) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	p.mu.Lock()
	b, err := json.Marshal(r)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(p.dir, r.ID+".json"), b, 0o600)
}

// add makes r known and saves it.
func (p *podSandboxes) add(r *podRecord) error {
	p.mu.Lock()
	p.records[r.ID] = r
	p.mu.Unlock()
	return p.save(r)
}

// forget deletes r's record.
func (p *podSandboxes) forget(id string) error {
	p.mu.Lock()
	delete(p.records, id)
	p.mu.Unlock()
	err := os.Remove(filepath.Join(p.dir, id+".json"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return atomicfile.SyncDir(p.dir)
}

// get finds a sandbox by full ID or unique prefix.
func (p *podSandboxes) get(ref string) *podRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.records[ref]; ok {
		return r
	}
	if ref == "" {
		return nil
	}
	var found *podRecord
	for id, r := range p.records {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil
			}
			found = r
		}
	}
	return found
}

// list is every record, oldest first.
func (p *podSandboxes) list() []*podRecord {
	p.mu.Lock()
	out := make([]*podRecord, 0, len(p.records))
	for _, r := range p.records {
		out = append(out, r)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// update changes r under the records' lock and saves it.
func (p *podSandboxes) update(r *podRecord, f func(*podRecord)) error {
	p.mu.Lock()
	f(r)
	p.mu.Unlock()
	return p.save(r)
}
