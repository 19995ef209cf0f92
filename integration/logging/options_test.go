package logging

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// TestLogsDetails: `docker logs --details` puts the attributes the
// labels, env and tag options choose before each line, as dockerd does,
// for the json-file driver and for a remote driver's cache.
func TestLogsDetails(t *testing.T) {
	r := gelfReceiver(t, "udp")
	for _, driver := range []string{"json-file", "gelf"} {
		name := "details-" + driver
		opts := []string{"labels=team", "env=STAGE", "tag=web"}
		if driver == "gelf" {
			opts = append(opts, "gelf-address="+r.addr)
		}
		runLogged(t, name, driver, opts, "echo line")
		if got := d.DockerT(t, "logs", "--details", name); got != "STAGE=prod,tag=web,team=core line\n" {
			t.Errorf("%s: docker logs --details: %q", driver, got)
		}
	}
	runLogged(t, "details-none", "json-file", nil, "echo plain")
	if got := d.DockerT(t, "logs", "--details", "details-none"); got != " plain\n" {
		t.Errorf("no attributes: docker logs --details: %q", got)
	}
}

// TestCacheDisabled: cache-disabled=true keeps the driver but turns
// `docker logs` off, with dockerd's words; bad cache and mode options are
// refused at create.
func TestCacheDisabled(t *testing.T) {
	r := gelfReceiver(t, "udp")
	runLogged(t, "no-cache", "gelf", []string{"gelf-address=" + r.addr, "cache-disabled=true"}, "echo shipped")
	r.waitFor(t, `"short_message":"shipped"`)
	dockerFails(t, "configured logging driver does not support reading", "logs", "no-cache")

	runLogged(t, "nonblocking", "gelf", []string{"gelf-address=" + r.addr, "mode=non-blocking", "max-buffer-size=4m",
		"cache-max-size=1m", "cache-max-file=2"}, "echo quick")
	r.waitFor(t, `"short_message":"quick"`)
	cacheHas(t, "nonblocking", "quick\n", "")

	dockerFails(t, "invalid value for option cache-disabled: perhaps", "create", "--log-driver", "gelf",
		"--log-opt", "gelf-address="+r.addr, "--log-opt", "cache-disabled=perhaps", "busybox")
	dockerFails(t, "logger: logging mode not supported: sometimes", "create", "--log-driver", "gelf",
		"--log-opt", "gelf-address="+r.addr, "--log-opt", "mode=sometimes", "busybox")
	dockerFails(t, "logger: max-buffer-size option is only supported with 'mode=non-blocking'", "create", "--log-driver", "syslog",
		"--log-opt", "max-buffer-size=1m", "busybox")
}

// TestDaemonDefaultDriver: log-driver and log-opts in daemon.json make a
// remote driver every container's default; a container naming another
// driver gets only the daemon's cache-* options; a daemon.json whose
// log-opts the driver does not know does not start.
func TestDaemonDefaultDriver(t *testing.T) {
	r := gelfReceiver(t, "udp")
	dd := harness.Fresh(t, harness.Options{Config: `{"log-driver":"gelf","log-opts":{"gelf-address":"` + r.addr + `","tag":"{{.Name}}","cache-max-file":"3"}}`})
	dd.LoadTestImages(t)
	dd.DockerT(t, "run", "--name", "defaulted", "busybox", "echo", "by-default")
	_, m := gelfMessage(t, r.waitFor(t, "by-default"))
	if m["_tag"] != "defaulted" {
		t.Errorf("tag %v; want the daemon's template expanded", m["_tag"])
	}
	if got := dd.DockerT(t, "logs", "defaulted"); got != "by-default\n" {
		t.Errorf("docker logs: %q", got)
	}
	if got := strings.TrimSpace(dd.DockerT(t, "info", "-f", "{{.LoggingDriver}}")); got != "gelf" {
		t.Errorf("docker info: logging driver %q", got)
	}
	dd.DockerT(t, "create", "--name", "other", "--log-driver", "json-file", "busybox")
	if got := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{json .HostConfig.LogConfig}}", "other")); got != `{"Type":"json-file","Config":{"cache-max-file":"3"}}` {
		t.Errorf("another driver's config: %s", got)
	}

	bad, err := harness.New(harness.Options{Config: `{"log-driver":"syslog","log-opts":{"syslog-bogus":"1"}}`})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Cleanup)
	if err := bad.Start(); err == nil {
		t.Fatal("a daemon.json with an unknown syslog option started")
	}
	if log := bad.Log(); !strings.Contains(log, "unknown log opt 'syslog-bogus' for syslog log driver") {
		t.Errorf("daemon log does not name the option: %s", log)
	}
}
