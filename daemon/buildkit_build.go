package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	controlapi "github.com/moby/buildkit/api/services/control"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"google.golang.org/protobuf/proto"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/image/buildkit"
	"github.com/berthd/berth/pkg/errdefs"
)

// Aux IDs of a BuildKit build's messages on the classic endpoint, which
// the docker CLI decodes: BuildKit's status, then the image.
const (
	auxBuildKitTrace = "moby.buildkit.trace"
	auxImageID       = "moby.image.id"
)

// BuildKitBuild answers POST /build?version=2: the build runs in the
// embedded BuildKit, its context read from the client's session, a remote
// URL or body, and its progress goes out as BuildKit's status messages,
// as with dockerd.
func (d *Daemon) BuildKitBuild(ctx context.Context, body io.Reader, req backend.BuildRequest, out backend.BuildOutput) (string, error) {
	if d.buildkit == nil {
		return "", errdefs.InvalidParameterf("BuildKit is disabled on this daemon (features.buildkit=false): build with the classic builder (version=1)")
	}
	// The body half of docker CLI 20.10's `docker build - < ctx.tar`:
	// the context of the build named by the rest of the ID.
	if id, ok := strings.CutPrefix(req.BuildID, "upload-request:"); ok {
		return "", d.buildkit.Upload(ctx, id, body)
	}
	opts, err := d.solveOptions(req)
	if err != nil {
		return "", err
	}
	opts.Context = body
	d.metrics.BuildTriggered()
	id, err := d.buildkit.Solve(ctx, opts, func(sr *controlapi.StatusResponse) error {
		dt, err := proto.Marshal(sr)
		if err != nil {
			return err
		}
		return emitAux(out, auxBuildKitTrace, dt)
	})
	if err != nil {
		return "", err
	}
	if id != "" {
		if err := emitAux(out, auxImageID, buildtypes.Result{ID: id}); err != nil {
			return "", err
		}
	}
	return id, nil
}

// BuildKitCancel answers POST /build/cancel: the BuildKit build the
// client named id stops.
func (d *Daemon) BuildKitCancel(ctx context.Context, id string) error {
	if d.buildkit != nil {
		d.buildkit.Cancel(id)
	}
	return nil
}

// solveOptions are the request in BuildKit's terms: extra hosts as
// name=ip with host-gateway resolved, ulimits as name=soft:hard.
func (d *Daemon) solveOptions(req backend.BuildRequest) (buildkit.SolveOptions, error) {
	hc := req.HostConfig
	o := buildkit.SolveOptions{
		BuildID: req.BuildID, SessionID: req.SessionID, Remote: req.Remote,
		Dockerfile: req.Dockerfile, Target: req.Target, Platform: req.Platform,
		Tags: req.Tags, BuildArgs: req.BuildArgs, Labels: req.Labels, CacheFrom: req.CacheFrom,
		NoCache: req.NoCache, Pull: req.Pull, NetworkMode: string(hc.NetworkMode), ShmSize: hc.ShmSize,
	}
	for _, h := range hc.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || name == "" || ip == "" {
			return o, errdefs.InvalidParameterf("invalid host %s", h)
		}
		if ip != "host-gateway" {
			o.ExtraHosts = append(o.ExtraHosts, name+"="+ip)
			continue
		}
		gws := d.hostGatewayIPs()
		if len(gws) == 0 {
			return o, errdefs.InvalidParameterf("unable to derive the IP value for host-gateway")
		}
		for _, gw := range gws {
			o.ExtraHosts = append(o.ExtraHosts, name+"="+gw.String())
		}
	}
	for _, u := range hc.Ulimits {
		o.Ulimits = append(o.Ulimits, u.String())
	}
	for _, out := range req.Outputs {
		o.Outputs = append(o.Outputs, buildkit.Output{Type: out.Type, Attrs: out.Attrs})
	}
	return o, nil
}

// emitAux sends one aux message: v JSON-encoded (a []byte as base64, as
// dockerd's aux formatter sends the status protobuf).
func emitAux(out backend.BuildOutput, id string, v any) error {
	dt, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("aux %s: %w", id, err)
	}
	raw := json.RawMessage(dt)
	return out.Message(jsonstream.Message{ID: id, Aux: &raw})
}
