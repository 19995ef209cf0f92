package local

import (
	"bufio"
	"os"
	"strings"
)

// mountPoints returns the set of mount points in this mount namespace. The
// driver reads it once at start (to find volumes a killed daemon left
// mounted) and before a removal (so that it never deletes through a mount
// into a host directory).
func mountPoints() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out[unescapeMountPath(fields[4])] = true
		}
	}
	return out, sc.Err()
}

// unescapeMountPath undoes the octal escapes the kernel writes for space,
// tab, newline and backslash.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			oct := s[i+1 : i+4]
			if oct[0] >= '0' && oct[0] <= '3' && isOct(oct[1]) && isOct(oct[2]) {
				b.WriteByte((oct[0]-'0')<<6 | (oct[1]-'0')<<3 | (oct[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

// mountedUnder lists the mount points at or below dir, deepest first.
func mountedUnder(points map[string]bool, dir string) []string {
	var out []string
	for p := range points {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	// Deepest first so that unmounting in order never hits EBUSY from a
	// child mount.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
