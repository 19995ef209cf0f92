package buildkit

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// compareDockerfile uses every instruction that shapes an image's config,
// in a build that dockerd 20.10's embedded BuildKit (v0.8) also runs.
const compareDockerfile = `FROM busybox AS base
ARG VERSION=1.0
LABEL org.example.version=$VERSION "two words"="a b"
ENV PATH=/opt/bin:$PATH APP_HOME=/opt/app
WORKDIR /opt/app
COPY --chown=1000:1000 app.sh bin/
RUN chmod 0755 bin/app.sh && mkdir -p /data && echo "$VERSION" > /version
EXPOSE 8080 9090/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/opt/app/bin/app.sh", "health"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/opt/app/bin/app.sh"]
CMD ["serve"]
`

// configKeys are the image config fields both engines must agree on.
var configKeys = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"}

// builtConfig is the chosen config fields and the layer count of ref on
// the engine at host.
func builtConfig(t *testing.T, host, ref string) (map[string]any, int) {
	t.Helper()
	r := cliIn(t, "", []string{"DOCKER_HOST=" + host}, "image", "inspect", "-f", "{{json .Config}}|{{len .RootFS.Layers}}", ref)
	if r.Code != 0 {
		t.Fatalf("inspect %s on %s: %s", ref, host, r.Combined())
	}
	cfgJSON, layers, _ := strings.Cut(strings.TrimSpace(r.Out), "|")
	var all map[string]any
	if err := json.Unmarshal([]byte(cfgJSON), &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, k := range configKeys {
		out[k] = all[k]
	}
	n := 0
	for _, c := range layers {
		n = n*10 + int(c-'0')
	}
	return out, n
}

// TestConfigMatchesDockerd: the same Dockerfile built with `docker buildx
// build --load` on berthd and on Debian's dockerd (its embedded BuildKit)
// gives the same image config and layer count, and the same files.
func TestConfigMatchesDockerd(t *testing.T) {
	setup(t)
	dd := harness.StartDockerd(t)
	if dd == nil {
		return
	}
	p, _ := d.WriteTestImage(t, harness.BusyboxImage, false)
	if r := cliIn(t, "", []string{"DOCKER_HOST=" + dd.Host()}, "load", "-i", p); r.Code != 0 {
		t.Fatalf("load into dockerd: %s", r.Combined())
	}
	dir := writeContext(t, map[string]string{
		"Dockerfile": compareDockerfile,
		"app.sh":     "#!/bin/sh\necho \"app $*\"\n",
	})
	name := imageName(t)
	build := []string{"buildx", "build", "--progress=plain", "--network", "none", "--build-arg", "VERSION=2.5", "--load", "-t", name, dir}
	// buildx keeps per-endpoint state; dockerd's in a directory of its own.
	dockerdEnv := []string{"DOCKER_HOST=" + dd.Host(), "BUILDX_CONFIG=" + filepath.Join(t.TempDir(), "buildx")}
	if r := cliIn(t, "", dockerdEnv, build...); r.Code != 0 {
		t.Fatalf("build on dockerd: %s", lastLines(r.Combined(), 40))
	}
	if r := cliIn(t, "", nil, build...); r.Code != 0 {
		t.Fatalf("build on berthd: %s\n%s", lastLines(r.Combined(), 40), d.LogTail(30))
	}
	berthCfg, berthLayers := builtConfig(t, d.Host(), name)
	dockerdCfg, dockerdLayers := builtConfig(t, dd.Host(), name)
	for _, k := range configKeys {
		if !reflect.DeepEqual(berthCfg[k], dockerdCfg[k]) {
			t.Errorf("Config.%s: berthd %v, dockerd %v", k, berthCfg[k], dockerdCfg[k])
		}
	}
	if berthLayers != dockerdLayers {
		t.Errorf("layers: berthd %d, dockerd %d", berthLayers, dockerdLayers)
	}
	files := "stat -c '%a %u:%g %n' /opt/app/bin/app.sh /data; cat /version; /opt/app/bin/app.sh x"
	on := func(host string) string {
		r := cliIn(t, "", []string{"DOCKER_HOST=" + host}, "run", "--rm", "--network", "none", "--entrypoint", "sh", name, "-c", files)
		if r.Code != 0 {
			t.Fatalf("run on %s: %s", host, r.Combined())
		}
		return r.Out
	}
	if b, dk := on(d.Host()), on(dd.Host()); b != dk {
		t.Errorf("files: berthd\n%s\ndockerd\n%s", b, dk)
	}
}
