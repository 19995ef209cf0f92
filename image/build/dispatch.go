package build

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/signal"
)

// dispatch runs one instruction.
func (b *Builder) dispatch(ctx context.Context, st *state, cmd instructions.Command) (err error) {
	env := append(append([]string{}, st.cfg.Env...), st.args.filterAllowed(st.cfg.Env)...)
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := cmd.(*instructions.RunCommand); !isRun {
			getter := newEnvGetter(env)
			if err := ex.Expand(func(w string) (string, error) {
				s, _, err := st.shlex.ProcessWord(w, getter)
				return s, err
			}); err != nil {
				return errdefs.InvalidParameter(err)
			}
		}
	}
	defer func() {
		if b.opts.ForceRemove || (b.opts.Remove && err == nil) {
			b.removeContainers()
		}
	}()
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
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
		return b.commit(ctx, st, msg.String())
	case *instructions.MaintainerCommand:
		st.maintainer = c.Maintainer
		return b.commit(ctx, st, "MAINTAINER "+c.Maintainer)
	case *instructions.LabelCommand:
		if st.cfg.Labels == nil {
			st.cfg.Labels = map[string]string{}
		}
		msg := "LABEL"
		for _, kv := range c.Labels {
			st.cfg.Labels[kv.Key] = kv.Value
			msg += " " + kv.Key + "=" + kv.Value
		}
		return b.commit(ctx, st, msg)
	case *instructions.AddCommand:
		return b.copy(ctx, st, copyRequest{name: "ADD", sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true})
	case *instructions.CopyCommand:
		return b.copy(ctx, st, copyRequest{name: "COPY", sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, from: c.From})
	case *instructions.OnbuildCommand:
		st.cfg.OnBuild = append(st.cfg.OnBuild, c.Expression)
		return b.commit(ctx, st, "ONBUILD "+c.Expression)
	case *instructions.WorkdirCommand:
		wd := c.Path
		if !path.IsAbs(wd) {
			wd = path.Join("/", st.cfg.WorkingDir, wd)
		}
		st.cfg.WorkingDir = path.Clean(wd)
		return b.commitFiles(ctx, st, "WORKDIR "+st.cfg.WorkingDir, func(root string) error {
			return mkdirInRoot(root, st.cfg.WorkingDir)
		})
	case *instructions.RunCommand:
		return b.run(ctx, st, c)
	case *instructions.CmdCommand:
		cmdLine := st.resolveCmdLine(c.ShellDependantCmdLine)
		st.cfg.Cmd = cmdLine
		st.cfg.ArgsEscaped = false
		if err := b.commit(ctx, st, fmt.Sprintf("CMD %q", cmdLine)); err != nil {
			return err
		}
		if len(c.CmdLine) != 0 {
			st.cmdSet = true
		}
		return nil
	case *instructions.HealthCheckCommand:
		if st.cfg.Healthcheck != nil && len(st.cfg.Healthcheck.Test) > 0 && st.cfg.Healthcheck.Test[0] != "NONE" {
			fmt.Fprintf(b.out, "Note: overriding previous HEALTHCHECK: %v\n", st.cfg.Healthcheck.Test)
		}
		h := *c.Health
		st.cfg.Healthcheck = &h
		return b.commit(ctx, st, "HEALTHCHECK "+healthString(&h))
	case *instructions.EntrypointCommand:
		st.cfg.Entrypoint = st.resolveCmdLine(c.ShellDependantCmdLine)
		st.cfg.ArgsEscaped = false
		if !st.cmdSet {
			st.cfg.Cmd = nil
		}
		return b.commit(ctx, st, fmt.Sprintf("ENTRYPOINT %q", st.cfg.Entrypoint))
	case *instructions.ExposeCommand:
		var ports []string
		getter := newEnvGetter(env)
		for _, p := range c.Ports {
			ws, err := st.shlex.ProcessWords(p, getter)
			if err != nil {
				return errdefs.InvalidParameter(err)
			}
			ports = append(ports, ws...)
		}
		set, err := parsePorts(ports)
		if err != nil {
			return err
		}
		if st.cfg.ExposedPorts == nil {
			st.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range set {
			st.cfg.ExposedPorts[p] = struct{}{}
		}
		return b.commit(ctx, st, "EXPOSE "+strings.Join(ports, " "))
	case *instructions.UserCommand:
		st.cfg.User = c.User
		return b.commit(ctx, st, "USER "+c.User)
	case *instructions.VolumeCommand:
		if st.cfg.Volumes == nil {
			st.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v = strings.TrimSpace(v); v == "" {
				return errdefs.InvalidParameterf("VOLUME specified can not be an empty string")
			}
			st.cfg.Volumes[v] = struct{}{}
		}
		return b.commit(ctx, st, fmt.Sprintf("VOLUME %v", c.Volumes))
	case *instructions.StopSignalCommand:
		if _, err := signal.Parse(c.Signal); err != nil {
			return errdefs.InvalidParameter(err)
		}
		st.cfg.StopSignal = c.Signal
		return b.commit(ctx, st, "STOPSIGNAL "+c.Signal)
	case *instructions.ArgCommand:
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
		return b.commit(ctx, st, msg.String())
	case *instructions.ShellCommand:
		st.cfg.Shell = cloneSlice(c.Shell)
		return b.commit(ctx, st, fmt.Sprintf("SHELL %v", c.Shell))
	}
	return errdefs.InvalidParameterf("unsupported command %s", cmd.Name())
}

// healthString is HEALTHCHECK's history text as dockerd 20.10 writes it:
// its HealthConfig (Test, Interval, Timeout, StartPeriod, Retries; no
// StartInterval) printed with %q, field by field.
func healthString(h *dockerspec.HealthcheckConfig) string {
	return fmt.Sprintf("&{%q %s %s %s %s}", h.Test, strconv.Quote(h.Interval.String()), strconv.Quote(h.Timeout.String()),
		strconv.Quote(h.StartPeriod.String()), strconv.QuoteRune(rune(h.Retries)))
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
