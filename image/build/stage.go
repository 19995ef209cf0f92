package build

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

// defaultPath is the PATH every Linux stage gets when its base has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var defaultShell = []string{"/bin/sh", "-c"}

// state is one stage's dispatch state.
type state struct {
	cfg        dockerspec.DockerOCIImageConfig
	imageID    string
	hasFrom    bool
	platform   ocispec.Platform
	maintainer string
	args       *buildArgs
	cmdSet     bool
	// busted: after the first cache miss in a stage no later step can hit.
	busted bool
	name   string
	shlex  *shell.Lex
}

// from begins a stage: its base is an earlier stage, scratch, a local
// image or one pulled (always pulled with --pull).
func (b *Builder) from(ctx context.Context, st *state, stage *instructions.Stage) error {
	meta := newEnvGetter(mapToEnv(b.args.metaValues()))
	name, _, err := st.shlex.ProcessWord(stage.BaseName, meta)
	if err != nil {
		return errdefs.InvalidParameter(err)
	}
	platform := b.opts.Platform
	if stage.Platform != "" {
		if platform, _, err = st.shlex.ProcessWord(stage.Platform, meta); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}
	plat, err := parsePlatform(platform)
	if err != nil {
		return err
	}
	var img *Image
	if sr := b.stageByName(name); sr != nil {
		img, err = b.backend.GetImage(ctx, sr.imageID)
		if err != nil {
			return err
		}
	} else if name == "scratch" {
		img = &Image{Platform: plat}
	} else {
		img, err = b.getOrPull(ctx, name, platform, b.opts.Pull)
		if err != nil {
			return err
		}
	}
	st.hasFrom = true
	st.imageID = img.ID
	st.platform = img.Platform
	if st.platform.OS == "" {
		st.platform = plat
	}
	st.cfg = cloneConfig(img.Config)
	// dockerd adds the default PATH to every Linux stage whose base has
	// none, so even FROM scratch images carry it.
	hasPath := false
	for _, e := range st.cfg.Env {
		if strings.HasPrefix(e, "PATH=") {
			hasPath = true
		}
	}
	if !hasPath {
		st.cfg.Env = append(st.cfg.Env, "PATH="+defaultPath)
	}
	return b.runTriggers(ctx, st)
}

func parsePlatform(p string) (ocispec.Platform, error) {
	plat := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if p == "" {
		return plat, nil
	}
	parts := strings.Split(strings.ToLower(p), "/")
	if parts[0] != "linux" {
		return plat, errdefs.InvalidParameterf("%q: unsupported operating system: only linux images can be built here", p)
	}
	if len(parts) > 1 {
		a := parts[1]
		switch a {
		case "x86_64", "x86-64":
			a = "amd64"
		case "aarch64":
			a = "arm64"
		}
		plat.Architecture = a
	}
	if len(parts) > 2 {
		plat.Variant = parts[2]
	}
	return plat, nil
}

func (b *Builder) getOrPull(ctx context.Context, name, platform string, pull bool) (*Image, error) {
	if !pull {
		img, err := b.backend.GetImage(ctx, name)
		if err == nil {
			return img, nil
		}
		if !errdefs.Is(err, errdefs.NotFound) {
			return nil, err
		}
	}
	return b.backend.PullImage(ctx, name, platform, b.out.Message)
}

func (b *Builder) stageByName(name string) *stageResult {
	for _, s := range b.stages {
		if s.name != "" && s.name == strings.ToLower(name) {
			return s
		}
	}
	return nil
}

// stageRef resolves COPY --from: a stage by name or index, else an image.
func (b *Builder) stageRef(ctx context.Context, ref string) (string, error) {
	if s := b.stageByName(ref); s != nil {
		return s.imageID, nil
	}
	if ix, err := strconv.Atoi(ref); err == nil {
		if ix == len(b.stages) {
			return "", fmt.Errorf("invalid from flag value %s: refers to current build stage", ref)
		}
		if ix < 0 || ix > len(b.stages) {
			return "", fmt.Errorf("invalid from flag value %s: index out of bounds", ref)
		}
		return b.stages[ix].imageID, nil
	}
	img, err := b.getOrPull(ctx, ref, "", false)
	if err != nil {
		return "", fmt.Errorf("invalid from flag value %s: %w", ref, err)
	}
	return img.ID, nil
}

func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	out := c
	out.Env = append([]string(nil), c.Env...)
	out.Cmd = cloneSlice(c.Cmd)
	out.Entrypoint = cloneSlice(c.Entrypoint)
	out.Shell = cloneSlice(c.Shell)
	out.OnBuild = cloneSlice(c.OnBuild)
	if c.Labels != nil {
		out.Labels = map[string]string{}
		for k, v := range c.Labels {
			out.Labels[k] = v
		}
	}
	if c.Volumes != nil {
		out.Volumes = map[string]struct{}{}
		for k := range c.Volumes {
			out.Volumes[k] = struct{}{}
		}
	}
	if c.ExposedPorts != nil {
		out.ExposedPorts = map[string]struct{}{}
		for k := range c.ExposedPorts {
			out.ExposedPorts[k] = struct{}{}
		}
	}
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = cloneSlice(h.Test)
		out.Healthcheck = &h
	}
	return out
}

func cloneSlice(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}

func (st *state) shell() []string {
	if len(st.cfg.Shell) > 0 {
		return cloneSlice(st.cfg.Shell)
	}
	return cloneSlice(defaultShell)
}

// resolveCmdLine is the exec form of a shell-dependent command line.
func (st *state) resolveCmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		line := strings.Join(c.CmdLine, " ")
		if len(c.Files) == 1 && strings.TrimLeft(line, "<-") == c.Files[0].Name {
			// RUN <<EOF … EOF: the heredoc is the script.
			line = c.Files[0].Data
		}
		return append(st.shell(), line)
	}
	return cloneSlice(c.CmdLine)
}
