package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/apparmor"
	"github.com/berthd/berth/pkg/errdefs"
)

// appArmor is the host's AppArmor as the daemon uses it; tests replace it.
var appArmor = struct {
	supported     func() bool
	ensureDefault func() error
	isLoaded      func(string) (bool, error)
}{apparmor.HostSupports, apparmor.EnsureDefault, apparmor.IsLoaded}

// loadAppArmorDefault loads docker-default in the background at start-up
// where the host has AppArmor, as dockerd does; a failure is logged, and
// the first container that needs the profile tries again and fails with
// the reason. appArmor is read before it returns: tests replace it, and
// the load may outlive the test whose daemon started it.
func loadAppArmorDefault() {
	host := appArmor
	go func() {
		if !host.supported() {
			return
		}
		if err := host.ensureDefault(); err != nil {
			logrus.Error(err.Error())
		}
	}()
}

// requestedAppArmor is the profile --security-opt apparmor=NAME (or the
// legacy apparmor:NAME) asked for, or "".
func requestedAppArmor(opts []string) string {
	name := ""
	for _, opt := range opts {
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, _ = strings.Cut(opt, ":")
		}
		if k == "apparmor" {
			name = v
		}
	}
	return name
}

// errAppArmorNotLoaded is what a dockerd host answers for a profile the
// kernel does not have: the runtime's failure to apply it.
var errAppArmorNotLoaded = errors.New("unable to apply apparmor profile: apparmor failed to apply profile: write /proc/self/attr/apparmor/exec: no such file or directory")

// appArmorProfile is the profile the processes of a container with hc
// run under ("" on a host without AppArmor, where a requested one is
// ignored, as under dockerd), and makes sure the kernel has it: the
// default profile is loaded again if something unloaded it, any other
// must already be loaded.
func appArmorProfile(hc *container.HostConfig) (string, error) {
	p := apparmor.Select(appArmor.supported(), requestedAppArmor(hc.SecurityOpt), hc.Privileged)
	switch p {
	case "", apparmor.Unconfined:
	case apparmor.DefaultProfile:
		if err := appArmor.ensureDefault(); err != nil {
			return "", errdefs.System(err)
		}
	default:
		loaded, err := appArmor.isLoaded(p)
		if err != nil {
			return "", errdefs.System(fmt.Errorf("could not check if AppArmor profile %s is loaded: %w", p, err))
		}
		if !loaded {
			return "", startError(errAppArmorNotLoaded)
		}
	}
	return p, nil
}

// execAppArmorProfile is the profile an exec or a health probe of c runs
// under: the one its start chose and stored, as dockerd takes
// c.AppArmorProfile. Nothing is checked or loaded here: an exec runs with
// the container's lock held, and must not wait on apparmor_parser; a
// profile unloaded meanwhile fails the exec in the runtime, as under
// dockerd.
func execAppArmorProfile(c *ctr.Container) string {
	if !appArmor.supported() {
		return ""
	}
	if c.AppArmorProfile != "" {
		return c.AppArmorProfile
	}
	// Never started by this engine version: what its start would choose.
	return apparmor.Select(true, requestedAppArmor(c.HostConfig.SecurityOpt), c.HostConfig.Privileged)
}
