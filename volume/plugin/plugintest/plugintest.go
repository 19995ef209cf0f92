package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Call is one request the plugin received.
type Call struct {
	Method string
	Name   string
	ID     string
	Opts   map[string]string
}

// Plugin is a running fake volume plugin.
type Plugin struct {
	// Socket is the unix socket it listens on.
	Socket string
	// Root holds one directory per volume (the Mountpoint it reports).
	Root string
	// Scope is what Capabilities answers.
	Scope string

	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	volumes map[string]*vol
	calls   []Call
}

type vol struct {
	opts    map[string]string
	created time.Time
	mounts  map[string]bool
}

// Serve starts a plugin listening on socket with volume directories under
// root. Close stops it.
func Serve(socket, root string) (*Plugin, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, err
	}
	os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	p := &Plugin{Socket: socket, Root: root, Scope: "local", ln: ln, volumes: map[string]*vol{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		p.record(Call{Method: "Plugin.Activate"})
		reply(w, map[string]any{"Implements": []string{"VolumeDriver"}})
	})
	mux.HandleFunc("/VolumeDriver.Create", p.create)
	mux.HandleFunc("/VolumeDriver.Remove", p.remove)
	mux.HandleFunc("/VolumeDriver.Mount", p.mount)
	mux.HandleFunc("/VolumeDriver.Unmount", p.unmount)
	mux.HandleFunc("/VolumeDriver.Path", p.path)
	mux.HandleFunc("/VolumeDriver.Get", p.get)
	mux.HandleFunc("/VolumeDriver.List", p.list)
	mux.HandleFunc("/VolumeDriver.Capabilities", func(w http.ResponseWriter, r *http.Request) {
		p.record(Call{Method: "VolumeDriver.Capabilities"})
		reply(w, map[string]any{"Capabilities": map[string]string{"Scope": p.Scope}})
	})
	p.srv = &http.Server{Handler: mux}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the plugin and removes its socket.
func (p *Plugin) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
	os.Remove(p.Socket)
}

// Calls returns the requests so far.
func (p *Plugin) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Count is how many calls of method the plugin received.
func (p *Plugin) Count(method string) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Has reports whether the plugin has a volume of that name.
func (p *Plugin) Has(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.volumes[name]
	return ok
}

// Mounts lists the IDs that hold a mount of the volume.
func (p *Plugin) Mounts(name string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.volumes[name]
	if v == nil {
		return nil
	}
	var out []string
	for id := range v.mounts {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (p *Plugin) record(c Call) {
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
}

type request struct {
	Name string
	ID   string
	Opts map[string]string
}

func decode(r *http.Request) request {
	var req request
	json.NewDecoder(r.Body).Decode(&req)
	return req
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1+json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1+json")
	w.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(w).Encode(map[string]string{"Err": msg})
}

func (p *Plugin) create(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Create", Name: req.Name, Opts: req.Opts})
	if req.Opts["fail"] != "" {
		fail(w, req.Opts["fail"])
		return
	}
	if err := os.MkdirAll(filepath.Join(p.Root, req.Name), 0o755); err != nil {
		fail(w, err.Error())
		return
	}
	p.mu.Lock()
	if _, ok := p.volumes[req.Name]; !ok {
		p.volumes[req.Name] = &vol{opts: req.Opts, created: time.Now(), mounts: map[string]bool{}}
	}
	p.mu.Unlock()
	reply(w, map[string]string{"Err": ""})
}

func (p *Plugin) remove(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Remove", Name: req.Name})
	p.mu.Lock()
	v, ok := p.volumes[req.Name]
	if ok && len(v.mounts) > 0 {
		p.mu.Unlock()
		fail(w, "volume is mounted")
		return
	}
	delete(p.volumes, req.Name)
	p.mu.Unlock()
	if !ok {
		fail(w, "no such volume")
		return
	}
	os.RemoveAll(filepath.Join(p.Root, req.Name))
	reply(w, map[string]string{"Err": ""})
}

func (p *Plugin) mount(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Mount", Name: req.Name, ID: req.ID})
	p.mu.Lock()
	v, ok := p.volumes[req.Name]
	if ok {
		v.mounts[req.ID] = true
	}
	p.mu.Unlock()
	if !ok {
		fail(w, "no such volume")
		return
	}
	reply(w, map[string]string{"Mountpoint": filepath.Join(p.Root, req.Name), "Err": ""})
}

func (p *Plugin) unmount(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Unmount", Name: req.Name, ID: req.ID})
	p.mu.Lock()
	if v, ok := p.volumes[req.Name]; ok {
		delete(v.mounts, req.ID)
	}
	p.mu.Unlock()
	reply(w, map[string]string{"Err": ""})
}

func (p *Plugin) path(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Path", Name: req.Name})
	if !p.Has(req.Name) {
		fail(w, "no such volume")
		return
	}
	reply(w, map[string]string{"Mountpoint": filepath.Join(p.Root, req.Name)})
}

func (p *Plugin) describe(name string, v *vol) map[string]any {
	return map[string]any{
		"Name":       name,
		"Mountpoint": filepath.Join(p.Root, name),
		"CreatedAt":  v.created.Format(time.RFC3339),
		"Status":     map[string]any{"mounts": len(v.mounts), "opts": fmt.Sprint(len(v.opts))},
	}
}

func (p *Plugin) get(w http.ResponseWriter, r *http.Request) {
	req := decode(r)
	p.record(Call{Method: "VolumeDriver.Get", Name: req.Name})
	p.mu.Lock()
	v, ok := p.volumes[req.Name]
	var d map[string]any
	if ok {
		d = p.describe(req.Name, v)
	}
	p.mu.Unlock()
	if !ok {
		fail(w, "no such volume")
		return
	}
	reply(w, map[string]any{"Volume": d, "Err": ""})
}

func (p *Plugin) list(w http.ResponseWriter, r *http.Request) {
	p.record(Call{Method: "VolumeDriver.List"})
	p.mu.Lock()
	var vols []map[string]any
	for name, v := range p.volumes {
		vols = append(vols, p.describe(name, v))
	}
	p.mu.Unlock()
	reply(w, map[string]any{"Volumes": vols, "Err": ""})
}
