package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/daemon/backend"
)

// runtimeHandlers are the handlers a pod may name. Berth's own runtime
// makes recursive read-only binds with mount_setattr; of an --add-runtime
// binary berth does not know it. User namespaces berth does not offer
// pods.
func runtimeHandlers(hs []backend.PodRuntimeHandler) []*runtimeapi.RuntimeHandler {
	out := make([]*runtimeapi.RuntimeHandler, 0, len(hs))
	for _, h := range hs {
		out = append(out, &runtimeapi.RuntimeHandler{Name: h.Name, Features: &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: h.Builtin}})
	}
	return out
}
