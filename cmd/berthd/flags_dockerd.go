package main

import (
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/berthd/berth/daemon/config"
)

// dockerdOnlyFlags are dockerd flags about its containerd, which berth
// does not run: they are accepted, so that a dockerd command line (moby's
// test daemons pass them all) starts berthd, and have no effect.
var dockerdOnlyFlags = []struct{ name, key, usage string }{
	{"containerd", "containerd", "containerd socket (ignored: berth runs no containerd)"},
	{"containerd-namespace", "containerd-namespace", "containerd namespace (ignored: berth runs no containerd)"},
	{"containerd-plugins-namespace", "containerd-plugin-namespace", "containerd plugins namespace (ignored: berth runs no containerd)"},
}

func installDockerdOnlyFlags(fs *pflag.FlagSet, cfg *config.Config) {
	fs.Var(&cfg.DefaultShmSize, "default-shm-size", "Default shm size for containers (default 64MiB)")
	fs.Var(&intPtrValue{target: &cfg.DefaultStopTimeout}, "default-stop-timeout", "Set the default container stop timeout in seconds (0 to terminate immediately)")
	fs.BoolVar(&cfg.Init, "init", false, "Run an init in the container to forward signals and reap processes")
	fs.StringVar(&cfg.InitPath, "init-path", "", "Path to the docker-init binary")
	fs.BoolVar(&cfg.NoNewPrivileges, "no-new-privileges", false, "Set no-new-privileges by default for new containers")
	fs.StringVar(&cfg.SeccompProfile, "seccomp-profile", "", `Path to seccomp profile. Set to "unconfined" to disable the default seccomp profile`)
	fs.StringVar(&cfg.DefaultIpcMode, "default-ipc-mode", "", `Default mode for containers ipc ("shareable" | "private")`)
	fs.StringVar(&cfg.DefaultCgroupnsMode, "default-cgroupns-mode", "", `Default mode for containers cgroup namespace ("host" | "private")`)
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "", "Set parent cgroup for all containers")
	fs.Var(&listValue{target: &cfg.ExecOptions}, "exec-opt", "Runtime execution options (native.cgroupdriver=cgroupfs|systemd)")
	_ = fs.SetAnnotation("exec-opt", configKeyAnnotation, []string{"exec-opts"})
	fs.StringVar(&cfg.Proxies.HTTPProxy, "http-proxy", "", "HTTP proxy URL to use for outgoing traffic")
	fs.StringVar(&cfg.Proxies.HTTPSProxy, "https-proxy", "", "HTTPS proxy URL to use for outgoing traffic")
	fs.StringVar(&cfg.Proxies.NoProxy, "no-proxy", "", "Comma-separated list of hosts or IP addresses for which the proxy is skipped")
	fs.Var(&mapMapValue{target: &cfg.DefaultNetworkOpts}, "default-network-opt", "Default network options (driver=key=value)")
	_ = fs.SetAnnotation("default-network-opt", configKeyAnnotation, []string{"default-network-opts"})
	fs.StringVar(&cfg.LogFormat, "log-format", "", `Set the logging format ("text"|"json")`)
	fs.BoolVar(&cfg.RawLogs, "raw-logs", false, "Full timestamps without ANSI coloring")
	for _, f := range dockerdOnlyFlags {
		fs.String(f.name, "", f.usage)
		_ = fs.SetAnnotation(f.name, configKeyAnnotation, []string{f.key})
	}
}

// warnDockerdOnlyFlags logs each of those flags the operator gave.
func warnDockerdOnlyFlags(fs *pflag.FlagSet) {
	for _, f := range dockerdOnlyFlags {
		if fs.Changed(f.name) {
			logrus.WithField("flag", "--"+f.name).Warn("flag has no effect: berth runs no containerd")
		}
	}
}
