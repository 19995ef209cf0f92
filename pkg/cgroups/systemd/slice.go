package systemd

import (
	"fmt"
	"strings"
)

const sliceSuffix = ".slice"

// ScopeName is the unit a container runs in: dockerd's and cri-dockerd's
// "docker-<id>.scope".
func ScopeName(id string) string { return "docker-" + id + ".scope" }

// ExpandSlice is the cgroup path, below systemd's root, of a slice unit:
// systemd nests a slice in the slices its dash-separated name begins
// with, so "a-b.slice" is /a.slice/a-b.slice and "-.slice" the root.
func ExpandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, sliceSuffix)
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name: %s", slice)
	}
	if name == "-" {
		return "/", nil
	}
	var path strings.Builder
	prefix := ""
	for _, part := range strings.Split(name, "-") {
		// "a--b.slice" and "-a.slice" name no slice.
		if part == "" {
			return "", fmt.Errorf("invalid slice name: %s", slice)
		}
		path.WriteString("/" + prefix + part + sliceSuffix)
		prefix += part + "-"
	}
	return path.String(), nil
}
