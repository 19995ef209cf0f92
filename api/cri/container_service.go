package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// CreateContainer creates a pod container in a sandbox.
func (s *runtimeService) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg, pod := req.GetConfig(), req.GetSandboxConfig()
	switch {
	case req.GetPodSandboxId() == "":
		return nil, status.Error(codes.InvalidArgument, "pod sandbox ID is required")
	case cfg.GetMetadata().GetName() == "":
		return nil, status.Error(codes.InvalidArgument, "container metadata with a name is required")
	case cfg.GetImage().GetImage() == "":
		return nil, status.Error(codes.InvalidArgument, "container image is required")
	case pod.GetMetadata() == nil:
		return nil, status.Error(codes.InvalidArgument, "the sandbox config with its metadata is required")
	}
	sb, err := s.sandbox(ctx, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	p, err := createConfig(sb.ID, cfg, pod)
	if err != nil {
		return nil, grpcError(err)
	}
	// The pod's runtime handler chose the sandbox's runtime; its
	// containers run on the same.
	p.HostConfig.Runtime = sb.HostConfig.Runtime
	p.HostConfig.CgroupParent = s.cgroupParent(p.HostConfig.CgroupParent)
	resp, err := s.b.ContainerCreate(ctx, p)
	if errdefs.Is(err, errdefs.Conflict) {
		// The name is taken: the same container and attempt again.
		return nil, status.Errorf(codes.AlreadyExists, "failed to create container %q in sandbox %s: %v", cfg.GetMetadata().GetName(), sb.ID, err)
	}
	if err != nil {
		return nil, grpcError(fmt.Errorf("failed to create container %q in sandbox %s: %w", cfg.GetMetadata().GetName(), sb.ID, err))
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: resp.ID}, nil
}

// sandbox finds a pod sandbox's engine container by ID or prefix.
func (s *runtimeService) sandbox(ctx context.Context, id string) (*container.InspectResponse, error) {
	return s.engineContainer(ctx, id, typeSandbox, "pod sandbox")
}

// podContainer finds a pod container (not a sandbox, not a container
// made through the Docker API) by ID or prefix.
func (s *runtimeService) podContainer(ctx context.Context, id string) (*container.InspectResponse, error) {
	return s.engineContainer(ctx, id, typeContainer, "container")
}

// engineContainer finds the engine container of a CRI object of kind
// (its type label): NotFound for any other container.
func (s *runtimeService) engineContainer(ctx context.Context, id, kind, what string) (*container.InspectResponse, error) {
	if id == "" {
		return nil, status.Errorf(codes.InvalidArgument, "%s ID is required", what)
	}
	c, err := s.b.ContainerInspect(ctx, id, false)
	if err == nil && c.Config.Labels[labelType] != kind {
		err = fmt.Errorf("%s is not a %s", id, what)
	}
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "%s %s not found: %v", what, id, err)
	}
	return c, nil
}

// StartContainer starts a created container; containerd refuses any
// other state, and so does berth.
func (s *runtimeService) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if c.State.Status != container.StateCreated {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is %s, only a created container starts", c.ID, c.State.Status)
	}
	if err := s.b.ContainerStart(ctx, c.ID); err != nil {
		return nil, grpcError(fmt.Errorf("failed to start container %s: %w", c.ID, err))
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container within timeout seconds, then kills it.
// An unknown or stopped container answers success, as containerd 2; so
// does an ID that is not a pod container's (a sandbox is StopPodSandbox's).
func (s *runtimeService) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	timeout := int(req.GetTimeout())
	err = s.b.ContainerStop(ctx, c.ID, "", &timeout)
	if err != nil && !isNotFound(err) && !isNotModified(err) {
		return nil, grpcError(fmt.Errorf("failed to stop container %s: %w", c.ID, err))
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer removes a container, running or not (kubelet removes
// only stopped ones; a running one is killed first, as containerd does).
// An unknown container answers success, and so does an ID that is not a
// pod container's.
func (s *runtimeService) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if status.Code(err) == codes.NotFound {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	err = s.b.ContainerRm(ctx, c.ID, backend.ContainerRmConfig{ForceRemove: true, RemoveVolume: true})
	if err != nil && !isNotFound(err) {
		return nil, grpcError(fmt.Errorf("failed to remove container %s: %w", c.ID, err))
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// ListContainers lists pod containers, filtered by ID prefix, state,
// sandbox and labels.
func (s *runtimeService) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	labels := []string{labelType + "=" + typeContainer}
	if id := f.GetPodSandboxId(); id != "" {
		// kubelet may give a prefix; the label holds the full ID.
		sb, err := s.sandbox(ctx, id)
		if err != nil {
			return &runtimeapi.ListContainersResponse{}, nil
		}
		labels = append(labels, labelSandboxID+"="+sb.ID)
	}
	for k, v := range f.GetLabelSelector() {
		labels = append(labels, k+"="+v)
	}
	filters, _ := json.Marshal(map[string][]string{"label": labels})
	list, err := s.b.Containers(ctx, backend.ContainerListOptions{All: true, Filters: string(filters)})
	if err != nil {
		return nil, grpcError(err)
	}
	out := &runtimeapi.ListContainersResponse{}
	for _, c := range list {
		if !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		state := stateOfSummary(c.State)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		var name string
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		md, err := containerMetadata(name)
		if err != nil {
			continue // renamed through the Docker API: no longer kubelet's
		}
		l, a := splitLabels(c.Labels)
		out.Containers = append(out.Containers, &runtimeapi.Container{
			Id:           c.ID,
			PodSandboxId: c.Labels[labelSandboxID],
			Metadata:     md,
			Image:        &runtimeapi.ImageSpec{Image: c.Image},
			ImageRef:     c.ImageID,
			ImageId:      c.ImageID,
			State:        state,
			CreatedAt:    c.Created * 1e9,
			Labels:       l,
			Annotations:  a,
		})
	}
	return out, nil
}

// stateOfSummary is the CRI state of an engine state: paused and
// restarting containers are running processes to kubelet.
func stateOfSummary(s container.ContainerState) runtimeapi.ContainerState {
	switch s {
	case container.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case container.StateExited, container.StateDead, container.StateRemoving:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// UpdateContainerResources changes a container's cgroup limits.
func (s *runtimeService) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	var u container.UpdateConfig
	applyResources(&u.Resources, req.GetLinux())
	if _, err := s.b.PodContainerUpdate(ctx, c.ID, u, extraResources(req.GetLinux())); err != nil {
		return nil, grpcError(fmt.Errorf("failed to update resources of container %s: %w", c.ID, err))
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog reopens the CRI log file after kubelet rotated it;
// a container that is not running has no open file (an error, as with
// containerd).
func (s *runtimeService) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, err := s.podContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s is not running", c.ID)
	}
	if err := s.b.ContainerReopenLog(ctx, c.ID); err != nil {
		return nil, grpcError(fmt.Errorf("failed to reopen the log of container %s: %w", c.ID, err))
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
