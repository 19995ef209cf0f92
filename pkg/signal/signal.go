package signal

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sigrtmin and sigrtmax are the real-time signal range glibc exposes to
// programs (the kernel's 32 and 33 are taken by the C library).
const (
	sigrtmin = 34
	sigrtmax = 64
)

// Parse returns the signal named by s, with dockerd's "Invalid signal"
// message for anything else.
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > sigrtmax {
			return 0, fmt.Errorf("Invalid signal: %s", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		base, off := sigrtmin, 0
		rest := name[5:]
		if strings.HasPrefix(name, "RTMAX") {
			base = sigrtmax
		}
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return 0, fmt.Errorf("Invalid signal: %s", s)
			}
			off = n
		}
		sig := base + off
		if sig < sigrtmin || sig > sigrtmax {
			return 0, fmt.Errorf("Invalid signal: %s", s)
		}
		return unix.Signal(sig), nil
	}
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("Invalid signal: %s", s)
}

// Name is the signal's name without the SIG prefix ("KILL").
func Name(sig unix.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}
