package config

import (
	"fmt"
	"os"
	"os/exec"
)

// validateContainerDefaults checks the container defaults with dockerd's
// messages.
func (c *Config) validateContainerDefaults() error {
	switch c.DefaultIpcMode {
	case "", "private", "shareable":
	case "host", "none", "container":
		return fmt.Errorf(`IPC mode "%v" is not supported as default value; use "shareable" or "private"`, c.DefaultIpcMode)
	default:
		return fmt.Errorf(`default IPC mode setting (%v) is invalid; use "shareable" or "private"`, c.DefaultIpcMode)
	}
	switch c.DefaultCgroupnsMode {
	case "", "host", "private":
	default:
		return fmt.Errorf(`invalid default cgroup namespace (%v): use "host" or "private"`, c.DefaultCgroupnsMode)
	}
	if _, err := c.SeccompProfileBody(); err != nil {
		return err
	}
	if _, err := c.InitBinary(); err != nil {
		return err
	}
	if c.DefaultStopTimeout != nil && *c.DefaultStopTimeout < -1 {
		return fmt.Errorf("invalid default-stop-timeout: %d", *c.DefaultStopTimeout)
	}
	return nil
}

// InitBinary is the init binary the configuration names (init-path, or
// default-init looked up in PATH), "" when it names none. dockerd finds a
// missing one only when a container asks for --init; berth says so at
// start, where the operator is.
func (c *Config) InitBinary() (string, error) {
	switch {
	case c.InitPath != "":
		if st, err := os.Stat(c.InitPath); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("init-path %s: not an executable file", c.InitPath)
		}
		return c.InitPath, nil
	case c.DefaultInit != "":
		p, err := exec.LookPath(c.DefaultInit)
		if err != nil {
			return "", fmt.Errorf("default-init %s: %w", c.DefaultInit, err)
		}
		return p, nil
	}
	return "", nil
}

// SeccompProfileBody is the daemon's default seccomp profile: "" for
// berth's built-in one ("builtin" too), "unconfined" for none, or else
// the JSON read from the file seccomp-profile names.
func (c *Config) SeccompProfileBody() (string, error) {
	switch c.SeccompProfile {
	case "", "builtin":
		return "", nil
	case "unconfined":
		return "unconfined", nil
	}
	b, err := os.ReadFile(c.SeccompProfile)
	if err != nil {
		return "", fmt.Errorf("opening seccomp profile (%s) failed: %w", c.SeccompProfile, err)
	}
	return string(b), nil
}
