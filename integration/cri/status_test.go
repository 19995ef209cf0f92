package cri

import "testing"

// TestStatusAdvertisesRecursiveReadOnly: kubelet (and critest) use
// recursive read-only mounts only with a runtime handler that says it
// makes them; berth's default handler does.
func TestStatusAdvertisesRecursiveReadOnly(t *testing.T) {
	rt, _ := clients(t)
	st, err := rt.Status(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := st.GetRuntimeHandlers()
	if len(hs) != 1 || hs[0].GetName() != "" || !hs[0].GetFeatures().GetRecursiveReadOnlyMounts() || hs[0].GetFeatures().GetUserNamespaces() {
		t.Fatalf("runtime handlers %v, want the default one with recursive read-only mounts and no user namespaces", hs)
	}
}
