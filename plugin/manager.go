package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/plugin"
	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/errdefs"
)

// restoreWait bounds how long a lookup waits for the restore.
const restoreWait = time.Minute

// Event actions, as dockerd names them.
const (
	ActionCreate  = "create"
	ActionPull    = "pull"
	ActionEnable  = "enable"
	ActionDisable = "disable"
	ActionRemove  = "remove"
)

// Options configure a Manager.
type Options struct {
	// Root is DATA_ROOT/plugins; ExecRoot is the daemon's exec root.
	Root, ExecRoot string
	// LiveRestore keeps plugins running across a daemon restart.
	LiveRestore bool
	// Remote pulls and pushes plugins; nil refuses both.
	Remote Remote
	// Event is told of each plugin event (actor ID, name attribute).
	Event func(action, id, name string)
	// InUse says whether something of the engine (a volume of a volume
	// driver, say) uses the plugin named name; such a plugin is neither
	// disabled nor removed without force.
	InUse func(name string) bool
}

// Manager keeps the installed plugins and runs the enabled ones.
type Manager struct {
	root, execRoot string
	liveRestore    bool
	remote         Remote
	event          func(action, id, name string)
	inUse          func(name string) bool

	// opMu serialises the operations that change a plugin (create, pull,
	// enable, disable, set, upgrade, remove): they are rare and slow, and
	// one at a time they need no per-plugin state machine.
	opMu sync.Mutex
	// mu guards plugins and each entry's record and process; it is held
	// only for reads and updates of memory, never across a start or stop.
	mu      sync.Mutex
	plugins map[string]*entry
	// restored is closed once Restore has started the enabled plugins:
	// Lookup waits for it, so that a volume used just after the daemon
	// starts finds its plugin listening.
	restored chan struct{}
}

// entry is one installed plugin: its record and, while it runs, its
// process.
type entry struct {
	rec record
	run *process
}

// New opens the store at o.Root; Restore then starts the enabled plugins.
func New(o Options) (*Manager, error) {
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, err
	}
	m := &Manager{
		root: o.Root, execRoot: o.ExecRoot, liveRestore: o.LiveRestore, remote: o.Remote,
		event: o.Event, inUse: o.InUse, plugins: map[string]*entry{}, restored: make(chan struct{}),
	}
	if m.event == nil {
		m.event = func(string, string, string) {}
	}
	if m.inUse == nil {
		m.inUse = func(string) bool { return false }
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// List returns the installed plugins; enabled, when not nil, keeps those in
// that state, capability those that offer it.
func (m *Manager) List(enabled *bool, capability string) []plugin.Plugin {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []plugin.Plugin{}
	for _, e := range m.sorted() {
		if enabled != nil && e.rec.Enabled != *enabled {
			continue
		}
		if capability != "" && !implements(e.rec.Config, capability) {
			continue
		}
		out = append(out, e.rec.Plugin)
	}
	return out
}

// Get finds an installed plugin by name, ID or ID prefix.
func (m *Manager) Get(nameOrID string) (*plugin.Plugin, error) {
	_, r, err := m.find(nameOrID)
	if err != nil {
		return nil, err
	}
	return &r.Plugin, nil
}

// Lookup finds the enabled plugin named name that offers capability, for
// the engine's plugin clients: it returns its full name, the address to
// call it at and its scope (see scope).
// found is false when no managed plugin has that name, so that the caller
// may look for a legacy one; a managed plugin that is disabled is an
// error, as in dockerd, not a reason to look further.
func (m *Manager) Lookup(name, capability string) (fullName, addr string, scope func(string) string, found bool, err error) {
	select {
	case <-m.restored:
	default:
		// Only until the restore is done: no timer on every lookup.
		select {
		case <-m.restored:
		case <-time.After(restoreWait):
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.resolve(name)
	if err != nil {
		return "", "", nil, false, nil
	}
	r := e.rec
	if !r.Enabled {
		return "", "", nil, true, errdefs.Conflictf("plugin %s found but disabled", r.Name)
	}
	if !implements(r.Config, capability) {
		return "", "", nil, true, errdefs.InvalidParameterf("plugin %q does not implement the %s capability", r.Name, capability)
	}
	return r.Name, "unix://" + m.socketPath(&r), m.scope(&r), true, nil
}

// scope is the function that maps a path the plugin reports (a volume's
// mountpoint, a log FIFO) to the host's: beneath the propagated mount's
// host directory when the path is beneath the PropagatedMount, else
// beneath the plugin's root. Symlinks the plugin made there resolve inside
// that directory: the engine then mounts or creates what the path names,
// and a plugin's link to / must not hand it the host's root.
func (m *Manager) scope(r *record) func(string) string {
	dir := m.dir(r.ID)
	return func(p string) string {
		root, rest := filepath.Join(dir, rootfsDir), p
		if pm := r.Config.PropagatedMount; pm != "" {
			if below, ok := cutPathPrefix(p, pm); ok {
				root, rest = filepath.Join(dir, propagatedDir), below
			}
		}
		if resolved, err := securejoin.SecureJoin(root, rest); err == nil {
			return resolved
		}
		// Unresolvable (a symlink loop): lexically beneath root all the
		// same, so that nothing outside it is named.
		return filepath.Join(root, filepath.Clean("/"+rest))
	}
}

// cutPathPrefix is p below dir, if it is.
func cutPathPrefix(p, dir string) (string, bool) {
	p, dir = filepath.Clean("/"+p), filepath.Clean("/"+dir)
	if p == dir {
		return "/", true
	}
	if dir == "/" {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, dir+"/")
	return "/" + rest, ok
}

// Name returns the full name of the plugin that nameOrID names, if one is
// installed: volumes record their driver by it.
func (m *Manager) Name(nameOrID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, err := m.resolve(nameOrID); err == nil {
		return e.rec.Name, true
	}
	return "", false
}

// find resolves nameOrID and returns the entry with a copy of its
// record, taken under mu.
func (m *Manager) find(nameOrID string) (*entry, record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.resolve(nameOrID)
	if err != nil {
		return nil, record{}, err
	}
	return e, e.rec, nil
}

// Set changes a disabled plugin's settings.
func (m *Manager) Set(nameOrID string, args []string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	e, r, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	if err := applySettings(&r, args); err != nil {
		return err
	}
	if err := m.save(&r); err != nil {
		return errdefs.System(err)
	}
	m.mu.Lock()
	e.rec = r
	m.mu.Unlock()
	return nil
}

// Remove deletes a plugin; force disables an enabled one first and
// ignores its users.
func (m *Manager) Remove(nameOrID string, force bool) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	e, r, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	if !force {
		if m.inUse(r.Name) {
			return errdefs.Conflictf("plugin %s is in use", r.Name)
		}
		if r.Enabled {
			return errdefs.Conflictf("plugin %s is enabled", r.Name)
		}
	}
	m.stop(e)
	m.unmountPropagated(r.ID)
	// Renamed first, so that a crash in the middle leaves a directory load
	// throws away rather than half a plugin.
	gone := filepath.Join(m.root, ".removing-"+r.ID)
	if err := os.Rename(m.dir(r.ID), gone); err != nil {
		return errdefs.System(err)
	}
	m.mu.Lock()
	delete(m.plugins, r.ID)
	m.mu.Unlock()
	os.RemoveAll(gone)
	os.RemoveAll(m.socketDir(r.ID))
	m.event(ActionRemove, r.ID, nameOrID)
	return nil
}

// Enable starts a plugin and waits up to timeout seconds (0: 30) for its
// socket.
func (m *Manager) Enable(ctx context.Context, nameOrID string, timeout int) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	e, r, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	if r.Enabled {
		return errdefs.Conflictf("plugin already enabled: plugin %s is enabled", r.Name)
	}
	if err := m.start(ctx, e, timeout); err != nil {
		return err
	}
	if err := m.setEnabled(e, true); err != nil {
		return err
	}
	m.event(ActionEnable, e.rec.ID, nameOrID)
	return nil
}

// Disable stops a plugin; force ignores its users.
func (m *Manager) Disable(nameOrID string, force bool) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	e, r, err := m.find(nameOrID)
	if err != nil {
		return err
	}
	if !r.Enabled {
		return errdefs.Conflictf("plugin is already disabled: plugin %s found but disabled", r.Name)
	}
	if !force && m.inUse(r.Name) {
		return errdefs.Conflictf("plugin %s is in use", r.Name)
	}
	m.stop(e)
	m.unmountPropagated(r.ID)
	if err := m.setEnabled(e, false); err != nil {
		return err
	}
	m.event(ActionDisable, r.ID, nameOrID)
	return nil
}

func (m *Manager) setEnabled(e *entry, on bool) error {
	m.mu.Lock()
	e.rec.Enabled = on
	r := e.rec
	m.mu.Unlock()
	if err := m.save(&r); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// Privileges fetches a plugin's config from its registry and returns what
// it asks of the host.
func (m *Manager) Privileges(ctx context.Context, remote, auth string) (plugin.Privileges, error) {
	ref, err := remoteRef(remote)
	if err != nil {
		return nil, err
	}
	a, err := m.fetchConfig(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	var cfg plugin.Config
	if err := jsonUnmarshal(a.ConfigBytes, &cfg); err != nil {
		return nil, err
	}
	p := Privileges(cfg)
	if p == nil {
		p = plugin.Privileges{}
	}
	return p, nil
}

// Restore starts the plugins that were enabled when the daemon stopped;
// with live-restore one still running is kept. A plugin that cannot start
// is left disabled, as dockerd leaves it.
func (m *Manager) Restore(ctx context.Context) {
	defer close(m.restored)
	m.mu.Lock()
	var enabled []*entry
	for _, e := range m.sorted() {
		if e.rec.Enabled {
			enabled = append(enabled, e)
		}
	}
	m.mu.Unlock()
	for _, e := range enabled {
		if m.adopt(e) {
			continue
		}
		if err := m.start(ctx, e, 0); err != nil {
			logrus.WithError(err).WithField("plugin", e.rec.Name).Error("could not start plugin; it is disabled")
			m.setEnabled(e, false)
		}
	}
}

// Shutdown stops the running plugins, unless live-restore keeps them.
func (m *Manager) Shutdown() {
	if m.liveRestore {
		return
	}
	m.mu.Lock()
	var running []*entry
	for _, e := range m.plugins {
		if e.run != nil {
			running = append(running, e)
		}
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.stop(e)
			m.unmountPropagated(e.rec.ID)
		}()
	}
	wg.Wait()
}

// writeStatus writes one progress line to a pull or push stream.
func writeStatus(out func(string), format string, args ...any) {
	if out != nil {
		out(fmt.Sprintf(format, args...))
	}
}
