package main

import (
	"fmt"
	"strings"
)

// layer is where DESIGN.md puts a package.
type layer int

const (
	layerUnknown layer = iota
	layerTop           // cmd/, hack/, integration/: wiring, tools and end-to-end tests
	layerAPI           // api/: the engine's faces
	layerBackend       // daemon/backend: the shapes api/ and daemon/ share
	layerDaemon        // daemon/: the engine
	layerManager       // container/, image/, metrics/, network/, plugin/, volume/
	layerPkg           // pkg/: engine-agnostic libraries
)

// metrics sits with the managers: the daemon feeds it through its small
// interfaces, and it imports nothing of the engine.
var managers = map[string]bool{"container": true, "image": true, "metrics": true, "network": true, "plugin": true, "volume": true}

// classify returns a module-relative package path's layer and, for a
// manager, which one.
func classify(rel string) (layer, string) {
	root, _, _ := strings.Cut(rel, "/")
	switch {
	case root == "cmd" || root == "hack" || root == "integration":
		return layerTop, ""
	case root == "api":
		return layerAPI, ""
	case rel == "daemon/backend" || strings.HasPrefix(rel, "daemon/backend/"):
		return layerBackend, ""
	case root == "daemon":
		return layerDaemon, ""
	case managers[root]:
		return layerManager, root
	case root == "pkg":
		return layerPkg, ""
	}
	return layerUnknown, ""
}

// check returns why from may not import to (both module-relative), or ""
// when the import is allowed.
func check(from, to string) string {
	fl, fm := classify(from)
	tl, tm := classify(to)
	switch fl {
	case layerUnknown:
		return fmt.Sprintf("%s is in no layer of DESIGN.md", from)
	case layerTop:
		return ""
	}
	if tl == layerUnknown {
		return fmt.Sprintf("%s is in no layer of DESIGN.md", to)
	}
	switch fl {
	case layerPkg:
		if tl != layerPkg {
			return "pkg/ imports nothing above it"
		}
	case layerManager:
		if tl == layerManager && tm != fm {
			return "the managers do not import each other (daemon wires them through small interfaces)"
		}
		if tl != layerManager && tl != layerPkg {
			return "the managers do not import daemon or api"
		}
	case layerBackend:
		if tl != layerBackend && tl != layerPkg {
			return "daemon/backend holds shared shapes only: it imports the types module and pkg/"
		}
	case layerDaemon:
		if tl == layerAPI || tl == layerTop {
			return "the engine knows no HTTP: daemon/ does not import api/ (shared types go to daemon/backend)"
		}
	case layerAPI:
		if tl != layerAPI && tl != layerBackend && tl != layerPkg {
			return "api/ reaches the engine only through daemon/backend"
		}
	}
	return ""
}
