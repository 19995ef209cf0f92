package buildkit

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/control"
	bkexecutor "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/session"
	containerdsnapshot "github.com/moby/buildkit/snapshot/containerd"
	"github.com/moby/buildkit/source"
	"github.com/moby/buildkit/util/leaseutil"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

// Options configure the embedded BuildKit. Only Root is required.
type Options struct {
	// Root holds every file BuildKit writes: DATA-ROOT/buildkit.
	Root string
	// NewExecutor returns what runs RUN steps; it is called once, when the
	// controller starts. Nil: builds without RUN only.
	NewExecutor func() (bkexecutor.Executor, error)
	// ImageSource, when set, replaces BuildKit's docker-image:// source
	// (the engine's: local images first, the engine's puller otherwise).
	ImageSource func(Parts) (source.Source, error)
	// MobyExporter, when set, is the "moby" exporter: the result becomes an
	// image in the engine's store.
	MobyExporter func(Parts) (exporter.Exporter, error)
	// Registries configure pulls, pushes and registry caches per host
	// (mirrors of docker.io, plain-HTTP and insecure registries).
	Registries map[string]resolverconfig.RegistryConfig
	// Entitlements a build may ask for: dockerd allows network.host and
	// keeps security.insecure off unless configured.
	Entitlements []string
	// GC configures the automatic collection of the cache; the zero
	// value is dockerd's default policy sized to the disk.
	GC GC
}

// Parts are the worker's BuildKit pieces that the engine's image source and
// exporter are built from.
type Parts struct {
	CacheManager cache.Manager
	ContentStore *containerdsnapshot.Store
	LeaseManager *leaseutil.Manager
	// SessionManager gives the exporter's push the build's credentials.
	SessionManager *session.Manager
}

// Builder is berth's embedded BuildKit. Its zero cost until first use is
// the session manager; the controller, worker and gRPC server start on the
// first request that needs them.
type Builder struct {
	opts     Options
	sessions *session.Manager

	mu      sync.Mutex
	started *running

	// builds are the running POST /build?version=2 builds, for Cancel;
	// uploads their contexts uploaded as the request's body.
	builds  buildJobs
	uploads uploads
}

// running is a started BuildKit: what Close has to stop.
type running struct {
	controller *control.Controller
	worker     *worker
	server     *grpc.Server
	storage    *storage
}

// New returns a builder that has not started yet.
func New(opts Options) (*Builder, error) {
	if opts.Root == "" {
		return nil, errors.New("buildkit: no root directory")
	}
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	return &Builder{opts: opts, sessions: sm}, nil
}

// HandleSession serves POST /session: the client's session (context file
// sync, secrets, SSH, auth, local exports) on the hijacked connection.
func (b *Builder) HandleSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return b.sessions.HandleHTTPRequest(ctx, w, r)
}

// Handler returns the gRPC server of BuildKit's control API, starting
// BuildKit if this is its first use.
func (b *Builder) Handler(ctx context.Context) (http.Handler, error) {
	rt, err := b.start(ctx)
	if err != nil {
		return nil, err
	}
	return rt.server, nil
}

// hasState says whether BuildKit ever ran here: disk usage and prune need
// not start it to report an empty cache.
func (b *Builder) hasState() bool {
	_, err := os.Stat(filepath.Join(b.opts.Root, "cache.db"))
	return err == nil
}

func (b *Builder) start(ctx context.Context) (*running, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started != nil {
		return b.started, nil
	}
	// Starting must outlive the request that triggered it.
	began := time.Now()
	rt, err := b.startLocked(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	b.started = rt
	logrus.WithFields(logrus.Fields{"root": b.opts.Root, "took": time.Since(began).Round(time.Millisecond)}).Info("buildkit started")
	return rt, nil
}

// Close stops BuildKit if it started: running builds are cancelled.
func (b *Builder) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	rt := b.started
	b.started = nil
	if rt == nil {
		return nil
	}
	rt.server.Stop()
	// The controller closes the worker, which closes the metadata stores.
	return errors.Join(rt.controller.Close(), rt.storage.snapshotter.Close())
}
