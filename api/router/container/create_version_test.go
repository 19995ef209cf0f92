package container

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/httputils"
)

func TestCreateForVersion(t *testing.T) {
	at := func(v string) context.Context { return httputils.WithVersion(context.Background(), v) }
	multi := func() *container.CreateRequest {
		return &container.CreateRequest{Config: &container.Config{}, NetworkingConfig: &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{"net2": {}, "net1": {}}}}
	}
	if err := createForVersion(at("1.43"), multi()); err == nil || err.Error() != "Container cannot be created with multiple network endpoints: net1, net2" {
		t.Errorf("1.43 multiple endpoints: %v", err)
	}
	if err := createForVersion(at("1.44"), multi()); err != nil {
		t.Errorf("1.44 multiple endpoints: %v", err)
	}
	old := &container.CreateRequest{Config: &container.Config{}, HostConfig: &container.HostConfig{Annotations: map[string]string{"a": "b"}, ConsoleSize: [2]uint{1, 2}}}
	if err := createForVersion(at("1.39"), old); err != nil {
		t.Fatal(err)
	}
	if old.HostConfig.IpcMode != container.IPCModeShareable || old.HostConfig.Annotations != nil || old.HostConfig.ConsoleSize != [2]uint{} {
		t.Errorf("1.39: %+v", old.HostConfig)
	}
	img := &container.CreateRequest{Config: &container.Config{}, HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeImage, Source: "x", Target: "/x"}}}}
	if err := createForVersion(at("1.47"), img); err == nil || err.Error() != `Mount type "Image" needs API v1.48 or newer` {
		t.Errorf("1.47 image mount: %v", err)
	}
	bad := &container.CreateRequest{Config: &container.Config{}, HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/x", Target: "/x", VolumeOptions: &mount.VolumeOptions{}}}}}
	if err := createForVersion(at("1.56"), bad); err == nil || err.Error() != `VolumeOptions must not be specified on mount type "bind"` {
		t.Errorf("1.56 VolumeOptions on bind: %v", err)
	}
	if err := createForVersion(at("1.41"), bad); err != nil || bad.HostConfig.Mounts[0].VolumeOptions != nil {
		t.Errorf("1.41 VolumeOptions on bind: %v", err)
	}
}

func TestStartCheckpointID(t *testing.T) {
	for id, ok := range map[string]bool{"cp1": true, "a.b-c_d": true, "../outside": false, "x.": false, "-x": false, "a": false} {
		if got := checkpointID.MatchString(id) && !strings.HasSuffix(id, "."); got != ok {
			t.Errorf("%q: %v", id, got)
		}
	}
}
