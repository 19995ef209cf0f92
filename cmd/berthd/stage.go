package main

import (
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/pkg/runtime"
)

// stageBinaryName is cmd/berth-stage's file, installed beside berthd.
const stageBinaryName = "berth-stage"

// useStageBinary (in the background: the first launch waits for it) makes containers' shims and stages run from the small
// berth-stage binary beside this one (pkg/runtime.UseStageExecutable says
// why). Without it, or with one from another build, they run from berthd
// itself, which works the same, a few milliseconds slower per start and
// exec.
func useStageBinary() {
	exe, err := os.Executable()
	if err != nil {
		logrus.WithError(err).Info("container stages run from berthd itself")
		return
	}
	path := filepath.Join(filepath.Dir(exe), stageBinaryName)
	runtime.UseStageExecutableInBackground(path, func(err error) {
		if err != nil {
			logrus.WithError(err).Info("container stages run from berthd itself")
			return
		}
		logrus.WithField("path", path).Debug("container stages run from the stage binary")
	})
}
