package main

// Issue 16's scale figures, berthd beside dockerd in the same run, each on
// private roots, a bridge-less start and an address pool that holds the
// networks:
//
//   - -netscale-networks user networks (500) created and then removed at the
//     API: the median per operation of the first and the last 50, so a cost
//     that grows with the number of networks shows; and the network list
//     with all of them (API, CLI, and the CLI against an engine that
//     answers at once);
//   - a restart of the daemon holding them: start to /_ping, to a network
//     list that has them all, and for berthd to its nftables table holding
//     every bridge;
//   - one container publishing -netscale-ports ports (1000): its start and
//     its stop at the API;
//   - -netscale-containers containers (200) on one network started one after
//     the other and then stopped: the median start and stop of the first and
//     the last 20.
//
// dockerd runs with its iptables rules on (as its users run it), and
// --ip-forward=false so that it never sets the host's FORWARD policy to
// drop under other work; the iptables tables it leaves behind are put back
// as they were when it stops.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/network/firewall"
)

type netScaleFigures struct {
	createFirst, createLast time.Duration
	removeFirst, removeLast time.Duration
	listAPI, listCLI        time.Duration
	restartPing             time.Duration
	restartList             time.Duration
	restartRules            time.Duration // berthd only
	portsStart, portsStop   time.Duration
	ctrStartFirst           time.Duration
	ctrStartLast            time.Duration
	ctrStopFirst            time.Duration
	ctrStopLast             time.Duration
}

func netScaleEngine(e engine) engine {
	pool := "base=10.160.0.0/14,size=24"
	args := e.args
	if e.name == "dockerd" {
		pool = "base=10.164.0.0/14,size=24"
		args = func(root string) []string {
			var out []string
			for _, a := range dockerdArgs(root) {
				if a != "--iptables=false" {
					out = append(out, a)
				}
			}
			return append(out, "--ip-forward=false")
		}
	}
	return engine{name: e.name, bin: e.bin, args: func(root string) []string {
		a := args(root)
		for i, v := range a {
			if v == "--bridge" && e.name == "berthd" {
				a[i+1] = benchBridge + "s"
			}
		}
		return append(a, "--default-address-pool", pool)
	}}
}

// slowClient is a client that waits as long as an engine takes: dockerd
// starts a container with 1,000 published ports (a docker-proxy each) in
// far more than the usual 10 s.
func slowClient(sock string) *http.Client {
	c := client(sock, 1)
	c.Timeout = 10 * time.Minute
	return c
}

// apiCall sends one request and fails on an unexpected status.
func apiCall(c *http.Client, method, path, body string, want int) ([]byte, error) {
	req, err := http.NewRequest(method, "http://d/v1.41"+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}

func timed(fn func() error) (time.Duration, error) {
	t0 := time.Now()
	err := fn()
	return time.Since(t0), err
}

// firstLast is the median of the first and of the last k times.
func firstLast(ds []time.Duration, k int) (time.Duration, time.Duration) {
	k = min(k, len(ds))
	return median(slices.Clone(ds[:k])), median(slices.Clone(ds[len(ds)-k:]))
}

// iptablesState is what dockerd may change in the host's iptables: the
// iptables-save dump, and which of its tables existed.
type iptablesState struct {
	dump   []byte
	tables map[string]bool
}

func saveIptables() iptablesState {
	s := iptablesState{tables: map[string]bool{}}
	s.dump, _ = exec.Command("iptables-save").Output()
	out, _ := exec.Command("nft", "list", "tables").Output()
	for _, l := range strings.Split(string(out), "\n") {
		s.tables[strings.TrimSpace(l)] = true
	}
	return s
}

// restore puts back the tables that existed and deletes the ones dockerd
// made (iptables-nft keeps them as nftables tables).
func (s iptablesState) restore() {
	if len(bytes.TrimSpace(s.dump)) > 0 {
		cmd := exec.Command("iptables-restore")
		cmd.Stdin = bytes.NewReader(s.dump)
		cmd.Run()
	}
	for _, t := range []string{"ip filter", "ip nat", "ip6 filter", "ip6 nat"} {
		if !s.tables["table "+t] {
			exec.Command("nft", append([]string{"delete", "table"}, strings.Fields(t)...)...).Run()
		}
	}
}

func measureNetScale(e engine, nets, ports, ctrs int) (f netScaleFigures, err error) {
	e = netScaleEngine(e)
	if e.name == "dockerd" {
		saved := saveIptables()
		defer saved.restore()
		// A dockerd that fails part-way leaves its bridges: every bridge
		// with an address of its pool is its own.
		defer deleteBridgesIn(netip.MustParsePrefix("10.164.0.0/14"))
	}
	l, err := startLoaded(e, "bench-netscale-", "netscale:latest")
	if err != nil {
		return f, err
	}
	defer func() { l.close() }()
	defer exec.Command("ip", "link", "del", benchBridge+"s").Run()
	c := slowClient(l.r.sock)

	// Networks.
	var creates, removes []time.Duration
	ids := make([]string, nets)
	for i := 0; i < nets; i++ {
		var out []byte
		d, err := timed(func() error {
			var err error
			out, err = apiCall(c, "POST", "/networks/create", fmt.Sprintf(`{"Name":"scale%d","Driver":"bridge"}`, i), http.StatusCreated)
			return err
		})
		if err != nil {
			return f, fmt.Errorf("network %d: %w", i, err)
		}
		var r struct{ ID string }
		json.Unmarshal(out, &r)
		ids[i] = r.ID
		creates = append(creates, d)
	}
	f.createFirst, f.createLast = firstLast(creates, 50)
	if f.listAPI, err = medianOf(20, func() error {
		_, err := apiCall(c, "GET", "/networks", "", http.StatusOK)
		return err
	}); err != nil {
		return f, err
	}
	if f.listCLI, err = medianOf(10, func() error {
		_, err := dockerOut(l.r.sock, l.cli, nil, "network", "ls")
		return err
	}); err != nil {
		return f, err
	}

	// Restart with every network.
	l.r.stop()
	t0 := time.Now()
	r, ping, err := startWithin(e, l.root, 10*time.Minute)
	if err != nil {
		return f, err
	}
	l.r = r
	c = slowClient(r.sock)
	f.restartPing = ping
	for {
		out, err := apiCall(c, "GET", "/networks", "", http.StatusOK)
		if err == nil && bytes.Count(out, []byte(`"scale`)) >= nets {
			f.restartList = time.Since(t0)
			break
		}
		if time.Since(t0) > time.Minute {
			return f, fmt.Errorf("networks not listed a minute after the restart")
		}
		time.Sleep(time.Millisecond)
	}
	if e.name == "berthd" {
		table := firewall.TableName(filepath.Join(l.root, "data"), config.DefaultDataRoot)
		for {
			out, _ := exec.Command("nft", "list", "set", "inet", table, "bridges").Output()
			if bytes.Count(out, []byte(`"br-`)) >= nets {
				f.restartRules = time.Since(t0)
				break
			}
			if time.Since(t0) > time.Minute {
				return f, fmt.Errorf("bridges not in the table a minute after the restart")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	for i := nets - 1; i >= 0; i-- {
		d, err := timed(func() error {
			_, err := apiCall(c, "DELETE", "/networks/"+ids[i], "", http.StatusNoContent)
			return err
		})
		if err != nil {
			return f, err
		}
		removes = append(removes, d)
	}
	f.removeFirst, f.removeLast = firstLast(removes, 50)

	// One container with many published ports.
	if ports > 0 {
		base, err := freePortRange(ports)
		if err != nil {
			return f, err
		}
		var exposed, bindings []string
		for p := base; p < base+ports; p++ {
			exposed = append(exposed, fmt.Sprintf(`"%d/tcp":{}`, p))
			bindings = append(bindings, fmt.Sprintf(`"%d/tcp":[{"HostPort":"%d"}]`, p, p))
		}
		body := fmt.Sprintf(`{"Image":"netscale","Cmd":["sleep","3600"],"ExposedPorts":{%s},"HostConfig":{"PortBindings":{%s}}}`,
			strings.Join(exposed, ","), strings.Join(bindings, ","))
		// The default bridge is off on both engines: a user network.
		if _, err := apiCall(c, "POST", "/networks/create", `{"Name":"ports","Driver":"bridge"}`, http.StatusCreated); err != nil {
			return f, err
		}
		body = strings.Replace(body, `"HostConfig":{`, `"HostConfig":{"NetworkMode":"ports",`, 1)
		if _, err := apiCall(c, "POST", "/containers/create?name=ports", body, http.StatusCreated); err != nil {
			return f, err
		}
		if f.portsStart, err = timed(func() error {
			_, err := apiCall(c, "POST", "/containers/ports/start", "", http.StatusNoContent)
			return err
		}); err != nil {
			return f, err
		}
		if f.portsStop, err = timed(func() error {
			_, err := apiCall(c, "POST", "/containers/ports/stop?t=0", "", http.StatusNoContent)
			return err
		}); err != nil {
			return f, err
		}
		apiCall(c, "DELETE", "/containers/ports?force=1", "", http.StatusNoContent)
		apiCall(c, "DELETE", "/networks/ports", "", http.StatusNoContent)
	}

	// Many containers on one network.
	if ctrs > 0 {
		if _, err := apiCall(c, "POST", "/networks/create", `{"Name":"many","Driver":"bridge"}`, http.StatusCreated); err != nil {
			return f, err
		}
		var starts, stops []time.Duration
		for i := 0; i < ctrs; i++ {
			name := fmt.Sprintf("many%d", i)
			if _, err := apiCall(c, "POST", "/containers/create?name="+name,
				`{"Image":"netscale","Cmd":["sleep","3600"],"HostConfig":{"NetworkMode":"many"}}`, http.StatusCreated); err != nil {
				return f, err
			}
			d, err := timed(func() error {
				_, err := apiCall(c, "POST", "/containers/"+name+"/start", "", http.StatusNoContent)
				return err
			})
			if err != nil {
				return f, err
			}
			starts = append(starts, d)
		}
		for i := 0; i < ctrs; i++ {
			d, err := timed(func() error {
				_, err := apiCall(c, "POST", fmt.Sprintf("/containers/many%d/stop?t=0", i), "", http.StatusNoContent)
				return err
			})
			if err != nil {
				return f, err
			}
			stops = append(stops, d)
		}
		f.ctrStartFirst, f.ctrStartLast = firstLast(starts, 20)
		f.ctrStopFirst, f.ctrStopLast = firstLast(stops, 20)
		for i := 0; i < ctrs; i++ {
			apiCall(c, "DELETE", fmt.Sprintf("/containers/many%d?force=1", i), "", http.StatusNoContent)
		}
		apiCall(c, "DELETE", "/networks/many", "", http.StatusNoContent)
	}
	return f, nil
}

// deleteBridgesIn deletes the bridges that have an address in p.
func deleteBridgesIn(p netip.Prefix) {
	links, err := netlink.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		if l.Type() != "bridge" {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && p.Contains(ip) {
				netlink.LinkDel(l)
				break
			}
		}
	}
}

// freePortRange finds n consecutive TCP ports from 20000 up that nothing
// on the host holds.
func freePortRange(n int) (int, error) {
	for base := 20000; base+n < 32768; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports below 32768", n)
}

// netListFloor is `docker network ls` against an engine that answers at
// once with the same listing: the CLI's own part.
func netListFloor(dir string, listing []byte) (time.Duration, error) {
	sock, stop, err := instantEngine(dir, "1.41", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(listing)
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	return medianOf(10, func() error {
		_, err := dockerOut(sock, filepath.Join(dir, "cli"), nil, "network", "ls")
		return err
	})
}

func printNetScale(engines []engine, nets, ports, ctrs int) error {
	res := map[string]netScaleFigures{}
	for _, e := range engines {
		f, err := measureNetScale(e, nets, ports, ctrs)
		if err != nil {
			if e.name == "berthd" {
				return err
			}
			// What was measured before the failure is still shown.
			fmt.Fprintf(os.Stderr, "%s network scale: %v\n", e.name, err)
		}
		res[e.name] = f
	}
	// The CLI's floor for the listing, with a listing of nets networks.
	dir, err := os.MkdirTemp("", "bench-netfloor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var list []map[string]any
	for i := 0; i < nets; i++ {
		list = append(list, map[string]any{"Name": fmt.Sprintf("scale%d", i), "Id": fmt.Sprintf("%064x", i), "Driver": "bridge", "Scope": "local"})
	}
	listing, _ := json.Marshal(list)
	floor, err := netListFloor(dir, listing)
	if err != nil {
		return err
	}
	_, haveD := res["dockerd"]
	b, d := res["berthd"], res["dockerd"]
	msRow := func(name string, bv, dv time.Duration, haveD bool) {
		if haveD && dv == 0 {
			fmt.Printf("%-34s %14s %14s\n", name, fmt.Sprintf("%.1f ms", ms(bv)), "-")
			return
		}
		msRow(name, bv, dv, haveD)
	}
	fmt.Printf("%-34s (%d networks, %d ports, %d containers; API unless it says CLI)\n", "network scale figures", nets, ports, ctrs)
	msRow("network create, first 50", b.createFirst, d.createFirst, haveD)
	msRow(fmt.Sprintf("network create, last 50 (of %d)", nets), b.createLast, d.createLast, haveD)
	msRow("network rm, first 50", b.removeFirst, d.removeFirst, haveD)
	msRow("network rm, last 50", b.removeLast, d.removeLast, haveD)
	msRow(fmt.Sprintf("GET /networks, %d networks", nets), b.listAPI, d.listAPI, haveD)
	msRow("docker network ls (CLI)", b.listCLI, d.listCLI, haveD)
	fmt.Printf("%-34s %14s\n", "docker network ls, instant engine", fmt.Sprintf("%.1f ms", ms(floor)))
	msRow("restart: start to /_ping", b.restartPing, d.restartPing, haveD)
	msRow("restart: start to all listed", b.restartList, d.restartList, haveD)
	fmt.Printf("%-34s %14s\n", "restart: start to all in nftables", fmt.Sprintf("%.1f ms", ms(b.restartRules)))
	if ports > 0 {
		msRow(fmt.Sprintf("start, %d published ports", ports), b.portsStart, d.portsStart, haveD)
		msRow(fmt.Sprintf("stop, %d published ports", ports), b.portsStop, d.portsStop, haveD)
	}
	if ctrs > 0 {
		msRow("container start, first 20", b.ctrStartFirst, d.ctrStartFirst, haveD)
		msRow(fmt.Sprintf("container start, last 20 (of %d)", ctrs), b.ctrStartLast, d.ctrStartLast, haveD)
		msRow("container stop, first 20", b.ctrStopFirst, d.ctrStopFirst, haveD)
		msRow("container stop, last 20", b.ctrStopLast, d.ctrStopLast, haveD)
	}
	return nil
}
