package metrics

import (
	"context"

	"github.com/moby/moby/api/types/container"
)

// Source answers, at scrape time, what the engine is: the daemon implements
// it over its container store, its stats reader and its event bus.
type Source interface {
	// Engine describes the host and the engine; called on every scrape,
	// so an implementation may cache it.
	Engine() EngineInfo
	// Containers is a snapshot of every container the engine knows.
	Containers() []Container
	// Stats samples one running container the way `docker stats
	// --no-stream` does. It should return when ctx ends.
	Stats(ctx context.Context, id string) (*container.StatsResponse, error)
	// Events is how many events the engine has published since it
	// started and how many subscribers it serves now.
	Events() (published uint64, subscribers int)
}

// EngineInfo is what engine_daemon_engine_info and its siblings report.
type EngineInfo struct {
	Version, Commit, Architecture, GraphDriver string
	Kernel, OS, OSType, OSVersion, DaemonID    string
	CPUs                                       int
	MemoryBytes                                int64
}

// Container is one container's identity and lifecycle, as the collectors
// need them.
type Container struct {
	ID, Name, Image string
	Labels          map[string]string
	// State is the API's state word: created, running, paused,
	// restarting, removing, exited or dead.
	State        container.ContainerState
	RestartCount int
	// Health is the health status (starting, healthy, unhealthy), or
	// empty when the container has no healthcheck.
	Health container.HealthStatus
}

// The compose labels that the per-container metrics carry as their own
// labels, so that a dashboard can group by project and service.
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
)
