package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/berthd/berth/api/server"
	"github.com/berthd/berth/api/server/authz"
	"github.com/berthd/berth/api/server/listeners"
	"github.com/berthd/berth/daemon"
	"github.com/berthd/berth/daemon/config"
	"github.com/berthd/berth/metrics"
	"github.com/berthd/berth/pkg/pidfile"
)

// requestDrainTimeout bounds how long shutdown waits for in-flight API
// requests before closing their connections.
const requestDrainTimeout = 10 * time.Second

// loadConfig applies daemon.json on top of the flags. A missing file is
// fine unless --config-file named it.
func loadConfig(fs *pflag.FlagSet, cfg *config.Config, o *options) (*config.Config, error) {
	if err := o.refused.check(fs); err != nil {
		return nil, err
	}
	merged := cfg.Clone()
	if err := config.MergeFile(merged, o.configFile, changedFlags(fs)); err != nil {
		if !errors.Is(err, os.ErrNotExist) || fs.Changed("config-file") {
			return nil, err
		}
	}
	if merged.Debug {
		merged.LogLevel = "debug"
	}
	if err := merged.Validate(); err != nil {
		return nil, err
	}
	return merged, nil
}

func setupLogging(cfg *config.Config) {
	// log-format and raw-logs as dockerd reads them: json, or text whose
	// colours raw-logs turns off even on a terminal.
	if cfg.LogFormat == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	} else {
		logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339Nano, DisableColors: cfg.RawLogs})
	}
	logrus.SetOutput(os.Stderr)
	lvl, err := logrus.ParseLevel(cfg.LogLevel)
	if err != nil {
		lvl = logrus.InfoLevel
	}
	logrus.SetLevel(lvl)
}

// tlsOptions turns the TLS settings into listener options (see
// Config.APITLS); certificate paths default to DOCKER_CERT_PATH or
// ~/.docker.
func tlsOptions(cfg *config.Config) (listeners.Options, error) {
	o := listeners.Options{Group: cfg.Group, GroupExplicit: cfg.Group != config.DefaultGroup}
	useTLS, verify := cfg.APITLS()
	if !useTLS {
		o.InsecureTCP = cfg.TLS != nil && !*cfg.TLS
		return o, nil
	}
	certDir := os.Getenv("DOCKER_CERT_PATH")
	if certDir == "" {
		home, _ := os.UserHomeDir()
		certDir = filepath.Join(home, ".docker")
	}
	or := func(v, file string) string {
		if v != "" {
			return v
		}
		return filepath.Join(certDir, file)
	}
	tc, err := listeners.ServerTLS(listeners.TLSFiles{
		CA:     or(cfg.TLSCACert, "ca.pem"),
		Cert:   or(cfg.TLSCert, "cert.pem"),
		Key:    or(cfg.TLSKey, "key.pem"),
		Verify: verify,
	})
	if err != nil {
		return o, err
	}
	o.TLS = tc
	return o, nil
}

func run(fs *pflag.FlagSet, flagCfg *config.Config, o *options) error {
	cfg, err := loadConfig(fs, flagCfg, o)
	if err != nil {
		return err
	}
	if o.validate {
		fmt.Println("configuration OK")
		return nil
	}
	setupLogging(cfg)
	warnDockerdOnlyFlags(fs)
	configureProxyEnv(cfg.Proxies)
	// Whatever umask the daemon was started with (a hardened shell's 027
	// or 077), the files and directories it makes for containers (their
	// state, the mount points the runtime creates in their roots) must
	// be readable as dockerd's are: dockerd sets 022 the same way.
	syscall.Umask(0o022)
	signal.Ignore(syscall.SIGPIPE)
	logrus.WithFields(logrus.Fields{"version": daemon.Version, "data-root": cfg.DataRoot}).Info("starting berthd")

	// The pidfile first: a daemon refused here must not have started
	// anything (daemon.New begins bridge and netfilter setup).
	if err := pidfile.Write(cfg.Pidfile); err != nil {
		return err
	}
	defer pidfile.Remove(cfg.Pidfile)
	useStageBinary()
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	defer d.Shutdown()

	lopts, err := tlsOptions(cfg)
	if err != nil {
		return err
	}
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, h := range cfg.Hosts {
		opened, err := listeners.Open(h, lopts)
		if err != nil {
			closeAll()
			return fmt.Errorf("failed to load listeners: %w", err)
		}
		ls = append(ls, opened...)
	}

	srv := server.New(server.Config{
		ServerVersion: daemon.Version,
		Experimental:  func() bool { return d.Config().Experimental },
		MinAPIVersion: func() string { return d.Config().MinAPIVersionInUse() },
		Authz: &authz.Middleware{
			Chain: d.AuthzChain,
			Get: func(ctx context.Context, name string) (authz.Plugin, error) {
				return d.AuthzPlugin(ctx, name)
			},
		},
	}, routers(d)...)
	// dockerd starts its metrics server once the engine is up, before the
	// API serves; a bad or busy address stops the start.
	var ms *metrics.Server
	if cfg.MetricsAddress != "" {
		if ms, err = metrics.Listen(cfg.MetricsAddress, metrics.Handler(d.MetricsRegistry())); err != nil {
			closeAll()
			return fmt.Errorf("failed to start metrics server: %w", err)
		}
	}
	crif, err := startCRI(cfg, d)
	if err != nil {
		closeAll()
		if ms != nil {
			ms.Close(time.Second)
		}
		return err
	}
	defer crif.stop()
	// Catch signals before telling anyone we are ready: a SIGTERM that
	// arrives right after READY=1 must shut down gracefully, not kill.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	dumpStacksOnSIGUSR1(cfg.ExecRoot)
	serveErr := make(chan error, len(ls))
	srv.Serve(ls, serveErr)
	notify(sddaemon.SdNotifyReady)
	logrus.Info("berthd has completed initialization; API is ready")
	for {
		select {
		case err := <-serveErr:
			logrus.WithError(err).Error("API listener failed; shutting down")
			shutdown(d, srv, ms)
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(fs, flagCfg, o, d)
				continue
			}
			logrus.WithField("signal", sig).Info("shutting down")
			go func() {
				// A second SIGTERM/SIGINT while draining means "now".
				for s := range sigs {
					if s != syscall.SIGHUP {
						logrus.Warn("second signal: exiting without waiting")
						pidfile.Remove(cfg.Pidfile)
						os.Exit(128 + int(s.(syscall.Signal)))
					}
				}
			}()
			shutdown(d, srv, ms)
			return nil
		}
	}
}

func shutdown(d *daemon.Daemon, srv *server.Server, ms *metrics.Server) {
	notify(sddaemon.SdNotifyStopping)
	// Ending event subscriptions first lets streaming /events requests
	// finish, so the drain below only waits for real work.
	d.Events().Close()
	if ms != nil {
		// A scrape reads a few cgroup files; a short wait is plenty.
		ms.Close(time.Second)
	}
	srv.Shutdown(requestDrainTimeout)
	d.StopContainersForShutdown()
	logrus.Info("berthd shutdown complete")
}

// reload re-reads daemon.json against the original flags and applies what
// can change at run time. A bad file is logged and changes nothing.
func reload(fs *pflag.FlagSet, flagCfg *config.Config, o *options, d *daemon.Daemon) {
	next, err := loadConfig(fs, flagCfg, o)
	if err != nil {
		logrus.WithError(err).Error("reload failed; configuration unchanged")
		return
	}
	if err := d.Reload(next); err != nil {
		logrus.WithError(err).Error("reload failed; configuration unchanged")
	}
}

func notify(state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		logrus.WithError(err).Debug("sd_notify failed")
	}
}
