package cri

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// EventsBackend is what GetContainerEvents needs from the engine.
type EventsBackend interface {
	// PodEvents streams pod container and sandbox events until ctx ends;
	// the channel closes early when the reader fell too far behind.
	PodEvents(ctx context.Context) <-chan backend.PodEvent
}

var criEventTypes = map[backend.PodEventType]runtimeapi.ContainerEventType{
	backend.PodContainerCreated: runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	backend.PodContainerStarted: runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	backend.PodContainerStopped: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	backend.PodContainerDeleted: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// GetContainerEvents streams the lifecycle events of pod containers and
// sandboxes with the pod's status attached, which kubelet's evented PLEG
// writes into its cache instead of relisting.
func (s *runtimeService) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	ctx := stream.Context()
	for ev := range s.b.PodEvents(ctx) {
		resp := &runtimeapi.ContainerEventResponse{
			ContainerId:        ev.ContainerID,
			ContainerEventType: criEventTypes[ev.Type],
			CreatedAt:          ev.Time.UnixNano(),
		}
		if ev.Sandbox != nil {
			resp.PodSandboxStatus = podSandboxStatus(*ev.Sandbox)
			resp.ContainersStatuses = s.podContainerStatuses(ctx, ev.SandboxID)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The engine drops a subscriber that falls 1024 events behind rather
	// than stall: kubelet relists and subscribes again.
	return status.Error(codes.Unavailable, "the container event stream fell behind and was closed; subscribe again")
}

// podContainerStatuses are the statuses of the pod's containers as the
// container calls report them; none while those calls are not served.
func (s *runtimeService) podContainerStatuses(ctx context.Context, sandboxID string) []*runtimeapi.ContainerStatus {
	list, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: sandboxID}})
	if err != nil {
		return nil
	}
	var out []*runtimeapi.ContainerStatus
	for _, c := range list.GetContainers() {
		st, err := s.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.GetId()})
		if err == nil && st.GetStatus() != nil {
			out = append(out, st.GetStatus())
		}
	}
	return out
}
