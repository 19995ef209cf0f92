package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// errApparmorNotEnabled is runc's error for a profile asked for on a host
// without AppArmor: running the process unconfined instead would silently
// drop the confinement the caller wanted.
var errApparmorNotEnabled = errors.New("apparmor: config provided but apparmor not supported")

// apparmorEnabled is read on the host, by the parent of a stage: inside
// the container neither securityfs nor the module parameters need be
// visible.
var apparmorEnabled = sync.OnceValue(func() bool { return apparmorEnabledIn("/sys") })

// apparmorEnabledIn says whether the sysfs at sys shows AppArmor loaded
// and enabled, the test runc and libapparmor make.
func apparmorEnabledIn(sys string) bool {
	if _, err := os.Stat(filepath.Join(sys, "kernel/security/apparmor")); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(sys, "module/apparmor/parameters/enabled"))
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// applyApparmor makes the next execve of this thread enter profile (an
// empty profile changes nothing), writing "exec <profile>" the way
// aa_change_onexec does, with write (setLSMExecAttr outside tests).
func applyApparmor(profile string, enabled bool, write func(lsm, value string) error) error {
	if profile == "" {
		return nil
	}
	if !enabled {
		return errApparmorNotEnabled
	}
	if err := write("apparmor", "exec "+profile); err != nil {
		return fmt.Errorf("apparmor failed to apply profile %q: %w", profile, err)
	}
	return nil
}
