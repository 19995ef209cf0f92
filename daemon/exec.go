package daemon

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/phases"
	"github.com/berthd/berth/pkg/shim"
	"github.com/berthd/berth/pkg/stringid"
)

// execConfig is one `docker exec`: created, then started once.
type execConfig struct {
	mu          sync.Mutex
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest
	DetachKeys  []byte
	// trace times the exec's phases in debug mode; nil otherwise.
	trace    *phases.Trace
	Running  bool
	Started  bool
	ExitCode *int
	Pid      int
}

// getExec finds an exec by ID, with dockerd's message.
func (d *Daemon) getExec(id string) (*execConfig, error) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	if e, ok := d.execs[id]; ok {
		return e, nil
	}
	return nil, errdefs.NotFoundf("No such exec instance: %s", id)
}

// forgetExecs drops the execs of a container that stopped or went away.
func (d *Daemon) forgetExecs(c *ctr.Container) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	for _, id := range c.ExecIDs {
		delete(d.execs, id)
		delete(d.execWaits, id)
	}
	c.ExecIDs = nil
}

// execRetention is how long a finished exec stays inspectable.
const execRetention = 5 * time.Minute

// forgetExec drops one finished exec.
func (d *Daemon) forgetExec(c *ctr.Container, id string) {
	d.execMu.Lock()
	delete(d.execs, id)
	delete(d.execWaits, id)
	d.execMu.Unlock()
	c.Lock()
	for i, x := range c.ExecIDs {
		if x == id {
			c.ExecIDs = append(c.ExecIDs[:i], c.ExecIDs[i+1:]...)
			break
		}
	}
	c.Unlock()
}

func execAction(base string, cmd []string) events.Action {
	return events.Action(base + ": " + strings.Join(cmd, " "))
}

// ContainerExecCreate answers POST /containers/{id}/exec.
func (d *Daemon) ContainerExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", errdefs.InvalidParameterf("No exec command specified")
	}
	keys := defaultDetachKeys
	if cfg.DetachKeys != "" {
		k, err := parseDetachKeys(cfg.DetachKeys)
		if err != nil {
			return "", errdefs.InvalidParameter(err)
		}
		keys = k
	}
	for _, e := range cfg.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return "", errdefs.InvalidParameterf("invalid environment variable: %s", e)
		}
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return "", err
	}
	c.Lock()
	defer c.Unlock()
	switch {
	case !c.State.Running:
		return "", errdefs.Conflictf("container %s is not running", c.ID)
	case c.State.Paused:
		return "", errdefs.Conflictf("container %s is paused, unpause the container before exec", c.ID)
	case c.State.Restarting:
		return "", errdefs.Conflictf("container %s is restarting, wait until the container is running", c.ID)
	}
	e := &execConfig{ID: stringid.GenerateRandomID(), ContainerID: c.ID, Config: cfg, DetachKeys: keys}
	d.execMu.Lock()
	if d.execs == nil {
		d.execs = map[string]*execConfig{}
	}
	d.execs[e.ID] = e
	d.execMu.Unlock()
	c.ExecIDs = append(c.ExecIDs, e.ID)
	d.logContainerEvent(c, execAction("exec_create", cfg.Cmd), map[string]string{"execID": e.ID})
	return e.ID, nil
}

// execProcess builds the process of an exec from the container's settings
// and the exec's own (env, workdir, privileges, terminal). The caller holds
// c's lock, and resolves the user with the returned lookup after letting
// it go: the container may have made its /etc/passwd anything.
func (d *Daemon) execProcess(c *ctr.Container, e *execConfig, tty bool, size *[2]uint) (specs.Process, userLookup, error) {
	cfg := c.Config
	p := specs.Process{Args: e.Config.Cmd, Terminal: tty}
	p.Cwd = e.Config.WorkingDir
	if p.Cwd == "" {
		p.Cwd = cfg.WorkingDir
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	env := []string{}
	hasPath := false
	for _, v := range append(append([]string{}, cfg.Env...), e.Config.Env...) {
		if strings.HasPrefix(v, "PATH=") {
			hasPath = true
		}
	}
	if !hasPath {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	env = append(env, "HOSTNAME="+cfg.Hostname)
	if tty {
		env = append(env, "TERM=xterm")
	}
	p.Env = mergeEnv(append(env, cfg.Env...), e.Config.Env)
	user := e.Config.User
	if user == "" {
		user = cfg.User
	}
	lookup := lookupUser(fsDir(c, "merged"), user, c.HostConfig.GroupAdd)
	capList := allowedCaps()
	var err error
	if !e.Config.Privileged && !c.HostConfig.Privileged {
		if capList, err = effectiveCaps(c.HostConfig); err != nil {
			return p, lookup, err
		}
	}
	p.Capabilities = &specs.LinuxCapabilities{Bounding: capList, Effective: capList, Permitted: capList}
	// The container's profile, even for exec --privileged, as dockerd.
	p.ApparmorProfile = execAppArmorProfile(c)
	p.NoNewPrivileges = d.Config().NoNewPrivileges
	if so, err := parseSecurityOpts(c.HostConfig.SecurityOpt); err == nil && so.noNewPrivileges != nil {
		p.NoNewPrivileges = *so.noNewPrivileges
	}
	if size != nil && tty {
		p.ConsoleSize = &specs.Box{Height: size[0], Width: size[1]}
	}
	return p, lookup, nil
}

// mergeEnv applies overrides by key.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, o := range over {
		k, _, _ := strings.Cut(o, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i] = o
				replaced = true
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// ContainerExecStart answers POST /exec/{id}/start. Without detach, begin
// hijacks the connection; with it, output is discarded.
func (d *Daemon) ContainerExecStart(ctx context.Context, id string, req container.ExecStartRequest, begin func(multiplexed bool) (io.ReadWriteCloser, error)) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	began := time.Now()
	e.mu.Lock()
	if e.Started {
		e.mu.Unlock()
		return errdefs.Conflictf("Error: Exec command %s has already run", id)
	}
	e.Started = true
	// In debug mode, the log says where each exec's time went (from
	// this call to the exit recorded, in runExec).
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		e.trace = phases.New()
		e.trace.Since("lookup", began)
	}
	e.mu.Unlock()
	c, err := d.containers.Get(e.ContainerID)
	if err != nil {
		return err
	}
	// As in dockerd, the exec's own Tty gives the process a terminal and
	// the start request's Tty alone decides the framing: a TTY exec
	// attached with Tty false (moby's Go client does that) is multiplexed.
	tty, raw := e.Config.Tty, req.Tty
	size := e.Config.ConsoleSize
	if req.ConsoleSize != nil {
		size = req.ConsoleSize
	}
	c.Lock()
	if !c.State.Running || c.State.Paused {
		c.Unlock()
		return errdefs.Conflictf("container %s is not running", c.ID)
	}
	proc, lookup, err := d.execProcess(c, e, tty, size)
	client := d.shimFor(c)
	c.Unlock()
	if err != nil {
		return err
	}
	e.trace.Mark("process")
	// A user the container's passwd does not name is, under dockerd, the
	// runtime's failure to start the process: it is reported the same way.
	userErr := lookup.apply(&proc)
	if userErr != nil && req.Detach {
		return userErr
	}

	// Hijack first, as dockerd does: a process that cannot start is then
	// reported on the stream and in the exit code (126/127), which is how
	// the CLI tells the user.
	var conn io.ReadWriteCloser
	if !req.Detach {
		if conn, err = begin(!raw); err != nil {
			return err
		}
		e.trace.Mark("hijack")
	}
	var stream *shim.Stream
	if err = userErr; err == nil {
		stream, err = client.Exec(ctx, e.ID, proc)
	}
	if err != nil {
		code := commandExitCode(err)
		if code == 0 {
			code = 126 // dockerd's for any exec that did not start
		}
		e.mu.Lock()
		e.ExitCode = &code
		e.mu.Unlock()
		close(d.execDone(e))
		msg := "OCI runtime exec failed: exec failed: unable to start container process: " + err.Error() + ": unknown\r\n"
		if conn == nil {
			return startError(err)
		}
		out := &attachWriter{w: conn, tty: raw, stdout: true, stderr: true}
		out.frame(shim.Stderr, []byte(msg))
		conn.Close()
		return nil
	}
	e.trace.Mark("shim-exec")
	e.mu.Lock()
	e.Running, e.Pid = true, stream.Pid
	e.mu.Unlock()
	d.logContainerEvent(c, execAction("exec_start", e.Config.Cmd), map[string]string{"execID": e.ID})

	d.life.Go(func(ctx context.Context) { d.runExec(ctx, c, e, stream, conn, raw) })
	if conn == nil {
		return nil
	}
	// Keep the handler (and its connection) alive until the exec ends.
	<-d.execDone(e)
	return nil
}

// execDone returns a channel closed when e has exited.
func (d *Daemon) execDone(e *execConfig) chan struct{} {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	if d.execWaits == nil {
		d.execWaits = map[string]chan struct{}{}
	}
	ch, ok := d.execWaits[e.ID]
	if !ok {
		ch = make(chan struct{})
		d.execWaits[e.ID] = ch
	}
	return ch
}

// runExec pumps the exec's streams and records its exit code before the
// client's connection closes, so its follow-up inspect sees it. A daemon
// shutting down (ctx ends) lets go of the stream; the exec runs on with
// its container.
func (d *Daemon) runExec(ctx context.Context, c *ctr.Container, e *execConfig, stream *shim.Stream, conn io.ReadWriteCloser, raw bool) {
	done := d.execDone(e)
	defer stream.Close()
	defer context.AfterFunc(ctx, func() { stream.Close() })()
	var out *attachWriter
	if conn != nil {
		out = &attachWriter{w: conn, tty: raw, stdout: e.Config.AttachStdout, stderr: e.Config.AttachStderr}
		if e.Config.AttachStdin {
			go func() {
				err := copyStdin(stream, conn, e.DetachKeys)
				if errors.Is(err, errDetached) {
					d.logContainerEvent(c, execAction("exec_detach", e.Config.Cmd), map[string]string{"execID": e.ID})
					conn.Close()
					return
				}
				stream.CloseStdin()
			}()
		}
	}
	code := -1
	for {
		st, p, err := stream.Next()
		if err != nil {
			break
		}
		switch st {
		case shim.ExitFrame:
			e.trace.Mark("to-exit")
			code, _ = strconv.Atoi(string(p))
		case shim.Stdout, shim.Stderr:
			if out != nil {
				out.frame(st, p)
			}
		}
	}
	if code < 0 {
		code = 137 // the stream broke: the process was killed with its container
	}
	e.mu.Lock()
	e.Running, e.ExitCode = false, &code
	e.mu.Unlock()
	d.logContainerEvent(c, events.ActionExecDie, map[string]string{"execID": e.ID, "exitCode": strconv.Itoa(code)})
	if conn != nil {
		conn.Close()
	}
	close(done)
	if e.trace != nil {
		e.trace.Mark("recorded")
		logrus.WithFields(logrus.Fields{"container": stringid.TruncateID(c.ID), "exec": stringid.TruncateID(e.ID)}).Debugf("exec phases: %s", e.trace)
	}
	// Keep the finished exec inspectable for a while (the CLI reads its exit
	// code right after), then forget it, so a container that is exec'd
	// into all day does not grow without bound.
	time.AfterFunc(execRetention, func() { d.forgetExec(c, e.ID) })
	logrus.WithFields(logrus.Fields{"container": stringid.TruncateID(c.ID), "exec": stringid.TruncateID(e.ID), "exitCode": code}).Debug("exec exited")
}

// ContainerExecInspect answers GET /exec/{id}/json.
func (d *Daemon) ContainerExecInspect(id string) (*container.ExecInspectResponse, error) {
	e, err := d.getExec(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	entry, args := "", []string{}
	if len(e.Config.Cmd) > 0 {
		entry, args = e.Config.Cmd[0], e.Config.Cmd[1:]
	}
	priv := e.Config.Privileged
	return &container.ExecInspectResponse{
		ID:       e.ID,
		Running:  e.Running,
		ExitCode: e.ExitCode,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: e.Config.Tty, Entrypoint: entry, Arguments: args, Privileged: &priv, User: e.Config.User,
		},
		OpenStdin:   e.Config.AttachStdin,
		OpenStdout:  e.Config.AttachStdout,
		OpenStderr:  e.Config.AttachStderr,
		CanRemove:   !e.Running && e.Started,
		ContainerID: e.ContainerID,
		DetachKeys:  e.DetachKeys,
		Pid:         e.Pid,
	}, nil
}

// ContainerExecResize answers POST /exec/{id}/resize.
func (d *Daemon) ContainerExecResize(ctx context.Context, id string, height, width int) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	c, err := d.containers.Get(e.ContainerID)
	if err != nil {
		return err
	}
	c.Lock()
	running, paused, restarting := c.State.Running, c.State.Paused, c.State.Restarting
	c.Unlock()
	switch {
	case !running:
		return errdefs.Conflictf("container %s is not running", c.ID)
	case paused:
		return errdefs.Conflictf("Container %s is paused, unpause the container before exec", c.ID)
	case restarting:
		return errdefs.Conflictf("Container %s is restarting, wait until the container is running", c.ID)
	}
	if err := d.shimFor(c).Resize(ctx, e.ID, uint16(width), uint16(height)); err != nil {
		return errdefs.System(err)
	}
	return nil
}
