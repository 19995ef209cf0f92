package cri

import (
	"sort"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestListContainersFilters: ID prefix, state, sandbox and label
// filters; sandboxes are never listed as containers.
func TestListContainersFilters(t *testing.T) {
	rt, _ := clients(t)
	pod1, pod2 := newTestPod(t), newTestPod(t)
	cfgA := containerConfig("a", "sleep", "1000")
	cfgA.Labels = map[string]string{"tier": "fe"}
	a := pod1.run(t, rt, cfgA)
	cfgB := containerConfig("b", "sleep", "1000")
	cfgB.Labels = map[string]string{"tier": "be"}
	b := pod1.create(t, rt, cfgB)
	c := pod2.create(t, rt, containerConfig("c", "sleep", "1000"))

	list := func(f *runtimeapi.ContainerFilter) []string {
		t.Helper()
		resp, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range resp.GetContainers() {
			if c.GetId() == pod1.ID || c.GetId() == pod2.ID {
				t.Fatalf("a sandbox is listed: %v", c)
			}
			if c.GetPodSandboxId() != pod1.ID && c.GetPodSandboxId() != pod2.ID {
				continue // another test's
			}
			ids = append(ids, c.GetId())
		}
		sort.Strings(ids)
		return ids
	}
	sorted := func(ids ...string) []string { sort.Strings(ids); return ids }
	running := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}
	created := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_CREATED}
	for name, tc := range map[string]struct {
		f    *runtimeapi.ContainerFilter
		want []string
	}{
		"all":            {nil, sorted(a, b, c)},
		"id prefix":      {&runtimeapi.ContainerFilter{Id: a[:10]}, []string{a}},
		"running":        {&runtimeapi.ContainerFilter{State: running}, []string{a}},
		"created in pod": {&runtimeapi.ContainerFilter{State: created, PodSandboxId: pod1.ID}, []string{b}},
		"pod2 prefix":    {&runtimeapi.ContainerFilter{PodSandboxId: pod2.ID[:12]}, []string{c}},
		"label":          {&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"tier": "be"}}, []string{b}},
		"label and pod":  {&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"tier": "fe"}, PodSandboxId: pod2.ID}, nil},
		"unknown pod":    {&runtimeapi.ContainerFilter{PodSandboxId: "0123456789ab"}, nil},
	} {
		if got := list(tc.f); len(got) != len(tc.want) || len(got) > 0 && !equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	resp, err := rt.ListContainers(ctxT(t), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{Id: a}})
	if err != nil || len(resp.GetContainers()) != 1 {
		t.Fatalf("%v %v", resp, err)
	}
	got := resp.GetContainers()[0]
	if got.GetMetadata().GetName() != "a" || got.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || got.GetLabels()["tier"] != "fe" || got.GetCreatedAt() == 0 || got.GetImageRef() == "" {
		t.Fatalf("listed %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
