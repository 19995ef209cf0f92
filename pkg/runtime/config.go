package runtime

import (
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/seccomp"
)

// The environment variable that marks a process as an init or exec stage,
// and its two values.
const (
	envStage  = "_BERTH_STAGE"
	stageInit = "init"
	stageExec = "exec"
)

// Fixed descriptor numbers in a stage process.
const (
	fdSync    = 3 // socketpair end: config in, ready/error out
	fdFifo    = 4 // O_PATH exec FIFO, or the start pipe's read end (init only)
	fdConsole = 5 // unix socket that receives the pty master (terminal only)
)

// cgroupMount tells the init stage how to populate a "cgroup" spec mount
// on a v1 host: one sub-mount per hierarchy.
type cgroupMount struct {
	Name     string // directory under the mount point, e.g. "cpu,cpuacct"
	Options  string // mount data naming the controllers
	HostPath string // the container's own cgroup directory on the host
}

// stageConfig is what the parent sends the stage over the sync socket.
type stageConfig struct {
	ID       string        `json:"id"`
	Rootfs   string        `json:"rootfs,omitempty"`
	Spec     *specs.Spec   `json:"spec,omitempty"`
	Process  specs.Process `json:"process"`
	NoPivot  bool          `json:"noPivot,omitempty"`
	Console  bool          `json:"console,omitempty"`
	CgroupV2 bool          `json:"cgroupV2,omitempty"`
	Cgroups  []cgroupMount `json:"cgroups,omitempty"`
	// UserNS is set when the container has its own user namespace, in
	// which devices are bind-mounted instead of created.
	UserNS bool `json:"userns,omitempty"`
	// NewCgroupNS asks the stage to unshare the cgroup namespace once it
	// is in its cgroup.
	NewCgroupNS bool `json:"newCgroupNS,omitempty"`
	// Seccomp is Spec.Linux.Seccomp compiled by the parent, so that the
	// stage only loads it (microseconds) instead of compiling it with
	// libseccomp after the exec FIFO (milliseconds).
	Seccomp *seccomp.Program `json:"seccompProgram,omitempty"`
	// AwaitCgroup tells the stage that the parent moves it into the
	// container's cgroup after sending this config and then sends a
	// "cgroup" message: the stage sets the container up meanwhile and
	// waits for the message only where being in the cgroup matters.
	AwaitCgroup bool `json:"awaitCgroup,omitempty"`
	// HostNetNS is the creator's network namespace, set when the spec has
	// net.* sysctls: the stage refuses to write them where it finds
	// itself in that namespace.
	HostNetNS *nsID `json:"hostNetNS,omitempty"`
	// AppArmor says that the host has AppArmor enabled, which the stage
	// cannot tell from inside the container; only set when the process
	// asks for a profile.
	AppArmor bool `json:"apparmor,omitempty"`
	// StartPipe says that fdFifo is the init's end of a socket pair on
	// which Start writes one byte (CreateOpts.Ephemeral), not the exec
	// FIFO; the init keeps it open, close-on-exec, until its execve.
	StartPipe bool `json:"startPipe,omitempty"`
}

// nsID names a namespace by the device and inode of its nsfs file.
type nsID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// syncMsg is what the stage answers.
type syncMsg struct {
	Type  string `json:"type"` // "ready" or "error"; "cgroup" to the stage
	Error string `json:"error,omitempty"`
	// Errno is the errno behind Error, when it had one.
	Errno syscall.Errno `json:"errno,omitempty"`
}

// err is the stage's failure as the runtime's callers get it.
func (m syncMsg) err() error { return &Error{Msg: m.Error, Errno: m.Errno} }
