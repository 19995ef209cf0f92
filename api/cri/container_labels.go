package cri

import (
	"fmt"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// The labels that tie engine containers to pods (daemon/backend's, as
// cri-dockerd writes them, so habits like `docker ps --filter label=...`
// carry over), and the prefix of a pod container's name.
const (
	labelType        = backend.PodContainerTypeLabel
	typeContainer    = backend.PodTypeContainer
	typeSandbox      = backend.PodTypeSandbox
	labelSandboxID   = backend.PodSandboxIDLabel
	labelLogPath     = backend.PodLogPathLabel
	annotationPrefix = backend.PodAnnotationPrefix
	namePrefix       = "k8s"
)

// isInternalLabel tells the labels berth adds from those kubelet gave.
func isInternalLabel(k string) bool {
	return k == labelType || k == labelSandboxID || k == labelLogPath || strings.HasPrefix(k, annotationPrefix)
}

// containerLabels are the engine labels of a pod container: kubelet's
// labels, its annotations under annotationPrefix, and berth's own.
func containerLabels(cfg *runtimeapi.ContainerConfig, sandboxID, logPath string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.GetLabels() {
		out[k] = v
	}
	for k, v := range cfg.GetAnnotations() {
		out[annotationPrefix+k] = v
	}
	out[labelType] = typeContainer
	out[labelSandboxID] = sandboxID
	if logPath != "" {
		out[labelLogPath] = logPath
	}
	return out
}

// splitLabels takes an engine container's labels apart into kubelet's
// labels and annotations.
func splitLabels(all map[string]string) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	for k, v := range all {
		switch {
		case strings.HasPrefix(k, annotationPrefix):
			annotations[strings.TrimPrefix(k, annotationPrefix)] = v
		case !isInternalLabel(k):
			labels[k] = v
		}
	}
	return labels, annotations
}

// containerName is k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
func containerName(c *runtimeapi.ContainerMetadata, pod *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{namePrefix, c.GetName(), pod.GetName(), pod.GetNamespace(), pod.GetUid(), strconv.FormatUint(uint64(c.GetAttempt()), 10)}, "_")
}

// containerMetadata reads the metadata back from an engine name.
func containerMetadata(name string) (*runtimeapi.ContainerMetadata, error) {
	parts := strings.Split(strings.TrimPrefix(name, "/"), "_")
	if len(parts) != 6 || parts[0] != namePrefix {
		return nil, fmt.Errorf("%q is not a pod container's name", name)
	}
	attempt, err := strconv.ParseUint(parts[5], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%q is not a pod container's name: %w", name, err)
	}
	return &runtimeapi.ContainerMetadata{Name: parts[1], Attempt: uint32(attempt)}, nil
}
