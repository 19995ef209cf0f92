package daemon

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/stringid"
)

// Healthcheck defaults and limits, dockerd's.
const (
	defaultProbeInterval     = 30 * time.Second
	defaultProbeTimeout      = 30 * time.Second
	defaultStartInterval     = 5 * time.Second
	defaultProbeRetries      = 3
	maxHealthLogEntries      = 5
	maxHealthOutput          = 4096
	probeExitTimeoutExitCode = -1
)

// healthProbe is the command a healthcheck runs, or nil for none.
func healthProbe(c *ctr.Container) []string {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		shell := c.Config.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), strings.Join(hc.Test[1:], " "))
	}
	return nil // NONE
}

// startHealthMonitor begins probing a container that just started. The
// caller holds c's lock.
func (d *Daemon) startHealthMonitor(c *ctr.Container) {
	probe := healthProbe(c)
	if probe == nil {
		c.State.Health = nil
		return
	}
	c.State.Health = &container.Health{Status: container.Starting, Log: []*container.HealthcheckResult{}}
	ctx, cancel := context.WithCancel(d.life.Context())
	l := d.liveState(c)
	l.mu.Lock()
	if l.healthCancel != nil {
		l.healthCancel()
	}
	l.healthCancel = cancel
	l.mu.Unlock()
	d.life.Go(func(context.Context) { d.healthLoop(ctx, c, probe) })
}

// stopHealthMonitor ends probing when the container stops.
func (d *Daemon) stopHealthMonitor(c *ctr.Container) {
	l := d.liveState(c)
	l.mu.Lock()
	if l.healthCancel != nil {
		l.healthCancel()
		l.healthCancel = nil
	}
	l.mu.Unlock()
}

func (d *Daemon) healthLoop(ctx context.Context, c *ctr.Container, probe []string) {
	c.Lock()
	hc := *c.Config.Healthcheck
	started := c.State.StartedAt
	c.Unlock()
	interval := orDefault(hc.Interval, defaultProbeInterval)
	timeout := orDefault(hc.Timeout, defaultProbeTimeout)
	startInterval := orDefault(hc.StartInterval, defaultStartInterval)
	retries := hc.Retries
	if retries == 0 {
		retries = defaultProbeRetries
	}
	for {
		wait := interval
		inStartPeriod := hc.StartPeriod > 0 && time.Since(started) < hc.StartPeriod
		if inStartPeriod && hc.StartInterval > 0 {
			wait = startInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		res, runErr := d.runProbe(ctx, c, probe, timeout)
		if ctx.Err() != nil {
			return
		}
		// dockerd's health_checks_failed counts probes that could not be
		// run, not probes that ran and reported the container unhealthy.
		d.metrics.HealthCheck(runErr != nil)
		d.recordProbe(c, res, retries, hc.StartPeriod > 0 && time.Since(started) < hc.StartPeriod)
	}
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// runProbe runs the probe as an exec and returns its result; a probe that
// outlives its timeout is killed and counts as a failure. The error says
// the probe could not be run at all (the result then tells why).
func (d *Daemon) runProbe(ctx context.Context, c *ctr.Container, probe []string, timeout time.Duration) (*container.HealthcheckResult, error) {
	res := &container.HealthcheckResult{Start: time.Now()}
	c.Lock()
	if !c.State.Running || c.State.Paused {
		c.Unlock()
		res.End, res.ExitCode, res.Output = time.Now(), probeExitTimeoutExitCode, "container is not running"
		return res, errors.New(res.Output)
	}
	e := &execConfig{ID: stringid.GenerateRandomID(), ContainerID: c.ID, Config: container.ExecCreateRequest{Cmd: probe}}
	proc, lookup, err := d.execProcess(c, e, false, nil)
	client := d.shimFor(c)
	c.Unlock()
	if err == nil {
		err = lookup.apply(&proc)
	}
	if err != nil {
		res.End, res.ExitCode, res.Output = time.Now(), probeExitTimeoutExitCode, err.Error()
		return res, err
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := client.Exec(pctx, e.ID, proc)
	if err != nil {
		res.End, res.ExitCode, res.Output = time.Now(), probeExitTimeoutExitCode, err.Error()
		return res, err
	}
	done := make(chan struct{})
	var output probeOutput
	code := -1
	go func() {
		code = output.collect(stream)
		close(done)
	}()
	select {
	case <-done:
	case <-pctx.Done():
		stream.Close()
		<-done
		res.End, res.ExitCode = time.Now(), probeExitTimeoutExitCode
		// What the probe wrote before it was stopped helps tell why it
		// hung; dockerd reports it after the message.
		res.Output = "Health check exceeded timeout (" + timeout.String() + ")"
		if len(output.b) > 0 {
			res.Output += ": " + output.String()
		}
		return res, nil
	}
	res.End, res.ExitCode = time.Now(), code
	res.Output = output.String()
	return res, nil
}

// probeOutput keeps the first maxHealthOutput bytes of a probe's stdout
// and stderr, in the order they came, as dockerd does, and drops the
// rest as it arrives: the probe is the container's to write, and a
// `yes` in it must not fill the daemon's memory before its timeout.
type probeOutput struct {
	b         []byte
	truncated bool
}

// String is the kept output, with "..." when some was dropped, as
// dockerd's limitedBuffer shows it.
func (o *probeOutput) String() string {
	if o.truncated {
		return string(o.b) + "..."
	}
	return string(o.b)
}

// collect reads the probe's frames to the end and returns its exit code
// (-1 without one).
func (o *probeOutput) collect(stream *shim.Stream) int {
	code := -1
	for {
		st, p, err := stream.Next()
		if err != nil {
			return code
		}
		switch st {
		case shim.Stdout, shim.Stderr:
			o.write(p)
		case shim.ExitFrame:
			code, _ = strconv.Atoi(string(p))
		}
	}
}

func (o *probeOutput) write(p []byte) {
	room := max(maxHealthOutput-len(o.b), 0)
	o.b = append(o.b, p[:min(room, len(p))]...)
	if len(p) > room {
		o.truncated = true
	}
}

// recordProbe updates the health state with one result and logs a
// health_status event when the status changes.
func (d *Daemon) recordProbe(c *ctr.Container, res *container.HealthcheckResult, retries int, inStartPeriod bool) {
	c.Lock()
	defer c.Unlock()
	h := c.State.Health
	if h == nil || !c.State.Running {
		return
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > maxHealthLogEntries {
		h.Log = h.Log[len(h.Log)-maxHealthLogEntries:]
	}
	old := h.Status
	if res.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
	} else if !inStartPeriod {
		// Failures during the start period do not count, as in dockerd.
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = container.Unhealthy
		}
	}
	if err := c.SaveState(); err != nil {
		logrus.WithError(err).WithField("container", stringid.TruncateID(c.ID)).Warn("could not save health state")
	}
	if h.Status != old {
		d.logContainerEvent(c, events.Action(string(events.ActionHealthStatus)+": "+string(h.Status)), nil)
	}
}
