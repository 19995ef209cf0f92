package backend

import (
	"time"

	"github.com/berthd/berth/pkg/cgroups"
)

// Labels the engine puts on the containers of pods, as cri-dockerd names
// them, so that people's docker ps filters carry over.
const (
	// PodContainerTypeLabel is "podsandbox" on a pod's pause container
	// and "container" on its workload containers.
	PodContainerTypeLabel = "io.kubernetes.docker.type"
	PodTypeSandbox        = "podsandbox"
	PodTypeContainer      = "container"
	// PodSandboxIDLabel names the sandbox a pod container belongs to.
	PodSandboxIDLabel = "io.kubernetes.sandbox.id"
	// PodLogPathLabel keeps a pod container's CRI log path.
	PodLogPathLabel = "io.kubernetes.container.logpath"
	// PodAnnotationPrefix prefixes CRI annotations stored as labels.
	PodAnnotationPrefix = "annotation."
)

// PodSandboxConfig is a pod sandbox request in the engine's terms
// (RunPodSandbox's config, translated by the CRI face).
type PodSandboxConfig struct {
	Name      string `json:",omitempty"`
	Namespace string `json:",omitempty"`
	UID       string `json:",omitempty"`
	Attempt   uint32 `json:",omitempty"`

	Hostname     string            `json:",omitempty"`
	LogDirectory string            `json:",omitempty"`
	DNS          *PodDNSConfig     `json:",omitempty"`
	PortMappings []PodPortMapping  `json:",omitempty"`
	Labels       map[string]string `json:",omitempty"`
	Annotations  map[string]string `json:",omitempty"`
	// RuntimeHandler names the runtime of the pod's containers: "" for
	// the daemon's default, else berth's own ("berth") or a runtime of
	// daemon.json's "runtimes" (--add-runtime).
	RuntimeHandler string `json:",omitempty"`

	CgroupParent string            `json:",omitempty"`
	Sysctls      map[string]string `json:",omitempty"`
	// Namespaces says which of the pod's namespaces are the host's.
	Namespaces PodNamespaces
	Security   PodSecurity
	// Resources are the pod's overhead and resources, applied to the
	// sandbox's pause container.
	Resources *PodResources `json:",omitempty"`

	// Original is the request as the face received it (CRI JSON), kept
	// opaque for the face's verbose status.
	Original []byte `json:",omitempty"`
}

// PodDNSConfig becomes the sandbox's resolv.conf, which its containers
// share through its network namespace.
type PodDNSConfig struct {
	Servers  []string `json:",omitempty"`
	Searches []string `json:",omitempty"`
	Options  []string `json:",omitempty"`
}

// PodPortMapping is a hostPort of the pod.
type PodPortMapping struct {
	Protocol      string `json:",omitempty"` // "tcp", "udp" or "sctp"
	ContainerPort int32  `json:",omitempty"`
	HostPort      int32  `json:",omitempty"`
	HostIP        string `json:",omitempty"`
}

// Namespace modes of a pod (CRI NamespaceMode).
const (
	NamespacePod       = "pod"       // shared by the pod's containers
	NamespaceContainer = "container" // each container its own
	NamespaceNode      = "node"      // the host's
)

// PodNamespaces are the modes of the pod's network, PID and IPC
// namespaces: NamespacePod, NamespaceContainer or NamespaceNode ("" is
// the CRI default: pod for network and IPC, container for PID).
type PodNamespaces struct {
	Network string `json:",omitempty"`
	PID     string `json:",omitempty"`
	IPC     string `json:",omitempty"`
}

// HostNetwork says whether the pod uses the host's network namespace.
func (n PodNamespaces) HostNetwork() bool { return n.Network == NamespaceNode }

// PodSecurity is the sandbox's security context.
type PodSecurity struct {
	Privileged         bool    `json:",omitempty"`
	RunAsUser          *int64  `json:",omitempty"`
	RunAsGroup         *int64  `json:",omitempty"`
	SupplementalGroups []int64 `json:",omitempty"`
	ReadonlyRootfs     bool    `json:",omitempty"`
	// Seccomp is "" or "runtime/default" (the default profile),
	// "unconfined", or "localhost/<path>".
	Seccomp string `json:",omitempty"`
}

// PodResources are the pod-level limits the pause container gets.
type PodResources struct {
	CPUPeriod int64 `json:",omitempty"`
	CPUQuota  int64 `json:",omitempty"`
	CPUShares int64 `json:",omitempty"`
	Memory    int64 `json:",omitempty"`
	// Extra are the pod's hugepage limits and unified keys.
	Extra *cgroups.ExtraResources `json:",omitempty"`
}

// PodRuntimeHandler is a runtime a pod can name (RuntimeHandler).
type PodRuntimeHandler struct {
	// Name is "" for the daemon's default runtime.
	Name string
	// Builtin is berth's own runtime, not an --add-runtime binary: the
	// one whose features (recursive read-only mounts) berth knows.
	Builtin bool
}

// PodSandbox is a sandbox as the engine knows it.
type PodSandbox struct {
	ID      string
	Config  PodSandboxConfig
	Created time.Time
	// Ready is true while the sandbox runs: started, not stopped, and its
	// pause process alive.
	Ready bool
	// IPs are the pod's addresses from its network, IPv4 first.
	IPs []string
	// Pid is the pause process, 0 when it is not running.
	Pid int
	// NetnsPath is the pod's network namespace, "" for host network.
	NetnsPath string
	// Image is the pause image reference.
	Image string
}

// PodSandboxFilter selects sandboxes; zero fields select all.
type PodSandboxFilter struct {
	// ID is a full ID or a prefix of one.
	ID string
	// Ready, when set, keeps the sandboxes in that state.
	Ready *bool
	// Labels must all be present with these values.
	Labels map[string]string
}

// PodStats are the resource usage figures of a pod container or a pod
// sandbox, read from its cgroup.
type PodStats struct {
	ID        string
	Timestamp time.Time
	// Container only: its sandbox, the CRI name and attempt from its
	// k8s_ name, and its CRI labels and annotations.
	SandboxID   string            `json:",omitempty"`
	Name        string            `json:",omitempty"`
	Attempt     uint32            `json:",omitempty"`
	Labels      map[string]string `json:",omitempty"`
	Annotations map[string]string `json:",omitempty"`
	// CPUUsageCoreNanoSeconds is the cumulative CPU time.
	CPUUsageCoreNanoSeconds uint64
	// UsageNanoCores is the CPU rate since the previous reading (0 on the
	// first).
	UsageNanoCores   uint64
	MemoryUsage      uint64
	MemoryWorkingSet uint64
	MemoryRSS        uint64
	MemoryAvailable  uint64
	PageFaults       uint64
	MajorPageFaults  uint64
	// WritableLayer measures the container's writable layer (containers
	// only).
	WritableLayer CRIFilesystem
	// Network is the pod's interfaces (sandboxes only).
	Network []PodInterfaceStats
	// Processes is how many processes the cgroup holds.
	Processes uint64
}

// PodInterfaceStats are one interface's counters in the pod's network
// namespace.
type PodInterfaceStats struct {
	Name              string
	RxBytes, RxErrors uint64
	TxBytes, TxErrors uint64
}

// PodContainerStatsFilter selects pod containers; zero fields select all.
type PodContainerStatsFilter struct {
	ID        string // full ID or prefix
	SandboxID string // full ID or prefix
	Labels    map[string]string
}

// PodSandboxStats are a pod's figures: its own (the pause container's
// and its containers' together, and its network) and each container's.
type PodSandboxStats struct {
	Sandbox    PodSandbox
	Pod        PodStats
	Containers []PodStats
}

// PodEventType is what happened to a pod container or a sandbox's pause
// container.
type PodEventType int

// The CRI's container event types, in its order.
const (
	PodContainerCreated PodEventType = iota
	PodContainerStarted
	PodContainerStopped
	PodContainerDeleted
)

// PodEvent is one lifecycle event of a pod container or sandbox, for
// kubelet's evented PLEG.
type PodEvent struct {
	Type        PodEventType
	ContainerID string // the sandbox ID for the pause container
	SandboxID   string
	Time        time.Time
	// Sandbox is the pod's state right after the event; nil once it is
	// gone.
	Sandbox *PodSandbox
}
