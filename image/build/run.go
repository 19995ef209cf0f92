package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

// run is RUN: the command runs in a container of the current image and
// the container's changes become the step's layer.
func (b *Builder) run(ctx context.Context, st *state, c *instructions.RunCommand) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to run")
	}
	network := ""
	for _, f := range c.FlagsUsed {
		if f == "network" {
			network = instructions.GetNetwork(c)
			continue
		}
		return errdefs.InvalidParameterf("the --%s option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled", f)
	}
	cmdLine := st.resolveCmdLine(c.ShellDependantCmdLine)
	buildEnv := st.args.filterAllowed(st.cfg.Env)
	saveCmd := cmdLine
	if len(buildEnv) > 0 {
		saveCmd = st.args.prependEnvOnCmd(buildEnv, cmdLine)
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = saveCmd
	if len(saveCmd) > 0 {
		probeCfg.Entrypoint = nil
	}
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	runCfg := &container.Config{
		Image:        st.imageID,
		Cmd:          cmdLine,
		Entrypoint:   []string{},
		Env:          append(append([]string{}, st.cfg.Env...), buildEnv...),
		User:         st.cfg.User,
		WorkingDir:   st.cfg.WorkingDir,
		Labels:       st.cfg.Labels,
		Shell:        st.cfg.Shell,
		StopSignal:   st.cfg.StopSignal,
		AttachStdout: true,
		AttachStderr: true,
		Healthcheck:  &container.HealthConfig{Test: []string{"NONE"}},
	}
	if st.imageID == "" {
		return errdefs.InvalidParameterf("RUN in a stage FROM scratch needs files to run: no image was built yet")
	}
	hc := b.opts.HostConfig
	hc.AutoRemove = false
	switch network {
	case "none", "host":
		hc.NetworkMode = container.NetworkMode(network)
	case "default":
		hc.NetworkMode = ""
	}
	id, err := b.backend.CreateContainer(ctx, runCfg, &hc)
	if err != nil {
		return err
	}
	b.containers = append(b.containers, id)
	fmt.Fprintf(b.out, " ---> Running in %s\n", stringid.TruncateID(id))
	code, err := b.backend.RunContainer(ctx, id, b.out, b.out)
	if err != nil {
		return err
	}
	if code != 0 {
		return &StepError{
			Message: fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(cmdLine, " "), code),
			Code:    code,
		}
	}
	return b.save(ctx, st, key, CommitOptions{ContainerID: id, CreatedBy: strings.Join(saveCmd, " ")})
}

// removeContainers removes the step containers made so far. It runs after
// each step, as dockerd's does: after every step with --force-rm, after a
// step that succeeded with --rm (the default). So without --rm every step
// container stays, and with it a failed step's container stays for the
// user to look into; only --force-rm leaves none.
func (b *Builder) removeContainers() {
	for _, id := range b.containers {
		if err := b.backend.RemoveContainer(context.Background(), id); err != nil {
			fmt.Fprintf(b.out, "Failed to remove intermediate container %s: %v\n", stringid.TruncateID(id), err)
			continue
		}
		fmt.Fprintf(b.out, "Removing intermediate container %s\n", stringid.TruncateID(id))
	}
	b.containers = nil
}
