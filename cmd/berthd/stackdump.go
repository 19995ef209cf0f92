package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// dumpStacksOnSIGUSR1 writes every goroutine's stack to a file in dir
// each time SIGUSR1 arrives, as dockerd does (goroutine-stacks-<time>.log
// in its exec-root): what a daemon that is slow or stuck under load is
// waiting for, without stopping it.
func dumpStacksOnSIGUSR1(dir string) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		for range c {
			path, err := dumpStacks(dir, time.Now())
			if err != nil {
				logrus.WithError(err).Error("could not write the goroutine stacks")
				continue
			}
			logrus.WithField("path", path).Info("goroutine stacks written")
		}
	}()
}

// dumpStacks writes the stacks to dir/goroutine-stacks-<now>.log.
func dumpStacks(dir string, now time.Time) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("goroutine-stacks-%s.log", now.UTC().Format("2006-01-02T150405.000000000Z")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	if err := pprof.Lookup("goroutine").WriteTo(f, 2); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
