package image

import (
	"context"
	"encoding/json"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
)

// legacyConfigFields are the Config fields older API versions return even
// when the image does not set them (version-history.md: v1.52 omits the
// unset OCI fields; v1.50 dropped the container-only ones, which older
// versions show always empty). Present values are never replaced.
var (
	configFieldsBefore152 = map[string]any{
		"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil, "OnBuild": nil,
		"User": "", "Volumes": nil, "WorkingDir": "",
	}
	configFieldsBefore150 = map[string]any{
		"Hostname": "", "Domainname": "", "AttachStdin": false, "AttachStdout": false,
		"AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Image": "",
	}
)

// inspectForVersion shapes an inspect response the way dockerd serves the
// client's API version. The current shape is returned as is.
func inspectForVersion(ctx context.Context, resp *backend.ImageInspectResponse) (any, error) {
	if !httputils.VersionLessThan(ctx, "1.52") {
		return resp.InspectResponse, nil
	}
	b, err := json.Marshal(resp.InspectResponse)
	if err != nil {
		return nil, err
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	// The top-level fields v1.52 omits when empty (Parent and
	// DockerVersion are gone from the current types altogether).
	top["Parent"] = resp.Parent
	top["DockerVersion"] = resp.DockerVersion
	for _, k := range []string{"Comment", "Author"} {
		if _, ok := top[k]; !ok {
			top[k] = ""
		}
	}
	cfg, _ := top["Config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	fill := func(m map[string]any, defaults map[string]any) {
		for k, v := range defaults {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
	fill(cfg, configFieldsBefore152)
	if httputils.VersionLessThan(ctx, "1.50") {
		fill(cfg, configFieldsBefore150)
	}
	top["Config"] = cfg
	if httputils.VersionLessThan(ctx, "1.45") {
		// Container and ContainerConfig (removed in v1.45) described the
		// legacy builder's last container; berth's images have none, and
		// dockerd shows an empty container config for such images.
		empty := map[string]any{}
		fill(empty, configFieldsBefore152)
		fill(empty, configFieldsBefore150)
		top["Container"] = ""
		top["ContainerConfig"] = empty
	}
	if httputils.VersionLessThan(ctx, "1.44") {
		top["VirtualSize"] = top["Size"]
	}
	return top, nil
}
