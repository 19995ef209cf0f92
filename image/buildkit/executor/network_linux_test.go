package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/berthd/berth/pkg/netns"
)

// pinnedNetworks is a NetworkProvider of bare pinned namespaces, standing
// in for the daemon's bridge-joined ones.
type pinnedNetworks struct {
	dir    string
	mu     sync.Mutex
	made   []*pinnedNamespace
	closed int
}

type pinnedNamespace struct {
	p        *pinnedNetworks
	path     string
	hostname string
}

func (p *pinnedNetworks) New(_ context.Context, hostname string) (Namespace, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ns := &pinnedNamespace{p: p, path: filepath.Join(p.dir, fmt.Sprint(len(p.made))), hostname: hostname}
	if err := netns.New(ns.path); err != nil {
		return nil, err
	}
	p.made = append(p.made, ns)
	return ns, nil
}

func (n *pinnedNamespace) Path() string { return n.path }

func (n *pinnedNamespace) ResolvConf() []byte {
	return []byte("nameserver 192.0.2.1\n# for " + n.hostname + "\n")
}

func (n *pinnedNamespace) Close() error {
	n.p.mu.Lock()
	n.p.closed++
	n.p.mu.Unlock()
	return netns.Remove(n.path)
}

// A step on the default network runs in the provider's namespace with
// the provider's resolv.conf, and the namespace is closed after it.
func TestRunDefaultNetwork(t *testing.T) {
	nets := &pinnedNetworks{dir: t.TempDir()}
	e := newTestExecutor(t, Options{Network: nets})
	var stdout, stderr safeBuffer
	meta := stepMeta(sh("stat -L -c %i /proc/self/ns/net; cat /etc/resolv.conf"))
	meta.Hostname = "builder"
	_, err := e.Run(context.Background(), "", testRoot(t), nil, processInfo(meta, &stdout, &stderr), nil)
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr.String())
	}
	if len(nets.made) != 1 || nets.closed != 1 {
		t.Fatalf("provider made %d namespaces and closed %d, want 1 and 1", len(nets.made), nets.closed)
	}
	lines := strings.SplitN(stdout.String(), "\n", 2)
	if len(lines) != 2 || lines[1] != "nameserver 192.0.2.1\n# for builder\n" {
		t.Errorf("step output %q, want the provider's resolv.conf", stdout.String())
	}
	// The namespace is gone by now; its inode was not the host's.
	var host syscall.Stat_t
	_ = syscall.Stat("/proc/self/ns/net", &host)
	if lines[0] == fmt.Sprint(host.Ino) {
		t.Error("the step ran in the host's network namespace")
	}
}
