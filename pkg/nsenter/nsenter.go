package nsenter

// #cgo CFLAGS: -Wall -O2
// extern void berth_nsenter(void);
// void __attribute__((constructor)) berth_nsenter_init(void) { berth_nsenter(); }
import "C"

const (
	// EnvNamespaces carries TYPE=PATH,TYPE=PATH; TYPE is one of user, mnt,
	// pid, net, uts, ipc, cgroup, time.
	EnvNamespaces = "_BERTH_NSENTER"
	// EnvPipe is the fd number to which the intermediate writes the PID.
	EnvPipe = "_BERTH_NSENTER_PIPE"
	// EnvCgroupTasks lists, one per line, cgroup v1 tasks files that the
	// process joins before anything else (cgroups.SelfJoiner); a failure
	// is reported on fd 3 as {"type":"error","error":...}.
	EnvCgroupTasks = "_BERTH_CGROUP_TASKS"
)
