package registrytest

import (
	"net/http"
	"os/exec"
	"testing"
)

func TestStartServesTheV2APIOnLoopbackAndStopEndsIt(t *testing.T) {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Skip("docker-registry is not installed")
	}
	port, err := FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + r.Addr + "/v2/")
	if err != nil {
		r.Stop()
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/v2/: %s", resp.Status)
	}
	r.Stop()
	if _, err := http.Get("http://" + r.Addr + "/v2/"); err == nil {
		t.Error("the registry still answers after Stop")
	}
}
