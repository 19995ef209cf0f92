package executor

import (
	"context"
	"fmt"
	"os"
	"path"

	containerdoci "github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/continuity/fs"
	bk "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/caps"
	"github.com/berthd/berth/pkg/runtime"
)

// spec is the step's OCI spec. BuildKit's generator makes what dockerd's
// builder gives runc (its mounts of the step's mountables, ulimits,
// resources, hosts and resolv.conf, insecure mode, the default seccomp
// profile); confinement is then set to berth's container defaults. The
// returned release unmounts what the generator mounted for sub-paths.
func (e *Executor) spec(ctx context.Context, id, rootfs string, meta bk.Meta, mounts []bk.Mount, netns *stepNetwork, resolvConf, hostsFile string) (*specs.Spec, func(), error) {
	uid, gid, sgids, err := oci.GetUser(rootfs, meta.User)
	if err != nil {
		return nil, nil, err
	}
	opts := []containerdoci.SpecOpts{oci.WithUIDGID(uid, gid, sgids)}
	if meta.ReadonlyRootFS {
		opts = append(opts, containerdoci.WithRootFSReadonly())
	}
	spec, release, err := oci.GenerateSpec(ctx, meta, mounts, id, resolvConf, hostsFile, netns,
		e.cgroupParent, oci.ProcessSandbox, nil, e.apparmor, false, "", nil, opts...)
	if err != nil {
		return nil, nil, err
	}
	spec.Root.Path = rootfs
	if meta.CgroupParent == "" {
		// Where New looks for a dead daemon's steps.
		spec.Linux.CgroupsPath = e.cgroupPath(id)
	}
	spec.Process.Terminal = meta.Tty
	if meta.SecurityMode != pb.SecurityMode_INSECURE {
		confine(spec)
	}
	// The working directory is made if the image lacks it, owned by the
	// step's user, as runc's executor does in BuildKit.
	cwd, err := fs.RootPath(rootfs, meta.Cwd)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("working dir %s points to invalid target: %w", meta.Cwd, err)
	}
	if _, err := os.Stat(cwd); err != nil {
		if err := user.MkdirAllAndChown(cwd, 0o755, int(uid), int(gid)); err != nil {
			release()
			return nil, nil, fmt.Errorf("failed to create working directory %s: %w", meta.Cwd, err)
		}
	}
	return spec, release, nil
}

// confine gives a sandboxed step what berth's containers get by
// default: the capability set and the masked and read-only paths.
// BuildKit's generator already set the seccomp profile, the one berth's
// containers get (moby's default profile for these capabilities).
func confine(spec *specs.Spec) {
	set := append([]string(nil), caps.DefaultDocker...)
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: set, Effective: set, Permitted: set}
	def := runtime.DefaultSpec()
	spec.Linux.MaskedPaths = def.Linux.MaskedPaths
	spec.Linux.ReadonlyPaths = def.Linux.ReadonlyPaths
}

// cgroupPath is the cgroup of step id under the executor's parent:
// Parent/buildkit/<id>, where dockerd's builder puts its steps.
func (e *Executor) cgroupPath(id string) string {
	return path.Join("/", e.cgroupParent, "buildkit", id)
}
