package main

import (
	"github.com/berthd/berth/api/router"
	buildrouter "github.com/berthd/berth/api/router/build"
	containerrouter "github.com/berthd/berth/api/router/container"
	imagerouter "github.com/berthd/berth/api/router/image"
	networkrouter "github.com/berthd/berth/api/router/network"
	pluginrouter "github.com/berthd/berth/api/router/plugin"
	swarmrouter "github.com/berthd/berth/api/router/swarm"
	"github.com/berthd/berth/api/router/system"
	volumerouter "github.com/berthd/berth/api/router/volume"
	"github.com/berthd/berth/daemon"
)

// routers lists every API router the daemon serves. Each manager's router
// is added here when it lands.
func routers(d *daemon.Daemon) []router.Router {
	return []router.Router{
		system.New(d),
		imagerouter.New(d),
		containerrouter.New(d),
		volumerouter.New(d),
		networkrouter.New(d),
		buildrouter.New(d),
		pluginrouter.New(d),
		swarmrouter.New(),
	}
}
