package daemon

import (
	"fmt"
	"sort"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/pkg/errdefs"
)

// PodRuntimeHandlers lists the runtime handlers a pod may name: ""
// (the daemon's default runtime), berth's own, and each runtime of
// daemon.json's "runtimes" (--add-runtime), as dockerd's --runtime
// takes them.
func (d *Daemon) PodRuntimeHandlers() []backend.PodRuntimeHandler {
	cfg := d.Config()
	hs := []backend.PodRuntimeHandler{
		{Name: "", Builtin: cfg.DefaultRuntime == "" || cfg.DefaultRuntime == config.DefaultRuntime},
		{Name: config.DefaultRuntime, Builtin: true},
	}
	names := make([]string, 0, len(cfg.Runtimes))
	for name := range cfg.Runtimes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		hs = append(hs, backend.PodRuntimeHandler{Name: name})
	}
	return hs
}

// checkRuntimeHandler refuses a handler that names no runtime, with
// containerd's message, before anything of the pod is made.
func (d *Daemon) checkRuntimeHandler(name string) error {
	for _, h := range d.PodRuntimeHandlers() {
		if h.Name == name {
			return nil
		}
	}
	return errdefs.InvalidParameter(fmt.Errorf("no runtime for %q is configured", name))
}
