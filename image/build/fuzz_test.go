package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/fuzztest"
)

// fuzzBackend has every image, runs every RUN with success at once and
// commits by hashing the config; it never writes a file (a step's Fill is
// not called), so a target run exercises the parser and the dispatch of
// each instruction only.
type fuzzBackend struct{ n int }

func fuzzID(s string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(s))) }

func (*fuzzBackend) GetImage(_ context.Context, ref string) (*Image, error) {
	if strings.HasPrefix(ref, "sha256:") && len(ref) != 71 {
		return nil, errors.New("not found")
	}
	return &Image{ID: fuzzID(ref), Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
		Env: []string{"PATH=/bin", "HOME=/root"}, Cmd: []string{"sh"}, WorkingDir: "/"}},
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}, nil
}

func (b *fuzzBackend) PullImage(ctx context.Context, ref, _ string, _ func(jsonstream.Message) error) (*Image, error) {
	return b.GetImage(ctx, ref)
}

func (b *fuzzBackend) CreateContainer(_ context.Context, cfg *container.Config, hc *container.HostConfig) (string, error) {
	if _, err := json.Marshal(cfg); err != nil {
		return "", err
	}
	b.n++
	return fmt.Sprint("c", b.n), nil
}

func (*fuzzBackend) RunContainer(context.Context, string, io.Writer, io.Writer) (int, error) {
	return 0, nil
}
func (*fuzzBackend) RemoveContainer(context.Context, string) error { return nil }

func (*fuzzBackend) Commit(_ context.Context, o CommitOptions) (string, error) {
	b, err := json.Marshal(o.Config)
	if err != nil {
		return "", err
	}
	return fuzzID(o.Parent + string(b) + o.CreatedBy), nil
}

func (*fuzzBackend) WithImageRoot(context.Context, string, func(string) error) error {
	return errors.New("no image roots here")
}

func (*fuzzBackend) RestoreCached(context.Context, string, string, dockerspec.DockerOCIImageConfig) (string, error) {
	return "", errors.New("no cache here")
}

func (*fuzzBackend) TagImage(context.Context, string, string) error { return nil }

type fuzzOutput struct{ bytes.Buffer }

func (*fuzzOutput) Message(jsonstream.Message) error { return nil }

// maxFuzzDockerfile bounds an input: the property is that parsing and
// dispatch take time in proportion to the Dockerfile, and a bigger input
// only makes each iteration slower.
const maxFuzzDockerfile = 64 << 10

// FuzzDockerfile runs whole builds of fuzzed Dockerfiles, with a build-arg
// and a target, against a backend that does nothing: no panic, and no
// hang (each build must end within seconds).
func FuzzDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM busybox\nRUN echo hi\nCMD [\"sh\"]\n",
		"# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox AS base\nARG A=1\nENV B=${A:-x} C=\"$A\"\nLABEL a=b \"c d\"=e\nWORKDIR /w/${B}\nUSER 1000:1000\nEXPOSE 80/tcp 53/udp 8000-8010\nVOLUME [\"/data\", \"/x\"]\nSTOPSIGNAL SIGKILL\nHEALTHCHECK --interval=1s --timeout=2s --retries=3 --start-period=1s CMD true\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD RUN x\nRUN `\n  echo a\nENTRYPOINT [\"sh\"]\nFROM base\nCOPY --from=base /a /b\n",
		"ARG V=3\nFROM busybox:${V} AS a\nFROM a\nRUN --mount=type=cache,target=/c --network=none true\nMAINTAINER me\nADD --chown=1:1 --chmod=755 a b\nCOPY <<EOF /x\nhello\nEOF\n",
		"FROM scratch\nCOPY . /\n", "FROM --platform=linux/arm64 busybox\n", "FROM --platform=$BUILDPLATFORM busybox\n",
		"FROM busybox\nENV A=${A:?unset}\n", "FROM busybox\nENV A=${A:+x}${B#y}${C%z}${D/a/b}\n", "FROM busybox\nENV ${X}=1\n",
		"FROM busybox\nRUN [\"a\", \nRUN [\n", "FROM busybox\nEXPOSE 99999 -1 a-b 1-0\n", "FROM busybox\nHEALTHCHECK --interval=-1s CMD x\nHEALTHCHECK NONE\n",
		"FROM busybox\nONBUILD ONBUILD RUN x\nONBUILD FROM x\n", "FROM busybox\nUSER\nWORKDIR\nENV\nLABEL\n", "FROM a AS b\nFROM b AS a\nCOPY --from=a x y\n",
		"FROM busybox\nCMD \\\n\\\n\\\n", "\ufeffFROM busybox\n", "from busybox\nrun true\nBOGUS x\n", "", "\n\n# c\n", "FROM\n",
		"FROM busybox\nARG\nARG =x\nARG a==\nARG " + strings.Repeat("$", 50) + "\n",
		"FROM busybox\nENV A=" + strings.Repeat("${A}", 20) + "\n",
		"FROM busybox\nRUN <<EOF\n" + strings.Repeat("x\n", 100) + "EOF\n",
		"FROM busybox\n" + strings.Repeat("RUN true\n", 200),
	} {
		f.Add([]byte(s), "A=2", "")
	}
	f.Add([]byte("FROM busybox AS one\nFROM busybox AS two\n"), "", "one")
	f.Add([]byte("FROM busybox\n"), "", "nope")
	ctxDir := f.TempDir()
	f.Fuzz(func(t *testing.T, dockerfile []byte, buildArg, target string) {
		if len(dockerfile) > maxFuzzDockerfile {
			return
		}
		defer fuzztest.Watchdog(10 * time.Second)()
		args := map[string]*string{}
		if k, v, ok := strings.Cut(buildArg, "="); ok {
			args[k] = &v
		} else if buildArg != "" {
			args[buildArg] = nil
		}
		// The cache's file cannot be written at this path: the steps'
		// keys stay in memory and the iterations do no I/O.
		cache := &Cache{path: "/dev/null/fuzz-cache.json", m: map[string]string{}}
		b := New(&fuzzBackend{}, cache, &Context{Dir: ctxDir, Dockerfile: dockerfile, Name: "Dockerfile"},
			Options{BuildArgs: args, Target: target, Labels: map[string]string{"fuzz": "1"}}, &fuzzOutput{})
		b.Build(context.Background())
	})
}
