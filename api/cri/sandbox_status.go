package cri

import (
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

func podMetadata(c backend.PodSandboxConfig) *runtimeapi.PodSandboxMetadata {
	return &runtimeapi.PodSandboxMetadata{Name: c.Name, Namespace: c.Namespace, Uid: c.UID, Attempt: c.Attempt}
}

func podState(ready bool) runtimeapi.PodSandboxState {
	if ready {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// podSandboxStatus is the CRI form of a sandbox.
func podSandboxStatus(sb backend.PodSandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id:             sb.ID,
		Metadata:       podMetadata(sb.Config),
		State:          podState(sb.Ready),
		CreatedAt:      sb.Created.UnixNano(),
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Labels:         sb.Config.Labels,
		Annotations:    sb.Config.Annotations,
		RuntimeHandler: sb.Config.RuntimeHandler,
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
			Network: criNamespaceMode(sb.Config.Namespaces.Network, runtimeapi.NamespaceMode_POD),
			Pid:     criNamespaceMode(sb.Config.Namespaces.PID, runtimeapi.NamespaceMode_CONTAINER),
			Ipc:     criNamespaceMode(sb.Config.Namespaces.IPC, runtimeapi.NamespaceMode_POD),
		}}},
	}
	if len(sb.IPs) > 0 {
		st.Network.Ip = sb.IPs[0]
		for _, ip := range sb.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

func criNamespaceMode(m string, def runtimeapi.NamespaceMode) runtimeapi.NamespaceMode {
	switch m {
	case backend.NamespacePod:
		return runtimeapi.NamespaceMode_POD
	case backend.NamespaceContainer:
		return runtimeapi.NamespaceMode_CONTAINER
	case backend.NamespaceNode:
		return runtimeapi.NamespaceMode_NODE
	}
	return def
}

// podSandboxInfo is the verbose status: one "info" key holding JSON, as
// containerd's (crictl inspectp prints it).
func podSandboxInfo(sb backend.PodSandbox) map[string]string {
	info := struct {
		Pid              int             `json:"pid"`
		Image            string          `json:"image"`
		RuntimeHandler   string          `json:"runtimeHandler"`
		NetNamespacePath string          `json:"netNamespacePath,omitempty"`
		Config           json.RawMessage `json:"config,omitempty"`
	}{sb.Pid, sb.Image, sb.Config.RuntimeHandler, sb.NetnsPath, sb.Config.Original}
	b, err := json.Marshal(info)
	if err != nil {
		return nil
	}
	return map[string]string{"info": string(b)}
}
