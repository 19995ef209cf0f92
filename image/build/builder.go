package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/stringid"
)

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
	stages, metaArgs, err := b.parse()
	if err != nil {
		return "", err
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
		fmt.Fprintf(b.out, " ---> %s\n", stringid.TruncateID(st.imageID))
		for _, cmd := range stage.Commands {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			printStep(cmdString(cmd))
			if err := b.dispatch(ctx, st, cmd); err != nil {
				return "", err
			}
			fmt.Fprintf(b.out, " ---> %s\n", stringid.TruncateID(st.imageID))
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
	fmt.Fprintf(b.out, "Successfully built %s\n", stringid.TruncateID(last.imageID))
	for _, t := range tags {
		if err := b.backend.TagImage(ctx, last.imageID, t.String()); err != nil {
			return last.imageID, err
		}
		fmt.Fprintf(b.out, "Successfully tagged %s\n", reference.FamiliarString(t))
	}
	return last.imageID, nil
}

// parse reads the Dockerfile into its stages (up to the --target one,
// with the --label options as the last stage's last instruction) and the
// ARGs before the first FROM.
func (b *Builder) parse() ([]instructions.Stage, []instructions.ArgCommand, error) {
	if len(b.ctx.Dockerfile) == 0 {
		return nil, nil, errdefs.InvalidParameterf("the Dockerfile (%s) cannot be empty", b.ctx.Name)
	}
	res, err := parser.Parse(bytes.NewReader(b.ctx.Dockerfile))
	if err != nil {
		return nil, nil, errdefs.InvalidParameterf("failed to parse dockerfile: %v", err)
	}
	if len(res.AST.Children) == 0 {
		return nil, nil, errdefs.InvalidParameterf("the Dockerfile (%s) cannot be empty", b.ctx.Name)
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
			return nil, nil, errdefs.InvalidParameterf("dockerfile parse error line %d: unknown instruction: %s", unknown.Line, strings.ToUpper(unknown.Instruction))
		}
		// dockerd 20.10 words it "dockerfile parse error line N: …".
		msg := err.Error()
		if m := parseErrorRE.FindStringSubmatch(msg); m != nil {
			msg = "line " + m[1] + ": " + m[2]
		}
		return nil, nil, errdefs.InvalidParameterf("dockerfile parse error %s", msg)
	}
	if len(stages) == 0 {
		return nil, nil, errdefs.InvalidParameterf("No image was generated. Is your Dockerfile empty?")
	}
	if b.opts.Target != "" {
		ix, found := instructions.HasStage(stages, b.opts.Target)
		if !found {
			return nil, nil, errdefs.InvalidParameterf("failed to reach build target %s in Dockerfile", b.opts.Target)
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
	return stages, metaArgs, nil
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
