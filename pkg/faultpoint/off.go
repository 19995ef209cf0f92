//go:build !berth_faults

package faultpoint

// Hit marks the named point; without the berth_faults tag it does nothing.
func Hit(name string) {}

// Env is empty without the berth_faults tag.
func Env() []string { return nil }

// Enabled reports whether the binary was built with the hook.
const Enabled = false
