package build

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/signal"
)

// The instructions that change only the stage's config: each applies its
// command (whose words dispatch has expanded) to st and returns the text
// that its "#(nop) " history entry, and so its cache key, carries. The
// texts are dockerd 20.10's, byte for byte.

// setEnv is ENV: a key already set is replaced in place, a new one added
// at the end, so the order of Env is the order of first definition.
func setEnv(st *state, c *instructions.EnvCommand) string {
	var msg strings.Builder
	msg.WriteString("ENV")
	for _, kv := range c.Env {
		nv := kv.Key + "=" + kv.Value
		msg.WriteString(" " + nv)
		found := false
		for i, e := range st.cfg.Env {
			if k, _, _ := strings.Cut(e, "="); k == kv.Key {
				st.cfg.Env[i] = nv
				found = true
				break
			}
		}
		if !found {
			st.cfg.Env = append(st.cfg.Env, nv)
		}
	}
	return msg.String()
}

// declareArgs is ARG: the names become usable in this stage (with their
// defaults, which a --build-arg overrides).
func declareArgs(st *state, c *instructions.ArgCommand) string {
	var msg strings.Builder
	msg.WriteString("ARG ")
	for i, a := range c.Args {
		if i > 0 {
			msg.WriteString(" ")
		}
		msg.WriteString(a.Key)
		if a.Value != nil {
			msg.WriteString("=" + *a.Value)
		}
		st.args.addArg(a.Key, a.Value)
	}
	return msg.String()
}

func addLabels(st *state, c *instructions.LabelCommand) string {
	if st.cfg.Labels == nil {
		st.cfg.Labels = map[string]string{}
	}
	msg := "LABEL"
	for _, kv := range c.Labels {
		st.cfg.Labels[kv.Key] = kv.Value
		msg += " " + kv.Key + "=" + kv.Value
	}
	return msg
}

// setMaintainer is MAINTAINER: the author of this and later steps' images.
func setMaintainer(st *state, c *instructions.MaintainerCommand) string {
	st.maintainer = c.Maintainer
	return "MAINTAINER " + c.Maintainer
}

func setUser(st *state, c *instructions.UserCommand) string {
	st.cfg.User = c.User
	return "USER " + c.User
}

// setWorkdir is WORKDIR's config side: a relative path is taken from the
// current working directory. dispatch makes the directory in the layer.
func setWorkdir(st *state, c *instructions.WorkdirCommand) {
	wd := c.Path
	if !path.IsAbs(wd) {
		wd = path.Join("/", st.cfg.WorkingDir, wd)
	}
	st.cfg.WorkingDir = path.Clean(wd)
}

// expose is EXPOSE. Its ports are expanded here, word by word, because
// one variable may hold several ports.
func expose(st *state, c *instructions.ExposeCommand, env []string) (string, error) {
	var ports []string
	getter := newEnvGetter(env)
	for _, p := range c.Ports {
		ws, err := st.shlex.ProcessWords(p, getter)
		if err != nil {
			return "", errdefs.InvalidParameter(err)
		}
		ports = append(ports, ws...)
	}
	set, err := parsePorts(ports)
	if err != nil {
		return "", err
	}
	if st.cfg.ExposedPorts == nil {
		st.cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range set {
		st.cfg.ExposedPorts[p] = struct{}{}
	}
	return "EXPOSE " + strings.Join(ports, " "), nil
}

// parsePorts turns EXPOSE arguments into port/proto keys (ranges
// expanded), as nat.ParsePortSpecs does for the container side.
func parsePorts(specs []string) ([]string, error) {
	var out []string
	for _, s := range specs {
		spec := s
		proto := "tcp"
		if i := strings.LastIndexByte(spec, '/'); i >= 0 {
			proto = strings.ToLower(spec[i+1:])
			spec = spec[:i]
		}
		if i := strings.LastIndexByte(spec, ':'); i >= 0 {
			spec = spec[i+1:]
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, errdefs.InvalidParameterf("invalid proto: %s", proto)
		}
		lo, hi, isRange := strings.Cut(spec, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid containerPort: %s", spec)
		}
		end := start
		if isRange {
			if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
				return nil, errdefs.InvalidParameterf("invalid containerPort: %s", spec)
			}
		}
		for p := start; p <= end; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	return out, nil
}

func addVolumes(st *state, c *instructions.VolumeCommand) (string, error) {
	if st.cfg.Volumes == nil {
		st.cfg.Volumes = map[string]struct{}{}
	}
	for _, v := range c.Volumes {
		if v = strings.TrimSpace(v); v == "" {
			return "", errdefs.InvalidParameterf("VOLUME specified can not be an empty string")
		}
		st.cfg.Volumes[v] = struct{}{}
	}
	return fmt.Sprintf("VOLUME %v", c.Volumes), nil
}

// setCmd is CMD. A non-empty CMD in this stage survives a later
// ENTRYPOINT, which otherwise clears the base image's CMD.
func setCmd(st *state, c *instructions.CmdCommand) string {
	cmdLine := st.resolveCmdLine(c.ShellDependantCmdLine)
	st.cfg.Cmd = cmdLine
	st.cfg.ArgsEscaped = false
	if len(c.CmdLine) != 0 {
		st.cmdSet = true
	}
	return fmt.Sprintf("CMD %q", cmdLine)
}

func setEntrypoint(st *state, c *instructions.EntrypointCommand) string {
	st.cfg.Entrypoint = st.resolveCmdLine(c.ShellDependantCmdLine)
	st.cfg.ArgsEscaped = false
	if !st.cmdSet {
		st.cfg.Cmd = nil
	}
	return fmt.Sprintf("ENTRYPOINT %q", st.cfg.Entrypoint)
}

// setHealthcheck is HEALTHCHECK; replacing an earlier check gets the note
// dockerd prints on out.
func setHealthcheck(st *state, c *instructions.HealthCheckCommand, out io.Writer) string {
	if st.cfg.Healthcheck != nil && len(st.cfg.Healthcheck.Test) > 0 && st.cfg.Healthcheck.Test[0] != "NONE" {
		fmt.Fprintf(out, "Note: overriding previous HEALTHCHECK: %v\n", st.cfg.Healthcheck.Test)
	}
	h := *c.Health
	st.cfg.Healthcheck = &h
	return "HEALTHCHECK " + healthString(&h)
}

// healthString is HEALTHCHECK's history text as dockerd 20.10 writes it:
// its HealthConfig (Test, Interval, Timeout, StartPeriod, Retries; no
// StartInterval) printed with %q, field by field.
func healthString(h *dockerspec.HealthcheckConfig) string {
	return fmt.Sprintf("&{%q %s %s %s %s}", h.Test, strconv.Quote(h.Interval.String()), strconv.Quote(h.Timeout.String()),
		strconv.Quote(h.StartPeriod.String()), strconv.QuoteRune(rune(h.Retries)))
}

// setShell is SHELL: the shell of later shell-form RUN, CMD and
// ENTRYPOINT lines, and of the steps' history entries.
func setShell(st *state, c *instructions.ShellCommand) string {
	st.cfg.Shell = cloneSlice(c.Shell)
	return fmt.Sprintf("SHELL %v", c.Shell)
}

func setStopSignal(st *state, c *instructions.StopSignalCommand) (string, error) {
	if _, err := signal.Parse(c.Signal); err != nil {
		return "", errdefs.InvalidParameter(err)
	}
	st.cfg.StopSignal = c.Signal
	return "STOPSIGNAL " + c.Signal, nil
}

// addOnbuild is ONBUILD: the trigger is kept, unexpanded, for the builds
// that use this image as a base (runTriggers).
func addOnbuild(st *state, c *instructions.OnbuildCommand) string {
	st.cfg.OnBuild = append(st.cfg.OnBuild, c.Expression)
	return "ONBUILD " + c.Expression
}
