package cri

import "testing"

// TestStatusAdvertisesRecursiveReadOnly: kubelet (and critest) use
// recursive read-only mounts only with a runtime handler that says it
// makes them; berth's default handler does, listed first, and so does
// "berth", its name (as containerd lists "" and "runc").
func TestStatusAdvertisesRecursiveReadOnly(t *testing.T) {
	rt, _ := clients(t)
	st, err := rt.Status(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := st.GetRuntimeHandlers()
	if len(hs) != 2 || hs[0].GetName() != "" || hs[1].GetName() != "berth" {
		t.Fatalf("runtime handlers %v, want the default one and berth", hs)
	}
	for _, h := range hs {
		if !h.GetFeatures().GetRecursiveReadOnlyMounts() || h.GetFeatures().GetUserNamespaces() {
			t.Fatalf("runtime handler %v, want recursive read-only mounts and no user namespaces", h)
		}
	}
}
