package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/signal"
)

// defaultPath is the PATH every Linux stage gets when its base has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var defaultShell = []string{"/bin/sh", "-c"}

var parseErrorRE = regexp.MustCompile(`(?s)^dockerfile parse error on line (\d+): (.*)$`)

// Options are POST /build's parameters that the builder uses.
type Options struct {
	Tags        []string
	BuildArgs   map[string]*string
	Labels      map[string]string
	NoCache     bool
	CacheFrom   []string
	Target      string
	Remove      bool
	ForceRemove bool
	Pull        bool
	Squash      bool
	Platform    string
	// HostConfig is the RUN containers' resources, network mode, extra
	// hosts, shm size and ulimits.
	HostConfig container.HostConfig
}

// Output receives the build's progress: text for the "stream" messages,
// and whole messages (pull progress, the aux image ID).
type Output interface {
	io.Writer
	Message(m jsonstream.Message) error
}

// Builder runs one build.
type Builder struct {
	backend Backend
	cache   *Cache
	out     Output
	opts    Options
	ctx     *Context

	args   *buildArgs
	stages []*stageResult
	// containers are the step containers not yet removed.
	containers []string
	// cacheFrom are the --cache-from images the daemon has.
	cacheFrom []*Image
	escape    rune
}

type stageResult struct {
	name    string
	imageID string
}

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

// StepError is a failed RUN: the message the CLI prints and its exit
// code, which `docker build` exits with.
type StepError struct {
	Message string
	Code    int
}

func (e *StepError) Error() string { return e.Message }

// New returns a builder for one build.
func New(b Backend, cache *Cache, bctx *Context, opts Options, out Output) *Builder {
	return &Builder{backend: b, cache: cache, out: out, opts: opts, ctx: bctx}
}

// Build runs the Dockerfile and returns the final image's ID. The
// intermediate containers are removed as Remove and ForceRemove say.
func (b *Builder) Build(ctx context.Context) (string, error) {
	if b.opts.Squash {
		return "", errdefs.InvalidParameterf("squash is only supported with experimental mode")
	}
	tags, err := parseTags(b.opts.Tags)
	if err != nil {
		return "", err
	}
	if len(b.ctx.Dockerfile) == 0 {
		return "", errdefs.InvalidParameterf("the Dockerfile (%s) cannot be empty", b.ctx.Name)
	}
	res, err := parser.Parse(bytes.NewReader(b.ctx.Dockerfile))
	if err != nil {
		return "", errdefs.InvalidParameterf("failed to parse dockerfile: %v", err)
	}
	if len(res.AST.Children) == 0 {
		return "", errdefs.InvalidParameterf("the Dockerfile (%s) cannot be empty", b.ctx.Name)
	}
	b.escape = res.EscapeToken
	var warn bytes.Buffer
	res.PrintWarnings(&warn)
	if warn.Len() > 0 {
		b.out.Write(warn.Bytes())
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		var unknown *instructions.UnknownInstructionError
		if errors.As(err, &unknown) {
			return "", errdefs.InvalidParameterf("dockerfile parse error line %d: unknown instruction: %s", unknown.Line, strings.ToUpper(unknown.Instruction))
		}
		// dockerd 20.10 words it "dockerfile parse error line N: …".
		msg := err.Error()
		if m := parseErrorRE.FindStringSubmatch(msg); m != nil {
			msg = "line " + m[1] + ": " + m[2]
		}
		return "", errdefs.InvalidParameterf("dockerfile parse error %s", msg)
	}
	if len(stages) == 0 {
		return "", errdefs.InvalidParameterf("No image was generated. Is your Dockerfile empty?")
	}
	if b.opts.Target != "" {
		ix, found := instructions.HasStage(stages, b.opts.Target)
		if !found {
			return "", errdefs.InvalidParameterf("failed to reach build target %s in Dockerfile", b.opts.Target)
		}
		stages = stages[:ix+1]
	}
	if len(b.opts.Labels) > 0 {
		keys := make([]string, 0, len(b.opts.Labels))
		for k := range b.opts.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			stages[len(stages)-1].AddCommand(instructions.NewLabelCommand(k, b.opts.Labels[k], true))
		}
	}
	for _, cf := range b.opts.CacheFrom {
		// Only images the daemon has can feed the cache; dockerd skips
		// the others too (and, as here, still limits the local cache to
		// the sources' ancestors, so a missing source means no cache).
		if img, err := b.backend.GetImage(ctx, cf); err == nil {
			b.cacheFrom = append(b.cacheFrom, img)
		}
	}
	total := len(metaArgs)
	for _, s := range stages {
		total += 1 + len(s.Commands)
	}
	step := 1
	printStep := func(code string) {
		fmt.Fprintf(b.out, "Step %d/%d : %s\n", step, total, code)
		step++
	}
	b.args = newBuildArgs(b.opts.BuildArgs)
	shlex := shell.NewLex(b.escape)
	for i := range metaArgs {
		arg := metaArgs[i]
		printStep(arg.String())
		env := mapToEnv(b.args.metaValues())
		if err := arg.Expand(func(w string) (string, error) {
			s, _, err := shlex.ProcessWord(w, newEnvGetter(env))
			return s, err
		}); err != nil {
			return "", errdefs.InvalidParameter(err)
		}
		for _, a := range arg.Args {
			b.args.referenced[a.Key] = true
			b.args.addMeta(a.Key, a.Value)
		}
	}
	var last *state
	for i := range stages {
		stage := &stages[i]
		st := &state{args: b.args.forStage(), name: stage.Name, shlex: shell.NewLex(b.escape)}
		printStep(stage.SourceCode)
		if err := b.from(ctx, st, stage); err != nil {
			return "", err
		}
		fmt.Fprintf(b.out, " ---> %s\n", shortID(st.imageID))
		for _, cmd := range stage.Commands {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			printStep(cmdString(cmd))
			if err := b.dispatch(ctx, st, cmd); err != nil {
				return "", err
			}
			fmt.Fprintf(b.out, " ---> %s\n", shortID(st.imageID))
		}
		if st.imageID != "" {
			b.out.Message(jsonstream.Message{Aux: auxID(st.imageID)})
		}
		b.stages = append(b.stages, &stageResult{name: stage.Name, imageID: st.imageID})
		last = st
	}
	if unused := b.args.unused(); len(unused) > 0 {
		fmt.Fprintf(b.out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	if last == nil || last.imageID == "" {
		return "", errdefs.InvalidParameterf("No image was generated. Is your Dockerfile empty?")
	}
	fmt.Fprintf(b.out, "Successfully built %s\n", shortID(last.imageID))
	for _, t := range tags {
		if err := b.backend.TagImage(ctx, last.imageID, t.String()); err != nil {
			return last.imageID, err
		}
		fmt.Fprintf(b.out, "Successfully tagged %s\n", reference.FamiliarString(t))
	}
	return last.imageID, nil
}

func auxID(id string) *json.RawMessage {
	raw := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	return &raw
}

func parseTags(tags []string) ([]reference.Named, error) {
	var out []reference.Named
	for _, t := range tags {
		if t == "" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, errdefs.InvalidParameterf("invalid reference format")
		}
		if _, ok := ref.(reference.Canonical); ok {
			return nil, errdefs.InvalidParameterf("build tag cannot contain a digest")
		}
		out = append(out, reference.TagNameOnly(ref))
	}
	return out, nil
}

func cmdString(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return c.Name()
}

// shortID is the 12-digit form the CLI shows.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
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
	if triggers := st.cfg.OnBuild; len(triggers) > 0 {
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
	}
	return nil
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

// probe looks the step up in the cache. On a hit the step's image is
// the cached one and " ---> Using cache" is printed.
//
// Without --cache-from the cache is the local step index. With it, as in
// dockerd's classic builder, a local hit counts only when it is an
// ancestor of one of the sources, and otherwise a source whose history
// continues the current image's with this step's command is the hit (see
// probeSources).
func (b *Builder) probe(ctx context.Context, st *state, probeCfg *dockerspec.DockerOCIImageConfig) (string, bool) {
	// The key is computed even when the lookup is skipped, so that the
	// step's image is remembered for the next build.
	key := cacheKey(st.imageID, probeCfg)
	if b.opts.NoCache || st.busted {
		return key, false
	}
	hit := ""
	if id := b.cache.get(key); id != "" {
		if _, err := b.backend.GetImage(ctx, id); err != nil {
			b.cache.forget(key)
		} else if len(b.opts.CacheFrom) == 0 || b.sourceAncestor(ctx, id) {
			hit = id
		}
	}
	if hit == "" && len(b.opts.CacheFrom) > 0 {
		hit = b.probeSources(ctx, st, probeCfg)
	}
	if hit == "" {
		st.busted = true
		return key, false
	}
	fmt.Fprint(b.out, " ---> Using cache\n")
	st.imageID = hit
	return key, true
}

// sourceAncestor reports whether id is a strict ancestor (by the images'
// parent links) of a --cache-from image.
func (b *Builder) sourceAncestor(ctx context.Context, id string) bool {
	for _, src := range b.cacheFrom {
		seen := map[string]bool{}
		for p := src.Parent; p != "" && !seen[p]; {
			if p == id {
				return true
			}
			seen[p] = true
			img, err := b.backend.GetImage(ctx, p)
			if err != nil {
				break
			}
			p = img.Parent
		}
	}
	return false
}

// probeSources is dockerd's match of a step against the --cache-from
// images (daemon/images/cache.go): a source matches when the current
// image's history and layers are a prefix of its own and its next
// history entry was made by the same command. The source itself is the
// hit when that entry is its last; else the image for that entry is
// restored from the source's layers, and later steps look at that source
// only.
func (b *Builder) probeSources(ctx context.Context, st *state, probeCfg *dockerspec.DockerOCIImageConfig) string {
	var parent *Image
	if st.imageID != "" {
		p, err := b.backend.GetImage(ctx, st.imageID)
		if err != nil {
			return ""
		}
		parent = p
	}
	n := 0
	if parent != nil {
		n = len(parent.History)
	}
	createdBy := strings.Join(probeCfg.Cmd, " ")
	for _, src := range b.cacheFrom {
		if !continues(src, parent) || src.History[n].CreatedBy != createdBy {
			continue
		}
		if n == len(src.History)-1 {
			return src.ID
		}
		id, err := b.backend.RestoreCached(ctx, st.imageID, src.ID, cloneConfig(st.cfg))
		if err != nil {
			fmt.Fprintf(b.out, "[Warning] cannot use %s as cache: %v\n", shortID(src.ID), err)
			return ""
		}
		b.cacheFrom = []*Image{src}
		return id
	}
	return ""
}

// continues is dockerd's isValidParent: img's history and layers begin
// with parent's, and img has more history.
func continues(img, parent *Image) bool {
	if len(img.History) == 0 {
		return false
	}
	if parent == nil || len(parent.History) == 0 && len(parent.DiffIDs) == 0 {
		return true
	}
	if len(parent.History) >= len(img.History) || len(parent.DiffIDs) > len(img.DiffIDs) {
		return false
	}
	for i, h := range parent.History {
		if !reflect.DeepEqual(h, img.History[i]) {
			return false
		}
	}
	for i, d := range parent.DiffIDs {
		if d != img.DiffIDs[i] {
			return false
		}
	}
	return true
}

func (b *Builder) remember(key, id string) {
	if key != "" {
		b.cache.put(key, id)
	}
}

// commit records a config-only step, as dockerd's commit with a
// "#(nop) " command.
func (b *Builder) commit(ctx context.Context, st *state, comment string) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = append(st.shell(), "#(nop) ", comment)
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	id, err := b.backend.Commit(ctx, CommitOptions{
		Parent: st.imageID, Config: cloneConfig(st.cfg), CreatedBy: strings.Join(probeCfg.Cmd, " "),
		Author: st.maintainer, Platform: st.platform,
	})
	if err != nil {
		return err
	}
	st.imageID = id
	b.remember(key, id)
	return nil
}

// commitFiles records a step that writes files (WORKDIR, COPY, ADD).
func (b *Builder) commitFiles(ctx context.Context, st *state, comment string, fill func(root string) error) error {
	if !st.hasFrom {
		return errdefs.InvalidParameterf("Please provide a source image with `from` prior to commit")
	}
	probeCfg := cloneConfig(st.cfg)
	probeCfg.Cmd = append(st.shell(), "#(nop) "+comment)
	key, hit := b.probe(ctx, st, &probeCfg)
	if hit {
		return nil
	}
	id, err := b.backend.Commit(ctx, CommitOptions{
		Fill: fill, Parent: st.imageID, Config: cloneConfig(st.cfg), CreatedBy: strings.Join(probeCfg.Cmd, " "),
		Author: st.maintainer, Platform: st.platform,
	})
	if err != nil {
		return err
	}
	st.imageID = id
	b.remember(key, id)
	return nil
}

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
	fmt.Fprintf(b.out, " ---> Running in %s\n", shortID(id))
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
	newID, err := b.backend.Commit(ctx, CommitOptions{
		ContainerID: id, Parent: st.imageID, Config: cloneConfig(st.cfg), CreatedBy: strings.Join(saveCmd, " "),
		Author: st.maintainer, Platform: st.platform,
	})
	if err != nil {
		return err
	}
	st.imageID = newID
	b.remember(key, newID)
	return nil
}

// removeContainers removes the step containers made so far. It runs after
// each step, as dockerd's does: after every step with --force-rm, after a
// step that succeeded with --rm (the default). So without --rm every step
// container stays, and with it a failed step's container stays for the
// user to look into; only --force-rm leaves none.
func (b *Builder) removeContainers() {
	for _, id := range b.containers {
		if err := b.backend.RemoveContainer(context.Background(), id); err != nil {
			fmt.Fprintf(b.out, "Failed to remove intermediate container %s: %v\n", shortID(id), err)
			continue
		}
		fmt.Fprintf(b.out, "Removing intermediate container %s\n", shortID(id))
	}
	b.containers = nil
}
