package signal

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DroppedByInit says whether the kernel would discard sig sent to pid
// because pid is the init of its PID namespace and has neither a handler
// for sig nor an ignore disposition: the kernel shields a namespace's init
// from every signal it left at the default action (SIGKILL and SIGSTOP
// from an outer namespace excepted). It reads /proc/<pid>/status.
func DroppedByInit(pid int, sig unix.Signal) (bool, error) {
	if sig == unix.SIGKILL || sig == unix.SIGSTOP || sig < 1 || sig > 64 {
		return false, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	defer f.Close()
	var caught, ignored uint64
	nsInit := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "SigCgt":
			caught, _ = strconv.ParseUint(v, 16, 64)
		case "SigIgn":
			ignored, _ = strconv.ParseUint(v, 16, 64)
		case "NSpid":
			// The PIDs from the outermost namespace in: 1 last means the
			// process is its namespace's init.
			f := strings.Fields(v)
			nsInit = len(f) > 1 && f[len(f)-1] == "1"
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	bit := uint64(1) << (uint(sig) - 1)
	return nsInit && caught&bit == 0 && ignored&bit == 0, nil
}
