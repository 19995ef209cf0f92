package daemon

import (
	"runtime"

	"github.com/moby/moby/api/types/system"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/sysinfo"
)

// Build identity, set with -ldflags -X by the Makefile.
var (
	Version   = "0.1.0-dev"
	GitCommit = "unknown"
	BuildTime = ""
)

// SystemVersion answers GET /version.
func (d *Daemon) SystemVersion() system.VersionResponse {
	kernel := sysinfo.ReadHost().KernelVersion
	exp := "false"
	if d.Config().Experimental {
		exp = "true"
	}
	minVersion := d.Config().MinAPIVersionInUse()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth " + Version},
		Version:       Version,
		APIVersion:    backend.DefaultAPIVersion,
		MinAPIVersion: minVersion,
		GitCommit:     GitCommit,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernel,
		Experimental:  d.Config().Experimental,
		BuildTime:     BuildTime,
		Components: []system.ComponentVersion{{
			Name:    "Engine",
			Version: Version,
			Details: map[string]string{
				"ApiVersion":    backend.DefaultAPIVersion,
				"MinAPIVersion": minVersion,
				"GitCommit":     GitCommit,
				"GoVersion":     runtime.Version(),
				"Os":            runtime.GOOS,
				"Arch":          runtime.GOARCH,
				"KernelVersion": kernel,
				"Experimental":  exp,
				"BuildTime":     BuildTime,
			},
		}},
	}
}
