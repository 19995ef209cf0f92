package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/berthd/berth/pkg/errdefs"
)

// dispatch runs one instruction: its words are expanded with the stage's
// environment and build args (RUN's are left to its shell), it runs, and
// the step containers are removed as --rm and --force-rm say.
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
	case *instructions.AddCommand:
		return b.copy(ctx, st, copyRequest{name: "ADD", sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true})
	case *instructions.CopyCommand:
		return b.copy(ctx, st, copyRequest{name: "COPY", sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, from: c.From})
	case *instructions.WorkdirCommand:
		setWorkdir(st, c)
		return b.commitFiles(ctx, st, "WORKDIR "+st.cfg.WorkingDir, func(root string) error {
			return mkdirInRoot(root, st.cfg.WorkingDir)
		})
	case *instructions.RunCommand:
		return b.run(ctx, st, c)
	}
	comment, err := b.configure(st, cmd, env)
	if err != nil {
		return err
	}
	return b.commit(ctx, st, comment)
}

// configure applies an instruction that changes only the image config
// (instructions.go) and returns the text of its history entry. env is
// what the instruction's words were expanded with.
func (b *Builder) configure(st *state, cmd instructions.Command, env []string) (string, error) {
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		return setEnv(st, c), nil
	case *instructions.ArgCommand:
		return declareArgs(st, c), nil
	case *instructions.LabelCommand:
		return addLabels(st, c), nil
	case *instructions.MaintainerCommand:
		return setMaintainer(st, c), nil
	case *instructions.UserCommand:
		return setUser(st, c), nil
	case *instructions.ExposeCommand:
		return expose(st, c, env)
	case *instructions.VolumeCommand:
		return addVolumes(st, c)
	case *instructions.CmdCommand:
		return setCmd(st, c), nil
	case *instructions.EntrypointCommand:
		return setEntrypoint(st, c), nil
	case *instructions.HealthCheckCommand:
		return setHealthcheck(st, c, b.out), nil
	case *instructions.ShellCommand:
		return setShell(st, c), nil
	case *instructions.StopSignalCommand:
		return setStopSignal(st, c)
	case *instructions.OnbuildCommand:
		return addOnbuild(st, c), nil
	}
	return "", errdefs.InvalidParameterf("unsupported command %s", cmd.Name())
}

// runTriggers runs the ONBUILD instructions of a stage's base image, as
// its first steps, and drops them from the stage's config (a trigger
// fires once, in the image built directly on the one that declared it).
func (b *Builder) runTriggers(ctx context.Context, st *state) error {
	triggers := st.cfg.OnBuild
	if len(triggers) == 0 {
		return nil
	}
	st.cfg.OnBuild = nil
	s := ""
	if len(triggers) > 1 {
		s = "s"
	}
	fmt.Fprintf(b.out, "# Executing %d build trigger%s\n", len(triggers), s)
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		if len(res.AST.Children) != 1 {
			return errdefs.InvalidParameterf("onbuild trigger should be a single expression")
		}
		cmd, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		if err := b.dispatch(ctx, st, cmd); err != nil {
			return err
		}
	}
	return nil
}
