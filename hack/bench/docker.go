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
