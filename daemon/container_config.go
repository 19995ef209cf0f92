package daemon

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/signal"
)

// minMemory is the smallest memory limit dockerd accepts.
const minMemory = 6 * 1024 * 1024

// mergeImageConfig fills what the user left unset from the image, the way
// dockerd merges them: the image's Env comes first and the user's entries
// override by key; an Entrypoint given by the user drops the image's Cmd.
func mergeImageConfig(user, img *container.Config) {
	if img == nil {
		return
	}
	if user.User == "" {
		user.User = img.User
	}
	if len(img.ExposedPorts) > 0 {
		if user.ExposedPorts == nil {
			user.ExposedPorts = network.PortSet{}
		}
		for p := range img.ExposedPorts {
			user.ExposedPorts[p] = struct{}{}
		}
	}
	if len(img.Env) > 0 {
		// dockerd's order: the user's variables, then the image's that
		// the user did not set.
		merged := append([]string{}, user.Env...)
		for _, ie := range img.Env {
			ik, _, _ := strings.Cut(ie, "=")
			set := false
			for _, e := range user.Env {
				if k, _, _ := strings.Cut(e, "="); k == ik {
					set = true
					break
				}
			}
			if !set {
				merged = append(merged, ie)
			}
		}
		user.Env = merged
	}
	if len(img.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range user.Labels {
			labels[k] = v
		}
		user.Labels = labels
	}
	if len(user.Entrypoint) == 0 {
		if len(user.Cmd) == 0 {
			user.Cmd = img.Cmd
			user.ArgsEscaped = img.ArgsEscaped
		}
		if user.Entrypoint == nil {
			user.Entrypoint = img.Entrypoint
		}
	}
	if img.Healthcheck != nil {
		if user.Healthcheck == nil {
			hc := *img.Healthcheck
			user.Healthcheck = &hc
		} else {
			if len(user.Healthcheck.Test) == 0 {
				user.Healthcheck.Test = img.Healthcheck.Test
			}
			if user.Healthcheck.Interval == 0 {
				user.Healthcheck.Interval = img.Healthcheck.Interval
			}
			if user.Healthcheck.Timeout == 0 {
				user.Healthcheck.Timeout = img.Healthcheck.Timeout
			}
			if user.Healthcheck.StartPeriod == 0 {
				user.Healthcheck.StartPeriod = img.Healthcheck.StartPeriod
			}
			if user.Healthcheck.StartInterval == 0 {
				user.Healthcheck.StartInterval = img.Healthcheck.StartInterval
			}
			if user.Healthcheck.Retries == 0 {
				user.Healthcheck.Retries = img.Healthcheck.Retries
			}
		}
	}
	if user.WorkingDir == "" {
		user.WorkingDir = img.WorkingDir
	}
	if len(img.Volumes) > 0 {
		if user.Volumes == nil {
			user.Volumes = map[string]struct{}{}
		}
		for v := range img.Volumes {
			user.Volumes[v] = struct{}{}
		}
	}
	if user.StopSignal == "" {
		user.StopSignal = img.StopSignal
	}
	if len(user.Shell) == 0 {
		user.Shell = img.Shell
	}
	if len(user.OnBuild) == 0 {
		user.OnBuild = img.OnBuild
	}
}

// validateConfig checks the parts of a container config dockerd checks at
// create, with its messages.
func validateConfig(cfg *container.Config) error {
	if cfg == nil {
		return errdefs.InvalidParameterf("config cannot be empty in order to create a container")
	}
	if cfg.WorkingDir != "" {
		if !strings.HasPrefix(cfg.WorkingDir, "/") {
			return errdefs.InvalidParameterf("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
		}
		// dockerd stores it cleaned ("/tmp/" is "/tmp" in inspect).
		cfg.WorkingDir = path.Clean(cfg.WorkingDir)
	}
	for _, e := range cfg.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return errdefs.InvalidParameterf("invalid environment variable: %s", e)
		}
	}
	if cfg.StopSignal != "" {
		if _, err := signal.Parse(cfg.StopSignal); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	if cfg.StopTimeout != nil && *cfg.StopTimeout < -1 {
		return errdefs.InvalidParameterf("invalid stop timeout: %d", *cfg.StopTimeout)
	}
	if hc := cfg.Healthcheck; hc != nil {
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
			if d.v != 0 && d.v < container.MinimumDuration {
				return errdefs.InvalidParameterf("%s in Healthcheck cannot be less than %s", d.name, container.MinimumDuration)
			}
		}
		if hc.Retries < 0 {
			return errdefs.InvalidParameterf("Retries in Healthcheck cannot be negative")
		}
	}
	return nil
}

// validateHostConfig checks the host config with dockerd's messages.
func validateHostConfig(hc *container.HostConfig) error {
	if hc == nil {
		return nil
	}
	if err := validateRestartPolicy(hc.RestartPolicy); err != nil {
		return err
	}
	if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
		return errdefs.InvalidParameterf("can't create 'AutoRemove' container with restart policy")
	}
	for k := range hc.Annotations {
		if k == "" {
			return errdefs.InvalidParameterf("invalid Annotations: the empty string is not permitted as an annotation key")
		}
	}
	r := hc.Resources
	if r.Memory != 0 && r.Memory < minMemory {
		return errdefs.InvalidParameterf("Minimum memory limit allowed is 6MB")
	}
	if r.Memory < 0 {
		return errdefs.InvalidParameterf("invalid memory limit: %d", r.Memory)
	}
	if r.MemorySwap > 0 && r.Memory == 0 {
		return errdefs.InvalidParameterf("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return errdefs.InvalidParameterf("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.MemoryReservation != 0 && r.MemoryReservation < minMemory {
		return errdefs.InvalidParameterf("Minimum memory reservation allowed is 6MB")
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.MemoryReservation > r.Memory {
		return errdefs.InvalidParameterf("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.MemorySwappiness != nil && (*r.MemorySwappiness < -1 || *r.MemorySwappiness > 100) {
		return errdefs.InvalidParameterf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.CPUShares < 0 {
		return errdefs.InvalidParameterf("invalid CPU shares (%d): value must be a positive integer", r.CPUShares)
	}
	if r.NanoCPUs != 0 && (r.CPUPeriod != 0 || r.CPUQuota != 0) {
		if r.CPUPeriod != 0 {
			return errdefs.InvalidParameterf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
		}
		return errdefs.InvalidParameterf("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	ncpu := runtime.NumCPU()
	if r.NanoCPUs < 0 || r.NanoCPUs > int64(ncpu)*1e9 {
		return errdefs.InvalidParameterf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return errdefs.InvalidParameterf("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return errdefs.InvalidParameterf("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CpusetCpus != "" {
		if err := validateCPUSet(r.CpusetCpus, ncpu, "cpus"); err != nil {
			return err
		}
	}
	if r.BlkioWeight != 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return errdefs.InvalidParameterf("Range of blkio weight is from 10 to 1000")
	}
	if r.PidsLimit != nil && *r.PidsLimit < -1 {
		return errdefs.InvalidParameterf("invalid pids limit: %d", *r.PidsLimit)
	}
	if _, err := parseSecurityOpts(hc.SecurityOpt); err != nil {
		return err
	}
	if !hc.IpcMode.Valid() {
		return errdefs.InvalidParameterf("invalid IPC mode: %v", hc.IpcMode)
	}
	if !hc.PidMode.Valid() {
		return errdefs.InvalidParameterf("invalid PID mode: %v", hc.PidMode)
	}
	if !hc.UTSMode.Valid() {
		return errdefs.InvalidParameterf("invalid UTS mode: %v", hc.UTSMode)
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return errdefs.InvalidParameterf("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}
	if hc.ShmSize < 0 {
		return errdefs.InvalidParameterf("SHM size can not be less than 0")
	}
	for _, u := range r.Ulimits {
		if u.Soft > u.Hard && u.Hard != -1 {
			return errdefs.InvalidParameterf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	return nil
}

func validateRestartPolicy(p container.RestartPolicy) error {
	switch p.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return errdefs.InvalidParameterf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return errdefs.InvalidParameterf("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.InvalidParameterf("invalid restart policy: unknown policy '%s'; use one of '%s', '%s', '%s', or '%s'", p.Name,
			container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyOnFailure, container.RestartPolicyUnlessStopped)
	}
	return nil
}

// validateCPUSet parses "0-2,4" and checks every CPU exists.
func validateCPUSet(set string, n int, what string) error {
	var set2 unix.CPUSet
	available := []int{}
	if unix.SchedGetaffinity(0, &set2) == nil {
		for i := 0; i < 1024; i++ {
			if set2.IsSet(i) {
				available = append(available, i)
			}
		}
	} else {
		for i := 0; i < n; i++ {
			available = append(available, i)
		}
	}
	// dockerd's bound (isCpusetListAvailable): 8192 is Linux's usual
	// maximum number of CPUs, or more where the host has more. Without
	// it a range such as 0-9999999999 is listed in full, and the daemon
	// runs out of memory (found by FuzzContainerCreateConfig).
	maxCPU := 8192
	if len(available) > 0 {
		maxCPU = max(maxCPU, available[len(available)-1])
	}
	var requested []int
	for _, part := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		var a, b int
		if _, err := fmt.Sscanf(lo, "%d", &a); err != nil || fmt.Sprint(a) != lo {
			return errdefs.InvalidParameterf("Invalid value %s for cpuset %s", set, what)
		}
		b = a
		if isRange {
			if _, err := fmt.Sscanf(hi, "%d", &b); err != nil || fmt.Sprint(b) != hi || b < a {
				return errdefs.InvalidParameterf("Invalid value %s for cpuset %s", set, what)
			}
		}
		if b > maxCPU {
			return errdefs.InvalidParameterf("Invalid value %s for cpuset %s: value of out range, maximum is %d", set, what, maxCPU)
		}
		for i := a; i <= b; i++ {
			requested = append(requested, i)
		}
	}
	for _, c := range requested {
		if !slices.Contains(available, c) {
			return errdefs.InvalidParameterf("Requested CPUs are not available - requested %s, available: %s", set, formatCPUList(available))
		}
	}
	return nil
}

func formatCPUList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
