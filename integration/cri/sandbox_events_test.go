package cri

import (
	"context"
	"fmt"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerEvents: GetContainerEvents streams the created, started,
// stopped and deleted events of a pod's sandbox and containers, with the
// pod's status attached while the pod exists.
func TestContainerEvents(t *testing.T) {
	rt, _ := clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *runtimeapi.ContainerEventResponse, 100)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	// The server subscribes some time after the stream opens: events of
	// a warm-up pod show it has.
	for i := 0; ; i++ {
		warm := podConfig(t, true)
		warm.Metadata.Name += fmt.Sprintf("-warm%d", i)
		runPod(t, rt, warm)
		select {
		case <-events:
		case <-time.After(2 * time.Second):
			if i < 10 {
				continue
			}
			t.Fatal("no event for ten warm-up pods")
		}
		break
	}
	drain(events)

	id := runPod(t, rt, podConfig(t, true))
	cid := podContainer(t, d, id, "app", "exec sleep 3600")
	if _, err := rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{}
	for _, c := range []string{id, cid} {
		for _, typ := range []runtimeapi.ContainerEventType{
			runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
			runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
		} {
			want[fmt.Sprintf("%s %v", c, typ)] = true
		}
	}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended; missing %v", want)
			}
			key := fmt.Sprintf("%s %v", ev.GetContainerId(), ev.GetContainerEventType())
			delete(want, key)
			if ev.GetContainerId() == cid && ev.GetContainerEventType() == runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT {
				if ps := ev.GetPodSandboxStatus(); ps.GetId() != id || ps.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
					t.Errorf("container start event without its ready pod: %v", ps)
				}
			}
			if ev.GetCreatedAt() == 0 {
				t.Errorf("event without a time: %v", ev)
			}
		case <-timeout:
			t.Fatalf("events missing: %v", want)
		}
	}
}

// drain empties ch of what is queued now.
func drain(ch <-chan *runtimeapi.ContainerEventResponse) {
	for {
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}
