// Command volplugin is a managed volume plugin for berth's plugin tests:
// it serves the VolumeDriver protocol on /run/docker/plugins/vol.sock and
// keeps each volume as a directory beneath /data, its PropagatedMount,
// where it bind-mounts a tmpfs on first mount so that the mount itself
// must propagate to the host for a container to see the volume's files.
package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

const root = "/data"

var (
	mu      sync.Mutex
	mounted = map[string]int{}
)

type req struct {
	Name string
	ID   string
	Opts map[string]string
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	json.NewEncoder(w).Encode(v)
}

func handle(name string, fn func(r req) any) {
	http.HandleFunc("/"+name, func(w http.ResponseWriter, hr *http.Request) {
		var r req
		json.NewDecoder(hr.Body).Decode(&r)
		reply(w, fn(r))
	})
}

func errOf(err error) map[string]string {
	if err != nil {
		return map[string]string{"Err": err.Error()}
	}
	return map[string]string{"Err": ""}
}

func main() {
	os.MkdirAll(root, 0o755)
	handle("Plugin.Activate", func(req) any { return map[string][]string{"Implements": {"VolumeDriver"}} })
	handle("VolumeDriver.Capabilities", func(req) any {
		return map[string]any{"Capabilities": map[string]string{"Scope": "local"}}
	})
	handle("VolumeDriver.Create", func(r req) any {
		if r.Opts["fail"] != "" {
			return map[string]string{"Err": "asked to fail: " + r.Opts["fail"]}
		}
		return errOf(os.MkdirAll(filepath.Join(root, r.Name), 0o755))
	})
	handle("VolumeDriver.Remove", func(r req) any { return errOf(os.RemoveAll(filepath.Join(root, r.Name))) })
	handle("VolumeDriver.Path", func(r req) any {
		return map[string]string{"Mountpoint": filepath.Join(root, r.Name)}
	})
	handle("VolumeDriver.Get", func(r req) any {
		p := filepath.Join(root, r.Name)
		if _, err := os.Stat(p); err != nil {
			return map[string]string{"Err": "no such volume"}
		}
		return map[string]any{"Volume": map[string]string{"Name": r.Name, "Mountpoint": p}}
	})
	handle("VolumeDriver.List", func(req) any {
		ents, _ := os.ReadDir(root)
		vols := []map[string]string{}
		for _, e := range ents {
			vols = append(vols, map[string]string{"Name": e.Name(), "Mountpoint": filepath.Join(root, e.Name())})
		}
		return map[string]any{"Volumes": vols}
	})
	handle("VolumeDriver.Mount", func(r req) any {
		mu.Lock()
		defer mu.Unlock()
		p := filepath.Join(root, r.Name)
		if mounted[r.Name] == 0 {
			if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
				return errOf(err)
			}
			os.WriteFile(filepath.Join(p, "from-plugin"), []byte(os.Getenv("GREETING")), 0o644)
		}
		mounted[r.Name]++
		return map[string]string{"Mountpoint": p}
	})
	handle("VolumeDriver.Unmount", func(r req) any {
		mu.Lock()
		defer mu.Unlock()
		mounted[r.Name]--
		if mounted[r.Name] <= 0 {
			delete(mounted, r.Name)
			return errOf(syscall.Unmount(filepath.Join(root, r.Name), syscall.MNT_DETACH))
		}
		return errOf(nil)
	})
	os.MkdirAll("/run/docker/plugins", 0o755)
	l, err := net.Listen("unix", "/run/docker/plugins/vol.sock")
	if err != nil {
		panic(err)
	}
	http.Serve(l, nil)
}
