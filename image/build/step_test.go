package build

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
)

// stepBackend is a Backend without a daemon for the instruction tests. An
// image it committed is kept, so a later stage, the cache and the test
// find it with its config; an image in images is a base with that config;
// any other name is fuzzBackend's plain base. RUN containers exit 0 at
// once. It records what it was asked for.
type stepBackend struct {
	fuzzBackend
	images  map[string]*Image
	gets    []string
	runs    []*container.Config
	commits []CommitOptions
}

func newStepBackend() *stepBackend { return &stepBackend{images: map[string]*Image{}} }

func (s *stepBackend) GetImage(ctx context.Context, ref string) (*Image, error) {
	s.gets = append(s.gets, ref)
	if img, ok := s.images[ref]; ok {
		return img, nil
	}
	return s.fuzzBackend.GetImage(ctx, ref)
}

func (s *stepBackend) PullImage(ctx context.Context, ref, _ string, _ func(m jsonstream.Message) error) (*Image, error) {
	return s.GetImage(ctx, ref)
}

func (s *stepBackend) CreateContainer(ctx context.Context, cfg *container.Config, hc *container.HostConfig) (string, error) {
	s.runs = append(s.runs, cfg)
	return s.fuzzBackend.CreateContainer(ctx, cfg, hc)
}

func (s *stepBackend) Commit(ctx context.Context, o CommitOptions) (string, error) {
	id, err := s.fuzzBackend.Commit(ctx, o)
	if err != nil {
		return "", err
	}
	s.commits = append(s.commits, o)
	s.images[id] = &Image{ID: id, Config: cloneConfig(o.Config), Parent: o.Parent, Platform: o.Platform}
	return id, nil
}

// lastCommit is the newest step image's commit.
func (s *stepBackend) lastCommit(t *testing.T) CommitOptions {
	t.Helper()
	if len(s.commits) == 0 {
		t.Fatal("no step was committed")
	}
	return s.commits[len(s.commits)-1]
}

func newStepBuilder(t *testing.T, bk Backend, opts Options, dockerfile string) (*Builder, *fuzzOutput) {
	out := &fuzzOutput{}
	cache := &Cache{path: filepath.Join(t.TempDir(), "cache.json"), m: map[string]string{}}
	bctx := &Context{Dir: t.TempDir(), Dockerfile: []byte(dockerfile), Name: "Dockerfile"}
	b := New(bk, cache, bctx, opts, out)
	b.args = newBuildArgs(opts.BuildArgs)
	b.escape = '\\'
	return b, out
}

// buildImage runs a whole build of dockerfile and returns the image it
// made and the progress text.
func buildImage(t *testing.T, bk *stepBackend, opts Options, dockerfile string) (*Image, string, error) {
	t.Helper()
	b, out := newStepBuilder(t, bk, opts, dockerfile)
	id, err := b.Build(context.Background())
	if err != nil {
		return nil, out.String(), err
	}
	img, ok := bk.images[id]
	if !ok {
		t.Fatalf("the build's image %s was never committed", id)
	}
	return img, out.String(), nil
}

// stepState is a stage begun FROM a plain base image (fuzzBackend's).
func stepState(t *testing.T, b *Builder) *state {
	t.Helper()
	img, err := b.backend.GetImage(context.Background(), "base")
	if err != nil {
		t.Fatal(err)
	}
	return &state{hasFrom: true, imageID: img.ID, cfg: cloneConfig(img.Config), platform: img.Platform,
		args: b.args.forStage(), shlex: shell.NewLex(b.escape)}
}

// parseInstruction parses one Dockerfile line.
func parseInstruction(t *testing.T, line string) instructions.Command {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(line + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.AST.Children) != 1 {
		t.Fatalf("%q is %d instructions", line, len(res.AST.Children))
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return cmd
}

// step dispatches the instructions on st, as a stage's steps, and returns
// the history text of the last image committed.
func step(t *testing.T, b *Builder, st *state, lines ...string) (string, error) {
	t.Helper()
	bk := b.backend.(*stepBackend)
	for _, l := range lines {
		if err := b.dispatch(context.Background(), st, parseInstruction(t, l)); err != nil {
			return "", err
		}
	}
	return bk.lastCommit(t).CreatedBy, nil
}

// mustStep is step for instructions that must succeed.
func mustStep(t *testing.T, b *Builder, st *state, lines ...string) string {
	t.Helper()
	createdBy, err := step(t, b, st, lines...)
	if err != nil {
		t.Fatalf("%q: %v", lines, err)
	}
	return createdBy
}

func strp(s string) *string { return &s }
