package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// dockerOut runs the docker CLI against the engine on sock, with its
// configuration in cfgDir and env added to its environment, and returns
// its output, trimmed; a failure carries the CLI's stderr.
func dockerOut(sock, cfgDir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("docker", append([]string{"-H", "unix://" + sock}, args...)...)
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+cfgDir, "DOCKER_CLI_HINTS=false"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// dockerOn is dockerOut bound to one engine and configuration.
func dockerOn(sock, cfgDir string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) { return dockerOut(sock, cfgDir, nil, args...) }
}

// writeTestImage writes the acceptance suite's busybox image as ref into
// the docker-archive path, with its mkimage.py.
func writeTestImage(path, ref string) error {
	mk := filepath.Join("..", "shared", "acceptance", "mkimage.py")
	if out, err := exec.Command("python3", mk, path, ref).CombinedOutput(); err != nil {
		return fmt.Errorf("mkimage.py: %v: %s", err, out)
	}
	return nil
}

// loaded is an engine started on fresh private roots with the busybox
// test image loaded, for a figure that needs containers.
type loaded struct {
	r    *running
	root string // removed by close
	cli  string // DOCKER_CONFIG for the engine's CLI calls
}

// startLoaded starts e on roots under a new temporary directory named
// after prefix and loads the test image as ref.
func startLoaded(e engine, prefix, ref string) (*loaded, error) {
	root, err := os.MkdirTemp("", prefix+e.name+"-")
	if err != nil {
		return nil, err
	}
	r, _, err := start(e, root)
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	l := &loaded{r: r, root: root, cli: filepath.Join(root, "cli")}
	tar := filepath.Join(root, "image.tar")
	err = writeTestImage(tar, ref)
	if err == nil {
		_, err = dockerOut(r.sock, l.cli, nil, "load", "-i", tar)
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *loaded) close() {
	l.r.stop()
	os.RemoveAll(l.root)
}

// perEngine measures each engine in turn. A failure of berthd's ends the
// figure; another engine's is reported and that engine left out.
func perEngine[T any](engines []engine, what string, measure func(engine) (T, error)) (map[string]T, error) {
	res := map[string]T{}
	for _, e := range engines {
		f, err := measure(e)
		if err != nil {
			if e.name == "berthd" {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "%s %s figures: %v\n", e.name, what, err)
			continue
		}
		res[e.name] = f
	}
	return res, nil
}
