// Command netplugin is a managed network driver plugin for berth's plugin
// tests. It runs in the host's network namespace: each network is a
// bridge tnp-<8 of its ID> with the gateway address, and each endpoint a
// veth pair whose host end is on the bridge and whose other end,
// tnpc-<6 of the endpoint ID>, is the interface the engine moves into the
// container.
package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
)

var (
	mu      sync.Mutex
	bridges = map[string]string{} // network ID → bridge name
)

type ipamData struct{ Pool, Gateway string }

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) { reply(w, map[string]string{"Err": err.Error()}) }

func handle(name string, fn func(w http.ResponseWriter, body map[string]json.RawMessage)) {
	http.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		json.NewDecoder(r.Body).Decode(&body)
		fn(w, body)
	})
}

func str(body map[string]json.RawMessage, k string) string {
	var s string
	json.Unmarshal(body[k], &s)
	return s
}

func main() {
	handle("NetworkDriver.GetCapabilities", func(w http.ResponseWriter, _ map[string]json.RawMessage) {
		reply(w, map[string]string{"Scope": "local", "ConnectivityScope": "local"})
	})
	handle("NetworkDriver.CreateNetwork", func(w http.ResponseWriter, b map[string]json.RawMessage) {
		id := str(b, "NetworkID")
		var v4 []ipamData
		json.Unmarshal(b["IPv4Data"], &v4)
		name := "tnp-" + id[:8]
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := netlink.LinkAdd(br); err != nil {
			fail(w, err)
			return
		}
		if len(v4) > 0 && v4[0].Gateway != "" {
			addr, err := netlink.ParseAddr(v4[0].Gateway)
			if err == nil {
				err = netlink.AddrAdd(br, addr)
			}
			if err != nil {
				netlink.LinkDel(br)
				fail(w, err)
				return
			}
		}
		netlink.LinkSetUp(br)
		mu.Lock()
		bridges[id] = name
		mu.Unlock()
		reply(w, map[string]string{})
	})
	handle("NetworkDriver.DeleteNetwork", func(w http.ResponseWriter, b map[string]json.RawMessage) {
		id := str(b, "NetworkID")
		if l, err := netlink.LinkByName("tnp-" + id[:8]); err == nil {
			netlink.LinkDel(l)
		}
		reply(w, map[string]string{})
	})
	handle("NetworkDriver.CreateEndpoint", func(w http.ResponseWriter, _ map[string]json.RawMessage) {
		reply(w, map[string]any{})
	})
	handle("NetworkDriver.Join", func(w http.ResponseWriter, b map[string]json.RawMessage) {
		nid, eid := str(b, "NetworkID"), str(b, "EndpointID")
		br, err := netlink.LinkByName("tnp-" + nid[:8])
		if err != nil {
			fail(w, err)
			return
		}
		host, peer := "tnph-"+eid[:6], "tnpc-"+eid[:6]
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index}, PeerName: peer}
		if err := netlink.LinkAdd(veth); err != nil {
			fail(w, err)
			return
		}
		netlink.LinkSetUp(veth)
		var gw string
		if addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4); len(addrs) > 0 {
			gw = addrs[0].IP.String()
		}
		reply(w, map[string]any{"InterfaceName": map[string]string{"SrcName": peer, "DstPrefix": "eth"}, "Gateway": gw})
	})
	handle("NetworkDriver.Leave", func(w http.ResponseWriter, _ map[string]json.RawMessage) {
		reply(w, map[string]string{})
	})
	handle("NetworkDriver.DeleteEndpoint", func(w http.ResponseWriter, b map[string]json.RawMessage) {
		eid := str(b, "EndpointID")
		if l, err := netlink.LinkByName("tnph-" + eid[:6]); err == nil {
			netlink.LinkDel(l)
		}
		reply(w, map[string]string{})
	})
	handle("NetworkDriver.EndpointOperInfo", func(w http.ResponseWriter, _ map[string]json.RawMessage) {
		reply(w, map[string]any{"Value": map[string]any{}})
	})
	os.MkdirAll("/run/docker/plugins", 0o755)
	l, err := net.Listen("unix", "/run/docker/plugins/net.sock")
	if err != nil {
		panic(err)
	}
	http.Serve(l, nil)
}
