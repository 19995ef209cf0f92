// Package drivers is the table of berth's built-in log drivers by name:
// those the shim writes itself (json-file, local, none) and those a
// forwarder feeds (syslog, gelf, fluentd, journald, splunk, awslogs, and
// cri, the Kubernetes log file of pod containers),
// with the check of a log configuration that both a container's create
// and the daemon's configuration use.
package drivers

import (
	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/daemon/logger/awslogs"
	"github.com/berthd/berth/daemon/logger/crilog"
	"github.com/berthd/berth/daemon/logger/fluentd"
	"github.com/berthd/berth/daemon/logger/gelf"
	"github.com/berthd/berth/daemon/logger/journald"
	"github.com/berthd/berth/daemon/logger/splunk"
	"github.com/berthd/berth/daemon/logger/syslog"
)

// Remote are the built-in drivers that send the output to a receiver.
var Remote = map[string]logger.Driver{
	"awslogs":   awslogs.Driver,
	crilog.Name: crilog.Driver,
	"syslog":    syslog.Driver,
	"gelf":      gelf.Driver,
	"fluentd":   fluentd.Driver,
	"journald":  journald.Driver,
	"splunk":    splunk.Driver,
}

// Shim are the drivers the shim writes itself, with no forwarder.
var Shim = map[string]bool{"": true, "json-file": true, "local": true, "none": true}

// Builtin tells whether name is a built-in driver (not a plugin).
func Builtin(name string) bool {
	_, ok := Remote[name]
	return ok || Shim[name]
}

// Validate checks a built-in driver's options, with dockerd's words; a
// plugin's options are the plugin's business, past the common ones.
func Validate(driver string, opts map[string]string) error {
	if driver == "none" {
		return nil
	}
	if err := logger.ValidateEngineOpts(opts); err != nil {
		return err
	}
	if d, ok := Remote[driver]; ok {
		return d.Validate(logger.DriverOpts(opts))
	}
	return nil
}
