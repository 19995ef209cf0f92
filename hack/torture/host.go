package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var idRE = regexp.MustCompile(`[0-9a-f]{64}`)

// idSet records every container ID this run has seen (API answers and
// the data-root's containers directory, sampled), so that a cgroup or a
// shim under the shared /berth parent can be told apart from another
// daemon's on the same host.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *idSet) add(id string) {
	if len(id) != 64 {
		return
	}
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
	s.mu.Unlock()
}

func (s *idSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// sampleDir adds the entries of the containers directory to s.
func (s *idSet) sampleDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		s.add(e.Name())
	}
}

type mountPoint struct{ path, fstype, source string }

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []mountPoint {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountPoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp != dir && !strings.HasPrefix(mp, dir+"/") {
			continue
		}
		m := mountPoint{path: mp}
		for i, f := range fields {
			if f == "-" && i+2 < len(fields) {
				m.fstype, m.source = fields[i+1], fields[i+2]
			}
		}
		out = append(out, m)
	}
	return out
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// cgroupDirs returns, per container ID of ids, its cgroup directories
// under /berth in every v1 hierarchy and in the v2 tree.
func cgroupDirs(ids []string) map[string][]string {
	out := map[string][]string{}
	for _, id := range ids {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/berth/" + id)
		if st, err := os.Stat("/sys/fs/cgroup/berth/" + id); err == nil && st.IsDir() {
			dirs = append(dirs, "/sys/fs/cgroup/berth/"+id)
		}
		if len(dirs) > 0 {
			out[id] = dirs
		}
	}
	return out
}

// cgroupProcs is every PID in the cgroup dir and below it.
func cgroupProcs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

type link struct {
	IfName   string `json:"ifname"`
	Master   string `json:"master"`
	LinkInfo struct {
		InfoKind string `json:"info_kind"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
	} `json:"addr_info"`
}

func ipLinks(args ...string) []link {
	out, err := exec.Command("ip", append([]string{"-j", "-d"}, args...)...).Output()
	if err != nil {
		return nil
	}
	var ls []link
	json.Unmarshal(out, &ls)
	return ls
}

// myBridges are the bridges of the torture daemon: its default bridge and
// every bridge with an address in the torture pool.
func (d *daemon) myBridges() map[string]bool {
	p := netip.MustParsePrefix(pool)
	out := map[string]bool{}
	for _, l := range ipLinks("addr", "show", "type", "bridge") {
		if l.IfName == d.bridge {
			out[l.IfName] = true
			continue
		}
		for _, a := range l.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil && p.Contains(ip) {
				out[l.IfName] = true
			}
		}
	}
	return out
}

// vethsOn maps each veth enslaved to one of bridges to its bridge.
func vethsOn(bridges map[string]bool) map[string]string {
	out := map[string]string{}
	for _, l := range ipLinks("link", "show", "type", "veth") {
		if bridges[l.Master] {
			out[l.IfName] = l.Master
		}
	}
	return out
}

// nftRules is the daemon's table as nft prints it ("" when it has none).
func (d *daemon) nftRules() string {
	out, err := exec.Command("nft", "list", "table", "inet", d.table).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// shimProc is a berthd-shim process of this run.
type shimProc struct {
	pid int
	id  string // the container it serves, from its open files
}

// myShims lists the berthd-shim processes holding a file under the run's
// root; another daemon's shims are never touched.
func (d *daemon) myShims() []shimProc {
	ents, _ := os.ReadDir("/proc")
	var out []shimProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.TrimSpace(string(comm)) != "berthd-shim" {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + e.Name() + "/fd")
		mine, id := false, ""
		for _, fd := range fds {
			t, _ := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name())
			if strings.HasPrefix(t, d.root+"/") {
				mine = true
				if m := idRE.FindString(t); m != "" {
					id = m
				}
			}
		}
		if mine {
			out = append(out, shimProc{pid: pid, id: id})
		}
	}
	return out
}

// ipamOwners maps network ID → address → owner from the IPAM state files.
func (d *daemon) ipamOwners() map[string]map[string]string {
	files, _ := filepath.Glob(filepath.Join(d.dataRoot, "*", "ipam", "*.json"))
	more, _ := filepath.Glob(filepath.Join(d.dataRoot, "ipam", "*.json"))
	out := map[string]map[string]string{}
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var subs []struct {
			Addrs map[string]string `json:"addrs"`
		}
		if json.Unmarshal(b, &subs) != nil {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(f), ".json")
		out[id] = map[string]string{}
		for _, s := range subs {
			for a, o := range s.Addrs {
				out[id][a] = o
			}
		}
	}
	return out
}

// cleanup removes everything the run made on the host: the daemon (by its
// PID), its containers' processes and cgroups, its shims, mounts, nft
// tables, bridges and root. It is safe to call more than once.
func (d *daemon) cleanup(ids *idSet, keep bool) {
	d.kill()
	ids.sampleDir(filepath.Join(d.dataRoot, "containers"))
	all := ids.list()
	dirs := cgroupDirs(all)
	for _, ds := range dirs {
		for _, dir := range ds {
			os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
			os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
		}
	}
	for _, ds := range dirs {
		for _, dir := range ds {
			for _, pid := range cgroupProcs(dir) {
				if pid > 1 {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
	}
	for _, s := range d.myShims() {
		unix.Kill(s.pid, unix.SIGKILL)
	}
	for _, ds := range dirs {
		for _, dir := range ds {
			rmdirAll(dir)
		}
	}
	ms := mountsUnder(d.root)
	sort.Slice(ms, func(i, j int) bool { return len(ms[i].path) > len(ms[j].path) })
	for _, m := range ms {
		unix.Unmount(m.path, unix.MNT_DETACH)
	}
	exec.Command("nft", "delete", "table", "inet", d.table).Run()
	exec.Command("nft", "delete", "table", "inet", d.table+"-user").Run()
	for br := range d.myBridges() {
		exec.Command("ip", "link", "del", br).Run()
	}
	if !keep {
		os.RemoveAll(d.root)
	}
}

// rmdirAll removes a cgroup and its children, deepest first, retrying
// while the killed processes leave.
func rmdirAll(dir string) {
	var sub []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			sub = append(sub, p)
		}
		return nil
	})
	sort.Slice(sub, func(i, j int) bool { return len(sub[i]) > len(sub[j]) })
	for _, s := range sub {
		for i := 0; i < 100; i++ {
			if err := unix.Rmdir(s); err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
